//! `MessengerAdapter`: the [`Adapter`] implementation and its capabilities.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::model::AttachmentSource;
use switchboard_core::policy::SendPolicy;
use switchboard_core::{
    Adapter, AdapterInfo, AttachmentCapabilities, Capabilities, ChannelTable, ConversationRef,
    Error, ErrorKind, LengthUnit, MarkdownDialect, MessageId, OutboundMessage, OutboxKey,
    PendingSend, Reconciled, Result, Retry, SendReceipt, SentMessage, TextLimit, WebhookOutcome,
    WebhookRequest,
};

use crate::PROVIDER;
use crate::api::GraphClient;
use crate::config::MessengerConfig;
use crate::reconcile::{self, EchoLog};
use crate::render::{self, Content};
use crate::webhook;

/// What a Messenger conversation can do: 2,000 characters of plain text, 3 buttons (button
/// template), 13 quick replies, image/audio/video/file attachments by URL or upload (one message
/// each), typing indicators and delivery/read receipts, the 24 h standard messaging window.
/// No threads, edits, deletes or reactions sent by the Page. `reconcile` is false here; an
/// adapter whose configuration says `message_echoes = true` declares it.
pub fn capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: 2000,
            unit: LengthUnit::Chars,
        },
        markdown: MarkdownDialect::Plain,
        max_buttons: 3,
        link_buttons: true,
        max_quick_replies: 13,
        attachments: AttachmentCapabilities::all(10),
        threads: false,
        edit: false,
        delete: false,
        reactions: false,
        typing: true,
        receipts: true,
        messaging_window: Some(Duration::from_secs(24 * 60 * 60)),
        reconcile: false,
        idempotent_sends: false,
    }
}

/// The Messenger adapter for one Facebook Page, or several Pages of one app (see
/// [`MessengerConfig::conversation_id`] for their conversation ids). Cheap to clone.
#[derive(Clone)]
pub struct MessengerAdapter {
    info: AdapterInfo,
    config: Arc<MessengerConfig>,
    /// One Graph client per Page (its own token), the default Page first.
    clients: Arc<[GraphClient]>,
    echoes: Arc<EchoLog>,
    media: switchboard_core::fetch::MediaFetcher,
}

impl std::fmt::Debug for MessengerAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessengerAdapter")
            .field("channel", &self.info.channel)
            .field("pages", &self.config.page_ids().collect::<Vec<_>>())
            .field("api_base_url", &self.config.api_base_url)
            .field("api_version", &self.config.api_version)
            .field("render", &self.config.render)
            .finish()
    }
}

impl MessengerAdapter {
    /// An adapter for `config`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the HTTP client cannot be built.
    pub fn new(config: MessengerConfig) -> Result<Self> {
        let config = Arc::new(config);
        let mut caps = capabilities();
        caps.reconcile = config.message_echoes;
        let clients = GraphClient::per_page(&config)?;
        Ok(MessengerAdapter {
            info: AdapterInfo::new(PROVIDER, config.channel.clone(), caps),
            clients: clients.into(),
            media: crate::media::fetcher(&config)?,
            config,
            echoes: Arc::default(),
        })
    }

    /// An adapter from a `[channels.NAME]` table (see [`MessengerConfig::from_table`]).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the table is not a valid Messenger
    /// configuration (see [`MessengerConfig::from_table`]).
    pub fn from_table(table: ChannelTable) -> Result<Self> {
        MessengerAdapter::new(MessengerConfig::from_table(table)?)
    }

    /// The configuration.
    pub fn config(&self) -> &MessengerConfig {
        &self.config
    }

    /// Marks the conversation's last message as seen (`sender_action: mark_seen`).
    ///
    /// # Errors
    ///
    /// The Send API's error, mapped like a send's (`Unauthenticated`, `RateLimited`, `Transport`, …).
    pub async fn mark_seen(&self, to: &ConversationRef) -> Result<()> {
        self.sender_action(to, "mark_seen").await
    }

