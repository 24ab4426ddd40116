//! Multi-workspace channels: which installation a send or an event belongs to.
//!
//! - **Conversation ids** carry the workspace: `T0123/C0456` (the rule of
//!   [`switchboard_core::install`]); an id without a prefix is the channel's default
//!   workspace (its `bot_token`, whose `team_id` must be configured), and without one it is a
//!   `NotInstalled` error.
//! - **Sends** (and edits, deletes, reactions, reconciliation, uploads, downloads of a
//!   tenant's file) look the installation up in the store for every call, so an uninstall on
//!   any instance stops them at once: a send for a removed installation fails with
//!   `NotInstalled`, `Retry::Never`.
//! - **Rotating tokens** are refreshed `refresh_before` their expiry by one caller across all
//!   instances (a lease in the store); the others keep using the current token while it lives,
//!   or wait briefly for the new one. A send refused with `token_expired` is `Retry::Safe`:
//!   nothing was posted, and the next attempt refreshes first.
//! - **Events** are routed by `team_id`, then `enterprise_id` (org-wide installs); the app is
//!   checked against `app_id` before (`handle_webhook`). An event of a workspace with no
//!   installation is *acknowledged and dropped* (HTTP 200, `foreign_tenant` in the metrics,
//!   a warning naming the workspace): Slack retries any other answer three times and disables
//!   an app's event subscriptions when most deliveries fail, so refusing with a 4xx would risk
//!   every workspace's events for one stale one. It is never given to another workspace.
//!   `app_uninstalled` and `tokens_revoked` (bot tokens) remove the installation before the
//!   event is stored (the application still receives it).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use switchboard_core::install::{Installation, Installations, tenant_conversation, tenant_of};
use switchboard_core::{
    ConversationId, Error, ErrorKind, EventKind, InboundEvent, RejectReason, Result, Retry, Secret,
    WebhookOutcome, WebhookResponse,
};

use crate::PROVIDER;
use crate::adapter::SlackAdapter;
use crate::api::Api;

/// How long one refresh may hold the lease before another caller may try.
const REFRESH_LEASE: Duration = Duration::from_secs(30);
/// How often, and how far apart, a caller waits for another's refresh.
const REFRESH_WAITS: u32 = 50;
const REFRESH_WAIT: Duration = Duration::from_millis(100);

/// The error of a call with no workspace to act in.
pub(crate) fn no_workspace() -> Error {
    Error::new(
        ErrorKind::NotInstalled,
        "slack: no workspace token for this conversation (a multi-workspace channel's ids are \
         T…/C…, and it has no default bot_token)",
    )
    .with_provider(PROVIDER)
}

fn not_installed(channel: &str, tenant: &str) -> Error {
    Error::new(
        ErrorKind::NotInstalled,
        format!("slack: workspace {tenant} has no installation on channel '{channel}'"),
    )
    .with_provider(PROVIDER)
}

/// Where a call goes: the client with the workspace's token, the native conversation id, and
/// the bot's id in that workspace (reconciliation reads it).
pub(crate) struct Target {
    pub(crate) api: Api,
    pub(crate) native: String,
    pub(crate) bot_id: Option<String>,
}

/// The workspace ids a request names: `team_id` / `team.id`, `enterprise_id` /
/// `enterprise.id`, and the tokens an `tokens_revoked` event lists.
fn ids_of(raw: &Value) -> (Option<&str>, Option<&str>) {
    let pick = |flat: &str, nested: &str| {
        raw.get(flat)
            .and_then(Value::as_str)
            .or_else(|| {
                raw.get(nested)
                    .and_then(|t| t.get("id"))
                    .and_then(Value::as_str)
            })
            .filter(|s| !s.is_empty())
    };
    (pick("team_id", "team"), pick("enterprise_id", "enterprise"))
}

/// The Events API type of `raw`'s event, if it is an event callback.
fn event_type(raw: &Value) -> Option<&str> {
    raw.get("event")?.get("type")?.as_str()
}

impl SlackAdapter {
    /// Whether the channel serves installed workspaces.
    pub(crate) fn multi_workspace(&self) -> bool {
        self.config.oauth.is_some()
    }

