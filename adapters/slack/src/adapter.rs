//! `SlackAdapter`: the [`Adapter`] implementation, its capabilities and the bot identity.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use async_trait::async_trait;
use switchboard_core::adapter::unsupported;
use switchboard_core::model::{AttachmentKind, InboundAttachment};
use switchboard_core::{
    Adapter, AdapterInfo, AttachmentCapabilities, Capabilities, ChannelName, ChannelTable,
    ConversationRef, FetchedAttachment, LengthUnit, MarkdownDialect, MessageRef, OutboundMessage,
    Result, SendReceipt, SentMessage, TextLimit, WebhookOutcome, WebhookRequest,
};

use crate::PROVIDER;
use crate::api::Api;
use crate::config::SlackConfig;
use crate::signature::{SigningKey, signing_key};
use crate::webhook::{self, Inbound, LoopGuard};

/// Longest text of one Slack message this adapter sends (Slack truncates at 40,000 and
/// `chat.update` refuses more than 4,000).
pub const MAX_TEXT_CHARS: usize = 4000;

/// Hosts (and their subdomains) that receive the bot token when downloading files, over https.
const SLACK_FILE_HOSTS: &[&str] = &["slack.com", "slack-edge.com"];

/// What a Slack channel can do: 4,000 characters of mrkdwn per message, 25 buttons (link
/// buttons too), no native quick replies (they become buttons, see the crate docs), images by
/// URL and any file as bytes (10 per message), threads, edits, deletes and reactions;
/// ambiguous sends can be reconciled (the outbox key travels as message metadata); no typing
/// indicator and no delivery receipts.
pub fn capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: MAX_TEXT_CHARS,
            unit: LengthUnit::Chars,
        },
        markdown: MarkdownDialect::SlackMrkdwn,
        max_buttons: crate::render::MAX_ACTIONS,
        link_buttons: true,
        max_quick_replies: 0,
        attachments: AttachmentCapabilities {
            kinds: vec![
                AttachmentKind::Image,
                AttachmentKind::Audio,
                AttachmentKind::Video,
                AttachmentKind::File,
            ],
            max_per_message: 10,
            by_url: true,
            by_bytes: true,
        },
        threads: true,
        edit: true,
        delete: true,
        reactions: true,
        reconcile: true,
        ..Capabilities::default()
    }
}

/// The bot's own ids, from the configuration or learned with `auth.test`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotIdentity {
    /// The bot user (`U…`).
    pub user_id: Option<String>,
    /// The bot (`B…`).
    pub bot_id: Option<String>,
}

/// The Slack adapter for one channel: one bot token in one workspace, or (with `client_id`)
/// every workspace that installed the app (see the crate docs, "Multi-workspace").
pub struct SlackAdapter {
    pub(crate) info: AdapterInfo,
    pub(crate) config: SlackConfig,
    pub(crate) api: Api,
    pub(crate) learned: RwLock<Option<BotIdentity>>,
    pub(crate) dm_channels: Mutex<HashMap<String, String>>,
    /// The signing secret's HMAC key, for webhook verification.
    pub(crate) signing_key: SigningKey,
    /// A multi-workspace channel's OAuth flow.
    pub(crate) installer: Option<crate::install::Installer>,
    /// The engine's installations (multi-workspace channels; see `tenancy`).
    pub(crate) installations: OnceLock<Arc<dyn switchboard_core::Installations>>,
}

impl std::fmt::Debug for SlackAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackAdapter")
            .field("channel", &self.info.channel)
            .field("config", &self.config)
            .finish()
    }
}

