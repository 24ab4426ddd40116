//! `WebchatAdapter`: the [`Adapter`] implementation and its capabilities.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::model::time::to_millis;
use switchboard_core::{
    Adapter, AdapterInfo, AttachmentCapabilities, Capabilities, ChannelName, ChannelTable,
    ConversationRef, Error, LengthUnit, MarkdownDialect, MessageId, MessageRef, OutboundMessage,
    Result, SendReceipt, SentMessage, TextLimit, WebhookOutcome, WebhookRequest,
};

use crate::PROVIDER;
use crate::config::WebchatConfig;
use crate::error::WebchatError;
use crate::limit::Limits;
use crate::log::{ConversationLog, MemoryLog};
use crate::render::{WebchatPlan, author, plan};
use crate::reply::Handled;
use crate::session::SessionIssuer;
use crate::token::{SessionClaims, TokenKey, UploadClaims};
use crate::webhook::Endpoint;
use crate::wire::{
    Author, Event, MessageEvent, Role, SessionRequest, SessionResponse, TypingEvent,
};

/// Longest text of one `message` record this adapter sends, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Most buttons on one message.
pub const MAX_BUTTONS: usize = 10;
/// Most quick replies on one message.
pub const MAX_QUICK_REPLIES: usize = 10;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;

/// What a web chat channel can do: 4,096 characters of CommonMark per message, 10 buttons
/// (postback and link) and 10 quick replies kept native, attachments of every kind by URL (10
/// per message, by URL or as bytes the log keeps as files), edits, deletes, typing and read
/// receipts. Sends are idempotent (the log keeps one record per outbox key). No reactions, no
/// threads.
pub fn capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: MAX_TEXT_CHARS,
            unit: LengthUnit::Chars,
        },
        markdown: MarkdownDialect::CommonMark,
        max_buttons: MAX_BUTTONS,
        link_buttons: true,
        max_quick_replies: MAX_QUICK_REPLIES,
        attachments: AttachmentCapabilities::all(MAX_ATTACHMENTS),
        edit: true,
        delete: true,
        typing: true,
        receipts: true,
        idempotent_sends: true,
        ..Capabilities::default()
    }
}

/// The web chat adapter for one channel: its sessions, the decoding of visitors' requests,
/// and sends into the conversation log.
pub struct WebchatAdapter {
    info: AdapterInfo,
    config: WebchatConfig,
    key: TokenKey,
    log: Arc<dyn ConversationLog>,
    limits: Limits,
}

impl std::fmt::Debug for WebchatAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebchatAdapter")
            .field("channel", &self.info.channel)
            .field("config", &self.config)
            .field("key", &self.key)
            .field("log", &self.log)
            .field("limits", &self.limits)
            .finish()
    }
}

impl WebchatAdapter {
    /// An adapter serving `channel` with `config`, a [`MemoryLog`] and a token key derived
    /// from `token_secret`, or random without one (the engine replaces the log and a random
    /// key with durable ones: [`with_log`](Self::with_log),
    /// [`with_token_key`](Self::with_token_key)).
    ///
    /// # Errors
    ///
    /// `Transport` when the operating system gives no randomness for the key.
    pub fn new(channel: ChannelName, config: WebchatConfig) -> Result<Self> {
        Ok(WebchatAdapter {
            info: AdapterInfo::new(PROVIDER, channel, capabilities()),
            limits: Limits::new(config.visitor_rate),
            key: match &config.token_secret {
                Some(secret) => TokenKey::from_secret(secret),
                None => TokenKey::random()?,
            },
            config,
            log: Arc::new(MemoryLog::new()),
        })
    }

    /// Builds from a `[channels.NAME]` table with `provider = "webchat"` (see
    /// [`WebchatConfig`]).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key (see [`WebchatConfig::from_table`]).
    pub fn from_table(mut table: ChannelTable) -> Result<Self> {
        let config = WebchatConfig::from_table(&mut table)?;
        let channel = table.channel().clone();
        table.finish()?;
        WebchatAdapter::new(channel, config)
    }

    /// Signs tokens with `key` (a durable key makes tokens survive restarts and work on every
    /// instance).
    pub fn with_token_key(mut self, key: TokenKey) -> Self {
        self.key = key;
        self
    }

    /// Sends into `log` instead of the in-memory one.
    pub fn with_log(mut self, log: Arc<dyn ConversationLog>) -> Self {
        self.log = log;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WebchatConfig {
        &self.config
    }

    /// The conversation log sends go to.
    pub fn log(&self) -> &Arc<dyn ConversationLog> {
        &self.log
    }

    fn endpoint(&self, peer: Option<IpAddr>) -> Endpoint<'_> {
        Endpoint {
            channel: &self.info.channel,
            config: &self.config,
            key: &self.key,
            limits: &self.limits,
            peer,
        }
    }

    /// Answers a request to `/webchat/{channel}/…`: `OPTIONS` preflights, `POST sessions`,
    /// `messages`, `typing` and `read`, with the protocol's statuses and headers. No I/O: store
    /// [`Handled::events`] (and append [`Handled::echo`]) before sending the reply. Requests
    /// of one visitor are limited to `visitor_rate` (429 with `Retry-After`).
    pub fn handle(&self, request: &WebhookRequest) -> Handled {
        self.endpoint(None).handle(request)
    }