    fn installs(&self) -> Result<&Arc<dyn Installations>> {
        self.installations.get().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "slack: channel '{}' is multi-workspace but the engine gave it no \
                     installations ([installs] keys)",
                    self.info.channel
                ),
            )
        })
    }

    /// The client, native id and bot of `conversation`.
    pub(crate) async fn target(&self, conversation: &str) -> Result<Target> {
        let default = || Target {
            api: self.api.clone(),
            native: conversation.to_owned(),
            bot_id: self.bot_identity().bot_id,
        };
        if !self.multi_workspace() {
            return Ok(default());
        }
        let (Some(tenant), native) = tenant_of(conversation) else {
            return match self.api.token() {
                Some(_) => Ok(default()),
                None => Err(no_workspace()),
            };
        };
        let installs = self.installs()?;
        let channel = &self.info.channel;
        let Some(found) = installs.get(channel, tenant).await? else {
            return Err(not_installed(channel.as_str(), tenant));
        };
        let fresh = self.fresh(installs.as_ref(), found).await?;
        let token = Secret::new(
            switchboard_core::install::ExposeSecret::expose_secret(&fresh.access_token).to_owned(),
        );
        Ok(Target {
            api: self.api.with_token(token),
            native: native.to_owned(),
            bot_id: fresh.bot_id.clone(),
        })
    }

    /// `current`, or its refreshed successor when its token expires within `refresh_before`.
    async fn fresh(
        &self,
        installs: &dyn Installations,
        current: Installation,
    ) -> Result<Installation> {
        let (Some(oauth), Some(installer)) = (&self.config.oauth, &self.installer) else {
            return Ok(current);
        };
        let now = SystemTime::now();
        if current.refresh_token.is_none() || !current.expires_within(oauth.refresh_before, now) {
            return Ok(current);
        }
        let channel = &self.info.channel;
        let tenant = current.tenant.clone();
        if installs
            .claim_refresh(channel, &tenant, now, REFRESH_LEASE)
            .await?
        {
            match installer.refresh(&current).await {
                Ok(next) => {
                    installs.put(&next).await?;
                    tracing::info!(channel = %channel, tenant, "slack: token refreshed");
                    return Ok(next);
                }
                Err(e) => {
                    tracing::warn!(channel = %channel, tenant, error = %e, "slack: token refresh failed");
                    if current.expires_at.is_some_and(|at| at > SystemTime::now()) {
                        return Ok(current);
                    }
                    return Err(e);
                }
            }
        }
        // Another caller refreshes: the current token while it lives, else theirs.
        let mut seen = current;
        for _ in 0..REFRESH_WAITS {
            if seen
                .expires_at
                .is_some_and(|at| at > SystemTime::now() + REFRESH_WAIT)
            {
                return Ok(seen);
            }
            tokio::time::sleep(REFRESH_WAIT).await;
            seen = match installs.get(channel, &tenant).await? {
                Some(i) => i,
                None => return Err(not_installed(channel.as_str(), &tenant)),
            };
        }
        Err(Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "slack: the token of workspace {tenant} expired and its refresh is still running"
            ),
        )
        .with_retry(Retry::Safe)
        .with_provider(PROVIDER))
    }

    /// See [`Adapter::admit_webhook`](switchboard_core::Adapter::admit_webhook) and the module
    /// docs.
    pub(crate) async fn admit(&self, outcome: WebhookOutcome) -> WebhookOutcome {
        if !self.multi_workspace() {
            return outcome;
        }
        let WebhookOutcome::Accepted { response, events } = outcome else {
            return outcome;
        };
        let installs = match self.installs() {
            Ok(i) => i,
            Err(e) => return unavailable(&e),
        };
        let mut kept = Vec::with_capacity(events.len());
        for ev in events {
            match self.route_event(installs.as_ref(), ev).await {
                Ok(Some(ev)) => kept.push(ev),
                Ok(None) => {}
                Err(Routed::Unknown(tenant)) => {
                    tracing::warn!(channel = %self.info.channel, tenant, "slack: event of a workspace with no installation dropped");
                    return WebhookOutcome::reject(
                        RejectReason::ForeignTenant,
                        format!("workspace {tenant} has no installation on this channel"),
                    );
                }
                Err(Routed::Failed(e)) => return unavailable(&e),
            }
        }
        WebhookOutcome::Accepted {
            response,
            events: kept,
        }
    }

    /// The event with its conversation prefixed by its workspace; `None` to drop it (our own
    /// bot's message).
    async fn route_event(
        &self,
        installs: &dyn Installations,
        mut ev: InboundEvent,
    ) -> std::result::Result<Option<InboundEvent>, Routed> {
        let channel = &self.info.channel;
        let (team, enterprise) = ids_of(&ev.raw);
        let (team, enterprise) = (team.map(str::to_owned), enterprise.map(str::to_owned));
        let revoked_bot = event_type(&ev.raw) == Some("tokens_revoked")
            && ev.raw["event"]["tokens"]["bot"]
                .as_array()
                .is_some_and(|b| !b.is_empty());
        if event_type(&ev.raw) == Some("app_uninstalled") || revoked_bot {
            for tenant in [&team, &enterprise].into_iter().flatten() {
                match installs.remove(channel, tenant).await {
                    Ok(true) => {
                        tracing::info!(channel = %channel, tenant, "slack: installation removed")
                    }
                    Ok(false) => {}
                    Err(e) => return Err(Routed::Failed(e)),
                }
            }
            let tenant = team.clone().or(enterprise.clone());
            prefix(&mut ev, tenant.as_deref());
            return Ok(Some(ev));
        }
        let mut found = None;
        for tenant in [&team, &enterprise].into_iter().flatten() {
            match installs.get(channel, tenant).await {
                Ok(Some(i)) => {
                    found = Some(i);
                    break;
                }
                Ok(None) => {}
                Err(e) => return Err(Routed::Failed(e)),
            }
        }
        let Some(installation) = found else {
            // The default workspace (bot_token with its team_id) keeps unprefixed ids.
            if self.api.token().is_some()
                && team.is_some()
                && team.as_deref() == self.config.team_id.as_deref()
            {
                return Ok(Some(ev));
            }
            return Err(Routed::Unknown(
                team.or(enterprise).unwrap_or_else(|| "(none)".to_owned()),
            ));
        };
        let ours = installation.bot_user_id.as_deref() == Some(ev.sender.id.as_str())
            || ev.raw["event"]["bot_id"]
                .as_str()
                .is_some_and(|b| installation.bot_id.as_deref() == Some(b));
        if ours {
            return Ok(None);
        }
        prefix(&mut ev, Some(&installation.tenant));
        Ok(Some(ev))
    }
}