impl SlackAdapter {
    /// An adapter serving `channel` with `config`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for a multi-workspace channel with a default `bot_token` but no
    /// `team_id` (its events could not be told apart from uninstalled workspaces'); the error
    /// of building the HTTP client (mapped in `error_map`), which happens only when the TLS
    /// backend cannot start.
    pub fn new(channel: ChannelName, config: SlackConfig) -> Result<Self> {
        if config.oauth.is_some() && config.bot_token.is_some() && config.team_id.is_none() {
            return Err(switchboard_core::Error::config(
                channel.as_str(),
                "key 'team_id': a multi-workspace channel with a default bot_token names that \
                 workspace's team_id",
            ));
        }
        let api = Api::new(
            &config.api_base_url,
            config.bot_token.clone(),
            config.timeout,
            config.max_media_bytes,
        )?;
        let signing_key = signing_key(config.signing_secret.expose());
        let installer = config
            .oauth
            .clone()
            .map(|oauth| -> Result<crate::install::Installer> {
                Ok(crate::install::Installer {
                    channel: channel.clone(),
                    oauth,
                    api: Api::new(&config.api_base_url, None, config.timeout, 0)?,
                })
            })
            .transpose()?;
        Ok(SlackAdapter {
            info: AdapterInfo::new(PROVIDER, channel, capabilities()),
            config,
            api,
            learned: RwLock::new(None),
            dm_channels: Mutex::new(HashMap::new()),
            signing_key,
            installer,
            installations: OnceLock::new(),
        })
    }

    /// Builds from a `[channels.NAME]` table with `provider = "slack"` (see [`SlackConfig`]).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the table is not a valid Slack
    /// configuration (see [`SlackConfig::from_table`]).
    pub fn from_table(mut table: ChannelTable) -> Result<Self> {
        let config = SlackConfig::from_table(&mut table)?;
        let channel = table.channel().clone();
        table.finish()?;
        SlackAdapter::new(channel, config)
    }

    /// The configuration.
    pub fn config(&self) -> &SlackConfig {
        &self.config
    }

    /// The bot's ids as the loop guard sees them now: configured values win over learned ones.
    pub fn bot_identity(&self) -> BotIdentity {
        let learned = self
            .learned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        BotIdentity {
            user_id: self.config.bot_user_id.clone().or(learned.user_id),
            bot_id: self.config.bot_id.clone().or(learned.bot_id),
        }
    }

    /// Calls `auth.test` and remembers the bot's `user_id` and `bot_id` for the loop guard.
    ///
    /// `send` does this by itself on first use when the configuration lacks `bot_user_id` or
    /// `bot_id`; call it at startup to have the guard complete before the first event arrives.
    ///
    /// # Errors
    ///
    /// The error of `auth.test`: `Unauthenticated` for a refused token, `Transport` or `Timeout`
    /// when Slack cannot be reached.
    pub async fn connect(&self) -> Result<BotIdentity> {
        let r = self
            .api
            .call_json("auth.test", &serde_json::json!({}))
            .await?;
        let id = BotIdentity {
            user_id: r.user_id,
            bot_id: r.bot_id,
        };
        *self.learned.write().unwrap_or_else(PoisonError::into_inner) = Some(id);
        Ok(self.bot_identity())
    }

    /// Learns the identity once, when the configuration does not give it; failures are logged
    /// and retried on the next send, never fail the send.
    pub(crate) async fn learn_identity(&self) {
        let known = self.config.bot_user_id.is_some() && self.config.bot_id.is_some();
        let learned = self
            .learned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if known || learned || self.api.token().is_none() {
            return;
        }
        if let Err(e) = self.connect().await {
            tracing::warn!(channel = %self.info.channel, error = %e, "slack: auth.test failed; loop guard uses configured values only");
        }
    }

    fn guard(&self) -> LoopGuard {
        let id = self.bot_identity();
        LoopGuard {
            bot_user_id: id.user_id,
            bot_id: id.bot_id,
            ignore_other_bots: self.config.ignore_other_bots,
        }
    }

    /// Whether `url` is served by Slack (or by the configured API host, e.g. an emulator), so the
    /// bot token may go with it.
    pub(crate) fn is_slack_file_host(&self, url: &url::Url) -> bool {
        if switchboard_core::adapter::is_provider_host(url.as_str(), SLACK_FILE_HOSTS) {
            return true;
        }
        url::Url::parse(self.api.base()).is_ok_and(|base| {
            url.host_str().is_some()
                && base.host_str() == url.host_str()
                && base.port_or_known_default() == url.port_or_known_default()
        })
    }
}