    /// [`handle`](Self::handle) for a client at `peer` (the address the server trusts, after
    /// its proxies): new sessions are also capped per address (10 a minute, burst 20).
    pub fn handle_from(&self, request: &WebhookRequest, peer: IpAddr) -> Handled {
        self.endpoint(Some(peer)).handle(request)
    }

    /// Answers `POST sessions` at `now` (what [`handle`](Self::handle) does for that path).
    ///
    /// # Errors
    ///
    /// The protocol's refusal: `bad_user_hash`, `identity_required`, a token that is expired,
    /// foreign or not valid, `invalid_request`.
    pub fn open_session(
        &self,
        request: &SessionRequest,
        now: SystemTime,
    ) -> std::result::Result<SessionResponse, WebchatError> {
        SessionIssuer {
            channel: self.info.channel.as_str(),
            config: &self.config,
            key: &self.key,
        }
        .open(request, now)
    }

    /// The origin check and the session of a request (bearer token, or `?token=` on a
    /// `GET`): what the engine's `GET events`, `GET messages` and upload routes call first.
    ///
    /// # Errors
    ///
    /// `origin_not_allowed`, `missing_token`, `bad_token`, `foreign_token`, `token_expired`.
    pub fn authorize(
        &self,
        request: &WebhookRequest,
    ) -> std::result::Result<SessionClaims, WebchatError> {
        self.endpoint(None).authorize(request)
    }

    /// Counts one request of the visitor of `conversation` at `now` against `visitor_rate`
    /// (what `messages`, `typing` and `read` do; the engine's `uploads` route calls it).
    ///
    /// # Errors
    ///
    /// `429 rate_limited` with the time to wait.
    pub fn limit_visitor(
        &self,
        conversation: &str,
        now: SystemTime,
    ) -> std::result::Result<(), WebchatError> {
        self.limits.visitor(conversation, now)
    }

    /// Adds the CORS headers (and `Webchat-Protocol`) of an answer to a request with
    /// `request` headers, when its `Origin` is allowed; nothing else otherwise.
    pub fn cors(&self, request: &http::HeaderMap, reply: &mut http::HeaderMap) {
        reply.insert(
            crate::wire::PROTOCOL_HEADER,
            http::HeaderValue::from_static("1"),
        );
        if let Ok(Some(o)) = crate::origin::check(&self.config, request) {
            crate::origin::cors(reply, &o);
        }
    }

    /// The channel's name.
    pub fn channel(&self) -> &ChannelName {
        &self.info.channel
    }

    /// Signs an upload reference for a file stored for `claims.conversation` (what `POST
    /// uploads` answers; `POST messages` verifies it).
    pub fn issue_upload(&self, claims: &UploadClaims) -> String {
        crate::token::issue_upload(&self.key, claims)
    }

    /// Keeps the plan's byte attachments as files and fills in their URLs.
    async fn store_files(
        &self,
        to: &ConversationRef,
        message: &OutboundMessage,
        p: &mut WebchatPlan,
    ) -> Result<()> {
        let (pending, Some(first)) = (std::mem::take(&mut p.files), p.records.first_mut()) else {
            return Ok(());
        };
        crate::files::store(
            self.log.as_ref(),
            &self.key,
            to,
            message.idempotency_key.as_deref(),
            self.config.upload_max_bytes,
            pending,
            first,
        )
        .await
    }

    async fn append_message(
        &self,
        to: &ConversationRef,
        record: MessageEvent,
        key: Option<String>,
    ) -> Result<SentMessage> {
        let id = MessageId::new(record.id.clone())?;
        self.log
            .append(to, Event::Message(record), key.as_deref())
            .await?;
        Ok(SentMessage::new(id, to.clone()))
    }
}

#[async_trait]
impl Adapter for WebchatAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        let now = to_millis(SystemTime::now());
        let mut p = plan(message, &self.info.capabilities, self.config.render, now)?;
        self.store_files(to, message, &mut p).await?;
        let mut sent = Vec::with_capacity(p.records.len());
        for (i, record) in p.records.into_iter().enumerate() {
            let key = message.idempotency_key.as_ref().map(|k| format!("{k}:{i}"));
            sent.push(self.append_message(to, record, key).await?);
        }
        Ok(SendReceipt::from_plan(sent, &p.plan))
    }

    async fn edit(&self, target: &MessageRef, message: &OutboundMessage) -> Result<SentMessage> {
        let now = to_millis(SystemTime::now());
        let mut p = plan(message, &self.info.capabilities, self.config.render, now)?;
        self.store_files(&target.conversation, message, &mut p)
            .await?;
        let [record] = <[MessageEvent; 1]>::try_from(p.records).map_err(|_| {
            Error::invalid_message("text", "an edit must fit in one message (4096 characters)")
        })?;
        let record = MessageEvent {
            id: target.id.to_string(),
            edited: true,
            ..record
        };
        self.append_message(&target.conversation, record, None)
            .await
    }

    async fn delete(&self, target: &MessageRef) -> Result<()> {
        let mut record = MessageEvent::new(
            target.id.to_string(),
            Author::new(Role::Bot),
            to_millis(SystemTime::now()),
        );
        record.deleted = true;
        self.append_message(&target.conversation, record, None)
            .await
            .map(|_| ())
    }

    async fn typing(&self, to: &ConversationRef) -> Result<()> {
        let from = author(&OutboundMessage::default())?;
        self.log
            .publish(to, Event::Typing(TypingEvent { from, active: true }))
            .await
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.handle(request).into_outcome()
    }
}