/// Why an event was not admitted.
enum Routed {
    /// No installation for this workspace.
    Unknown(String),
    /// The store failed.
    Failed(Error),
}

fn prefix(ev: &mut InboundEvent, tenant: Option<&str>) {
    let native = ev.conversation.conversation.as_str();
    if let Ok(id) = ConversationId::new(tenant_conversation(tenant, native)) {
        ev.conversation.conversation = id;
    }
    // A file names its workspace the same way (`T0123/F0456`), so that `fetch_attachment`
    // downloads it with that workspace's token.
    if let (Some(tenant), EventKind::Message(m)) = (tenant, &mut ev.kind) {
        for a in &mut m.attachments {
            if let Some(id) = a.provider_id.take() {
                a.provider_id = Some(tenant_conversation(Some(tenant), &id));
            }
        }
    }
}

/// 503: the store did not answer; Slack delivers the event again.
fn unavailable(e: &Error) -> WebhookOutcome {
    tracing::error!(error = %e, "slack: installations unavailable");
    WebhookOutcome::Accepted {
        response: WebhookResponse {
            status: http::StatusCode::SERVICE_UNAVAILABLE,
            content_type: Some("text/plain; charset=utf-8"),
            body: bytes::Bytes::from_static(b"installations unavailable, retry later"),
        },
        events: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
