//! "Add to Slack": the OAuth v2 flow of a multi-workspace channel ([`OAuthFlow`]) and the
//! refresh of rotating tokens, both through `oauth.v2.access`.
//!
//! - The authorize URL is `{oauth_base_url}/oauth/v2/authorize?client_id=…&scope=…&
//!   redirect_uri=…&state=…` (the engine makes the state).
//! - The code exchange posts `code`, `client_id`, `client_secret` and `redirect_uri` to
//!   `{api_base_url}/oauth.v2.access` (the form, not HTTP Basic: Slack takes both) and keeps
//!   the bot token, the bot user, the app, the scopes and, with token rotation on, the refresh
//!   token and `expires_in`. The tenant is the team (`T…`), or the enterprise (`E…`) of an
//!   org-wide install (`is_enterprise_install`).
//! - A refresh posts `grant_type=refresh_token` and `refresh_token`; Slack answers a new
//!   access token and a new refresh token.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use switchboard_core::install::{ExposeSecret, Installation, OAuthFlow, SecretString};
use switchboard_core::{ChannelName, Result};

use crate::api::Api;
use crate::config::SlackOAuthConfig;
use crate::error_map;
use crate::wire::{ApiResponse, id_of};

/// The OAuth flow of one multi-workspace channel.
#[derive(Debug, Clone)]
pub(crate) struct Installer {
    pub(crate) channel: ChannelName,
    pub(crate) oauth: SlackOAuthConfig,
    /// The Web API client (no token: `oauth.v2.access` authenticates with the form).
    pub(crate) api: Api,
}

const METHOD: &str = "oauth.v2.access";

impl Installer {
    /// The installation an `oauth.v2.access` answer describes.
    fn installation(&self, r: ApiResponse, now: SystemTime) -> Result<Installation> {
        let Some(token) = r.access_token else {
            return Err(error_map::bad_response(METHOD, "no access_token"));
        };
        let team = id_of(r.team.as_ref()).map(str::to_owned);
        let enterprise = id_of(r.enterprise.as_ref()).map(str::to_owned);
        let tenant = if r.is_enterprise_install {
            enterprise.clone()
        } else {
            team.or(enterprise.clone())
        };
        let Some(tenant) = tenant else {
            return Err(error_map::bad_response(METHOD, "no team or enterprise id"));
        };
        let scopes = r
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut i = Installation::new(
            self.channel.clone(),
            tenant,
            SecretString::from(token.expose().to_owned()),
        )
        .with_enterprise(enterprise)
        .with_scopes(scopes)
        .with_bot(r.bot_user_id, r.bot_id)
        .with_app(r.app_id)
        .installed_at(now);
        if let (Some(refresh), Some(secs)) = (r.refresh_token, r.expires_in) {
            i = i.with_refresh(
                SecretString::from(refresh.expose().to_owned()),
                now + Duration::from_secs(secs),
            );
        }
        Ok(i)
    }

    /// Refreshes a rotating token: the installation with the new tokens (the rest kept).
    ///
    /// # Errors
    ///
    /// `Unauthenticated` when Slack refuses the refresh token (`invalid_refresh_token`), or
    /// the transport's error.
    pub(crate) async fn refresh(&self, current: &Installation) -> Result<Installation> {
        let Some(refresh) = &current.refresh_token else {
            return Ok(current.clone());
        };
        let now = SystemTime::now();
        let r = self
            .api
            .call_public(
                METHOD,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.expose_secret()),
                    ("client_id", &self.oauth.client_id),
                    ("client_secret", self.oauth.client_secret.expose()),
                ],
            )
            .await?;
        let (Some(token), Some(new_refresh), Some(secs)) =
            (r.access_token, r.refresh_token, r.expires_in)
        else {
            return Err(error_map::bad_response(
                METHOD,
                "a refresh without access_token, refresh_token or expires_in",
            ));
        };
        let mut next = current.clone();
        next.access_token = SecretString::from(token.expose().to_owned());
        next.refresh_token = Some(SecretString::from(new_refresh.expose().to_owned()));
        next.expires_at = Some(now + Duration::from_secs(secs));
        Ok(next)
    }
}

#[async_trait]
impl OAuthFlow for Installer {
    fn authorize_url(&self, state: &str) -> Result<String> {
        let mut url = url::Url::parse(&format!("{}/oauth/v2/authorize", self.oauth.oauth_base_url))
            .map_err(|e| {
                switchboard_core::Error::config(
                    self.channel.as_str(),
                    format_args!("key 'oauth_base_url': {e}"),
                )
            })?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.oauth.client_id)
            .append_pair("scope", &self.oauth.scopes.join(","))
            .append_pair("redirect_uri", &self.oauth.redirect_url)
            .append_pair("state", state);
        Ok(url.into())
    }

    async fn exchange(&self, code: &str) -> Result<Installation> {
        let r = self
            .api
            .call_public(
                METHOD,
                &[
                    ("code", code),
                    ("client_id", &self.oauth.client_id),
                    ("client_secret", self.oauth.client_secret.expose()),
                    ("redirect_uri", &self.oauth.redirect_url),
                ],
            )
            .await?;
        self.installation(r, SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::Secret;

    use super::*;

    fn installer() -> Installer {
        let oauth = SlackOAuthConfig::new(
            "1.2",
            Secret::new("cs"),
            vec!["chat:write".into(), "im:history".into()],
            "https://x.example/oauth/slack/team/callback",
        );
        Installer {
            channel: ChannelName::new("team").unwrap(),
            oauth,
            api: Api::new("http://127.0.0.1:9/api", None, Duration::from_secs(1), 1).unwrap(),
        }
    }

    #[test]
    fn the_authorize_url_carries_the_state_and_scopes() {
        let url = installer().authorize_url("n.1.sig").unwrap();
        assert_eq!(
            url,
            "https://slack.com/oauth/v2/authorize?client_id=1.2&scope=chat%3Awrite%2Cim%3Ahistory\
             &redirect_uri=https%3A%2F%2Fx.example%2Foauth%2Fslack%2Fteam%2Fcallback&state=n.1.sig"
        );
    }

    #[test]
    fn answers_become_installations_of_the_team_or_the_org() {
        let now = SystemTime::now();
        let answer = |v: serde_json::Value| serde_json::from_value::<ApiResponse>(v).unwrap();
        let i = installer()
            .installation(
                answer(serde_json::json!({"ok": true, "access_token": "xoxe.xoxb-1", "scope": "chat:write,im:history",
                    "bot_user_id": "U1", "app_id": "A1", "team": {"id": "T1"}, "enterprise": null,
                    "is_enterprise_install": false, "refresh_token": "xoxe-1-r", "expires_in": 43200})),
                now,
            )
            .unwrap();
        assert_eq!((i.tenant.as_str(), i.scopes.len()), ("T1", 2));
        assert_eq!(i.expires_at, Some(now + Duration::from_secs(43200)));
        assert_eq!(i.access_token.expose_secret(), "xoxe.xoxb-1");
        let org = installer()
            .installation(
                answer(
                    serde_json::json!({"ok": true, "access_token": "xoxb-2", "team": null,
                    "enterprise": {"id": "E1"}, "is_enterprise_install": true}),
                ),
                now,
            )
            .unwrap();
        assert_eq!(
            (org.tenant.as_str(), org.enterprise_id.as_deref()),
            ("E1", Some("E1"))
        );
        assert!(org.refresh_token.is_none() && org.expires_at.is_none());
        assert!(
            installer()
                .installation(answer(serde_json::json!({"ok": true})), now)
                .is_err()
        );
    }
}
