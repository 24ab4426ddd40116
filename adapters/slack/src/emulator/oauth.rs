//! Installations in the emulator: `GET /oauth/v2/authorize` (the user approves at once, as the
//! workspace [`Emulator::approve_as`](super::Emulator::approve_as) names), `oauth.v2.access`
//! (a code exchange, or `grant_type=refresh_token` with rotation: `xoxe.xoxb-` tokens with
//! `expires_in` and single-use refresh tokens), and the token of every Web API call checked
//! against the tokens handed out (expired: `token_expired`; revoked: `token_revoked`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::handlers::Reply;
use super::methods::str_arg;

/// A workspace that can install the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// `T…`.
    pub team_id: String,
    /// The bot user in it (`U…`).
    pub bot_user_id: String,
    /// The bot (`B…`).
    pub bot_id: String,
}

impl Workspace {
    /// A workspace `team_id` with bot ids derived from it.
    pub fn new(team_id: &str) -> Self {
        Workspace {
            team_id: team_id.to_owned(),
            bot_user_id: format!("U{team_id}BOT"),
            bot_id: format!("B{team_id}BOT"),
        }
    }
}

/// An access token handed out.
#[derive(Debug, Clone)]
struct Grant {
    team_id: String,
    expires_at: Option<SystemTime>,
    revoked: bool,
}

/// The emulator's OAuth state.
#[derive(Debug, Default)]
pub(crate) struct OAuthState {
    /// The workspace the next authorize approves as.
    pub(crate) approve_as: Option<Workspace>,
    codes: HashMap<String, Workspace>,
    access: HashMap<String, Grant>,
    /// Refresh token → workspace (single use).
    refresh: HashMap<String, Workspace>,
    counter: u64,
    /// Successful refreshes.
    pub(crate) refreshes: u64,
}

/// What a token is worth: the workspace it acts in, or the Slack error refusing it.
pub(crate) enum TokenCheck {
    Valid(String),
    Refused(&'static str),
    Unknown,
}

impl OAuthState {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh code for `ws`.
    pub(crate) fn issue_code(&mut self, ws: Workspace) -> String {
        let code = format!("code-{}-{}", ws.team_id, self.next());
        self.codes.insert(code.clone(), ws);
        code
    }

    /// The workspace of a token handed out here.
    pub(crate) fn check(&self, token: &str, now: SystemTime) -> TokenCheck {
        match self.access.get(token) {
            None => TokenCheck::Unknown,
            Some(g) if g.revoked => TokenCheck::Refused("token_revoked"),
            Some(g) if g.expires_at.is_some_and(|at| at <= now) => {
                TokenCheck::Refused("token_expired")
            }
            Some(g) => TokenCheck::Valid(g.team_id.clone()),
        }
    }

    /// Revokes every token of `team_id`; how many.
    pub(crate) fn revoke(&mut self, team_id: &str) -> usize {
        self.refresh.retain(|_, ws| ws.team_id != team_id);
        let mut n = 0;
        for g in self.access.values_mut().filter(|g| g.team_id == team_id) {
            g.revoked = true;
            n += 1;
        }
        n
    }

    /// New tokens for `ws`: rotating ones when `lifetime` is set.
    fn grant(
        &mut self,
        ws: &Workspace,
        lifetime: Option<Duration>,
        now: SystemTime,
    ) -> Map<String, Value> {
        let n = self.next();
        let mut body = Map::new();
        let access = match lifetime {
            Some(_) => format!("xoxe.xoxb-{}-{n}", ws.team_id),
            None => format!("xoxb-{}-{n}", ws.team_id),
        };
        self.access.insert(
            access.clone(),
            Grant {
                team_id: ws.team_id.clone(),
                expires_at: lifetime.map(|l| now + l),
                revoked: false,
            },
        );
        body.insert("access_token".into(), json!(access));
        if let Some(l) = lifetime {
            let refresh = format!("xoxe-1-{}-{n}", ws.team_id);
            self.refresh.insert(refresh.clone(), ws.clone());
            body.insert("refresh_token".into(), json!(refresh));
            body.insert("expires_in".into(), json!(l.as_secs()));
        }
        body
    }

    /// `oauth.v2.access`.
    pub(crate) fn access(
        &mut self,
        args: &Map<String, Value>,
        client: (&str, &str),
        scopes: &str,
        app_id: &str,
        lifetime: Option<Duration>,
        now: SystemTime,
    ) -> Reply {
        let (id, secret) = (str_arg(args, "client_id"), str_arg(args, "client_secret"));
        if id.as_deref() != Some(client.0) {
            return Reply::error("invalid_client_id");
        }
        if secret.as_deref() != Some(client.1) {
            return Reply::error("bad_client_secret");
        }
        if str_arg(args, "grant_type").as_deref() == Some("refresh_token") {
            let Some(ws) = str_arg(args, "refresh_token").and_then(|t| self.refresh.remove(&t))
            else {
                return Reply::error("invalid_refresh_token");
            };
            self.refreshes += 1;
            let mut body = self.grant(&ws, lifetime, now);
            body.insert("ok".into(), json!(true));
            body.insert("token_type".into(), json!("bot"));
            return Reply::ok(Value::Object(body));
        }
        let Some(ws) = str_arg(args, "code").and_then(|c| self.codes.remove(&c)) else {
            return Reply::error("invalid_code");
        };
        let mut body = self.grant(&ws, lifetime, now);
        for (k, v) in [
            ("ok", json!(true)),
            ("token_type", json!("bot")),
            ("scope", json!(scopes)),
            ("bot_user_id", json!(ws.bot_user_id)),
            ("bot_id", json!(ws.bot_id)),
            ("app_id", json!(app_id)),
            ("team", json!({"id": ws.team_id, "name": ws.team_id})),
            ("enterprise", Value::Null),
            ("is_enterprise_install", json!(false)),
            ("authed_user", json!({"id": "U0INSTALLER"})),
        ] {
            body.insert(k.into(), v);
        }
        Reply::ok(Value::Object(body))
    }
}