#[async_trait]
impl Adapter for SlackAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Slack's guidance for `chat.postMessage`: about one message per second per channel, with
    /// short bursts allowed. A Slack conversation is a channel (threads share it), so: 1/s per
    /// conversation with a burst of 3, no workspace-wide limit.
    fn rate_hint(&self) -> switchboard_core::RateHint {
        switchboard_core::RateHint {
            per_second: None,
            burst: None,
            per_conversation_per_second: Some(1.0),
            per_conversation_burst: Some(3),
        }
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        self.send_message(to, message).await
    }

    async fn edit(&self, target: &MessageRef, message: &OutboundMessage) -> Result<SentMessage> {
        self.edit_message(target, message).await
    }

    async fn delete(&self, target: &MessageRef) -> Result<()> {
        self.delete_message(target).await
    }

    async fn react(&self, target: &MessageRef, reaction: &str, add: bool) -> Result<()> {
        self.react_to(target, reaction, add).await
    }

    /// `auth.test`, the call [`SlackAdapter::connect`] makes: it also remembers the bot's ids
    /// for the loop guard. A refused token (`invalid_auth`, `token_revoked`…) is
    /// `Unauthenticated`; no connection is `Transport`.
    ///
    /// A multi-workspace channel without a default `bot_token` has no token of its own to
    /// prove (each workspace's comes with its installation): `Unsupported`.
    async fn verify_credentials(&self) -> Result<()> {
        if self.api.token().is_none() {
            return Err(unsupported(
                &self.info,
                "verify_credentials without a default bot_token",
            ));
        }
        self.connect().await.map(|_| ())
    }

    /// The configured `timeout` of one Web API request. A send of several parts makes several
    /// requests, but each part is looked up by its own metadata, so the last attempt's request
    /// is what can still be in flight.
    fn send_timeout(&self) -> std::time::Duration {
        self.config.timeout
    }

    /// Looks the outbox key up in the message metadata of the conversation (or thread) history:
    /// see the crate docs for how exact that is and what it costs.
    async fn reconcile(
        &self,
        key: &switchboard_core::OutboxKey,
        pending: &switchboard_core::PendingSend,
    ) -> Result<switchboard_core::Reconciled> {
        self.reconcile_send(key, pending).await
    }

    async fn fetch_attachment(&self, attachment: &InboundAttachment) -> Result<FetchedAttachment> {
        let Some(raw) = attachment.url.as_deref() else {
            return Err(unsupported(&self.info, "fetch_attachment without a URL"));
        };
        // On a multi-workspace channel the file's id names its workspace (`T0123/F0456`, set on
        // admission): downloaded with that installation's token, never another's.
        let target = match attachment.provider_id.as_deref() {
            Some(id) if self.multi_workspace() => Some(self.target(id).await?),
            _ => None,
        };
        let api = target.as_ref().map_or(&self.api, |t| &t.api);
        api.download(raw, &|u: &url::Url| self.is_slack_file_host(u))
            .await
    }

    fn precheck_webhook(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
    ) -> Option<switchboard_core::Rejection> {
        webhook::precheck(method, headers)
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        let inbound = Inbound {
            channel: &self.info.channel,
            signing_key: &self.signing_key,
            guard: self.guard(),
            // A multi-workspace channel routes by workspace in `admit_webhook` instead.
            team_id: if self.multi_workspace() {
                None
            } else {
                self.config.team_id.as_deref()
            },
            app_id: self.config.app_id.as_deref(),
        };
        webhook::handle(&inbound, request)
    }

    fn attach_installations(&self, installations: Arc<dyn switchboard_core::Installations>) {
        // Only the first call counts: the engine hands them over once.
        let _ = self.installations.set(installations);
    }

    /// Multi-workspace channels: routes each event to its workspace's installation, drops
    /// events of workspaces without one, removes uninstalled ones (see the crate docs).
    async fn admit_webhook(&self, outcome: WebhookOutcome) -> WebhookOutcome {
        self.admit(outcome).await
    }

    fn oauth(&self) -> Option<&dyn switchboard_core::OAuthFlow> {
        self.installer
            .as_ref()
            .map(|i| i as &dyn switchboard_core::OAuthFlow)
    }
}