    /// Hides the typing indicator (`sender_action: typing_off`).
    ///
    /// # Errors
    ///
    /// The Send API's error, mapped like a send's (`Unauthenticated`, `RateLimited`, `Transport`, …).
    pub async fn typing_off(&self, to: &ConversationRef) -> Result<()> {
        self.sender_action(to, "typing_off").await
    }

    async fn sender_action(&self, to: &ConversationRef, action: &str) -> Result<()> {
        let (client, psid) = self.route(to)?;
        let body = render::sender_action(psid, action);
        client.send(body).await.map(|_| ())
    }

    /// The Graph client of the conversation's Page (its token, its URLs) and the user's id
    /// at that Page.
    fn route<'a>(&self, to: &'a ConversationRef) -> Result<(&GraphClient, &'a str)> {
        let (page, psid) = self.config.route(to.conversation.as_str())?;
        let client = self.clients.get(page).ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "no Graph client for the Page").with_provider(PROVIDER)
        })?;
        Ok((client, psid))
    }
}

#[async_trait]
impl Adapter for MessengerAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// 24 hours after the user's last message; 7 days with `HUMAN_AGENT`; other tags at any
    /// time (see [`crate::policy`]).
    fn send_policy(&self, _to: &ConversationRef, message: &OutboundMessage) -> SendPolicy {
        crate::policy::send_policy(message)
    }

    /// Well under the Send API's per-Page limits (Meta's platform rate limit scales with the
    /// Page's audience; a few hundred calls per second for a large Page): 40 messages per second
    /// per Page (burst 40; a channel of several Pages gets 40 per Page in all), and 1 per second
    /// per user with a burst of 3, which keeps a multi-part reply together without flooding one
    /// person.
    fn rate_hint(&self) -> switchboard_core::RateHint {
        let pages = u32::try_from(self.clients.len()).unwrap_or(1).max(1);
        switchboard_core::RateHint {
            per_second: Some(40.0 * f64::from(pages)),
            burst: Some(40 * pages),
            per_conversation_per_second: Some(1.0),
            per_conversation_burst: Some(3),
        }
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        message.validate()?;
        let (client, conversation) = self.route(to)?;
        let plan = render::plan(message, &self.info.capabilities, self.config.render)?;
        if plan.messages.is_empty() {
            return Err(Error::invalid_message(
                "message",
                "nothing Messenger can send is left after rendering",
            ));
        }
        // Upload byte attachments first: a failed upload then leaves nothing half-sent.
        let mut uploaded: Vec<Option<String>> = Vec::with_capacity(plan.messages.len());
        for p in &plan.messages {
            uploaded.push(match &p.content {
                Content::Media(a) => match &a.source {
                    AttachmentSource::Bytes(data) => {
                        let mime = a
                            .mime_type
                            .clone()
                            .unwrap_or_else(|| "application/octet-stream".to_owned());
                        let name = a.filename.clone().unwrap_or_else(|| "file".to_owned());
                        Some(client.upload(a.kind.as_str(), data, &mime, &name).await?)
                    }
                    AttachmentSource::Url(_) => None,
                },
                _ => None,
            });
        }
        let parts = plan.messages.len();
        let mut sent: Vec<SentMessage> = Vec::with_capacity(parts);
        for (i, (p, attachment_id)) in plan.messages.iter().zip(&uploaded).enumerate() {
            // Always marked, so this app's echoes are recognised even without `app_id`; with
            // the outbox key and the part, so an echo proves which part was sent.
            let metadata = reconcile::metadata(message.idempotency_key.as_deref(), i, parts);
            let body = render::request(
                conversation,
                &plan.options,
                render::message(p, attachment_id.as_deref(), Some(&metadata)),
            );
            let id = match client.send(body).await {
                Ok(Some(id)) => MessageId::new(id),
                Ok(None) => Err(Error::new(
                    ErrorKind::Provider,
                    "the Send API accepted a message without returning its message_id",
                )
                .with_retry(Retry::Ambiguous)
                .with_provider(PROVIDER)),
                Err(e) => Err(e),
            };
            match id {
                Ok(id) => sent.push(SentMessage::new(id, to.clone())),
                Err(e) => return Err(e.with_partial(sent)),
            }
        }
        Ok(SendReceipt::new(sent, plan.degradations).with_options(plan.text_options))
    }

    async fn typing(&self, to: &ConversationRef) -> Result<()> {
        self.sender_action(to, "typing_on").await
    }

    /// `GET /{api_version}/me?fields=id` with each Page's token (and its `appsecret_proof`
    /// when enabled): Graph error 190 (a bad or expired token) is `Unauthenticated`, no
    /// connection is `Transport`, and a token that belongs to another Page or to a user is
    /// `InvalidConfig` naming the Page.
    async fn verify_credentials(&self) -> Result<()> {
        for (i, (client, page)) in self.clients.iter().zip(self.config.page_ids()).enumerate() {
            let id = client.me().await?;
            if id == page {
                continue;
            }
            let key = if self.config.is_multi_page() {
                format!("pages[{i}].access_token")
            } else {
                "page_access_token".to_owned()
            };
            return Err(Error::config(
                self.info.channel.as_str(),
                format_args!("{key} belongs to node {id}, not to Page {page}"),
            )
            .with_provider(PROVIDER));
        }
        Ok(())
    }

    /// Waits up to `echo_wait` for the echoes of every part of the pending send (see the
    /// README: echoes prove a send; their absence proves nothing, so it is `Unknown`).
    /// Downloads `payload.url` from Meta's CDN, without the Page token (see `media.rs`):
    /// internal addresses refused, at most [`MAX_MEDIA_BYTES`](crate::MAX_MEDIA_BYTES).
    async fn fetch_attachment(
        &self,
        attachment: &switchboard_core::model::InboundAttachment,
    ) -> Result<switchboard_core::FetchedAttachment> {
        let Some(url) = attachment.url.as_deref() else {
            return Err(
                Error::invalid_message("attachment.url", "is missing").with_provider(PROVIDER)
            );
        };
        let mut fetched = crate::media::fetch(&self.media, url).await?;
        fetched.mime_type = fetched.mime_type.or_else(|| attachment.mime_type.clone());
        Ok(fetched)
    }

    /// The Graph client's request timeout: a send can be in flight at Meta that long.
    fn send_timeout(&self) -> std::time::Duration {
        crate::api::TIMEOUT
    }

    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        if !self.info.capabilities.reconcile {
            return Err(switchboard_core::adapter::unsupported(
                &self.info,
                "reconcile",
            ));
        }
        let parts = render::plan(
            &pending.message,
            &self.info.capabilities,
            self.config.render,
        )?
        .messages
        .len()
        .max(1);
        let since = pending
            .first_attempt_at
            .checked_sub(reconcile::SKEW)
            .unwrap_or(std::time::UNIX_EPOCH);
        // Echoes are logged under the canonical id; the pending send may use the unprefixed
        // form of a default-Page conversation.
        let conversation = self.config.canonical(pending.to.conversation.as_str())?;
        Ok(self
            .echoes
            .reconcile(
                key.as_str(),
                &conversation,
                &pending.to,
                since,
                parts,
                self.config.echo_wait,
            )
            .await)
    }

    fn precheck_webhook(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
    ) -> Option<switchboard_core::Rejection> {
        webhook::precheck(method, headers)
    }

    /// Also remembers the echoes of this app's keyed sends, for `reconcile` (memory only: no
    /// I/O).
    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        let outcome = webhook::handle(&self.config, request);
        if let Some(events) = outcome.accepted_events() {
            self.echoes.record_events(events);
        }
        outcome
    }
}
