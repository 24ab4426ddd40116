//! `TwilioAdapter`: the `Adapter` implementation for one Twilio channel, and the capabilities of
//! its conversations (SMS/MMS or WhatsApp).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::adapter::{Adapter, AdapterInfo, FetchedAttachment};
use switchboard_core::model::{AttachmentKind, InboundAttachment, MessageId};
use switchboard_core::policy::SendPolicy;
use switchboard_core::{
    AttachmentCapabilities, Capabilities, ChannelTable, ConversationId, ConversationRef, Error,
    LengthUnit, MarkdownDialect, OutboundMessage, OutboxKey, PendingSend, Reconciled, Result,
    SendReceipt, SentMessage, TextLimit, WebhookOutcome, WebhookRequest,
};

use crate::PROVIDER;
use crate::address::is_whatsapp;
use crate::api::Api;
use crate::config::TwilioConfig;
use crate::date::parse_rfc2822;
use crate::render::render_message;
use crate::webhook;
use crate::wire::MessageResource;

/// Longest `Body`, in characters (error 21617 beyond; UTF-16 units, so emoji count twice).
pub const MAX_BODY_CHARS: usize = 1600;

/// Most `MediaUrl`s per SMS/MMS message.
pub const MAX_MEDIA_SMS: usize = 10;

/// SMS/MMS: plain text up to 1,600 characters, no buttons (numbered options instead), up to
/// 10 media by URL, delivery receipts, reconciliation.
pub fn sms_capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: MAX_BODY_CHARS,
            unit: LengthUnit::Utf16,
        },
        markdown: MarkdownDialect::Plain,
        attachments: url_media(MAX_MEDIA_SMS),
        receipts: true,
        // By recipient, sender, time and content in the Messages list (see `reconcile`).
        reconcile: true,
        ..Capabilities::default()
    }
}

/// WhatsApp: WhatsApp markup, 1 media per message, 24 h window, delivery and read receipts.
pub fn whatsapp_capabilities() -> Capabilities {
    Capabilities {
        markdown: MarkdownDialect::WhatsApp,
        attachments: url_media(1),
        messaging_window: Some(Duration::from_secs(24 * 3600)),
        ..sms_capabilities()
    }
}

fn url_media(max: usize) -> AttachmentCapabilities {
    AttachmentCapabilities {
        kinds: vec![
            AttachmentKind::Image,
            AttachmentKind::Audio,
            AttachmentKind::Video,
            AttachmentKind::File,
        ],
        max_per_message: max,
        by_url: true,
        by_bytes: false,
    }
}

/// The capabilities of one conversation.
pub fn capabilities_for(conversation: &str) -> Capabilities {
    if is_whatsapp(conversation) {
        whatsapp_capabilities()
    } else {
        sms_capabilities()
    }
}

/// The Twilio adapter: SMS, MMS and WhatsApp over the Messages API, and its webhooks.
///
/// Cheap to clone. `Debug` never prints the auth token or API key secret.
#[derive(Clone)]
pub struct TwilioAdapter {
    info: AdapterInfo,
    config: Arc<TwilioConfig>,
    api: Api,
}

impl fmt::Debug for TwilioAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioAdapter")
            .field("config", &self.config)
            .finish()
    }
}

impl TwilioAdapter {
    /// An adapter for a validated configuration.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the HTTP client cannot be built.
    pub fn new(config: TwilioConfig) -> Result<Self> {
        let api = Api::new(&config)?;
        Ok(TwilioAdapter {
            info: AdapterInfo::new(PROVIDER, config.channel.clone(), sms_capabilities()),
            config: Arc::new(config),
            api,
        })
    }

    /// Builds from a `[channels.NAME]` table (see [`TwilioConfig`] for the keys).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the table is not a valid Twilio
    /// configuration (see [`TwilioConfig::from_table`]).
    pub fn from_table(table: ChannelTable) -> Result<Self> {
        TwilioAdapter::new(TwilioConfig::from_table(table)?)
    }

    /// The configuration.
    pub fn config(&self) -> &TwilioConfig {
        &self.config
    }

    /// Fetches a message's current resource (status, error code, segments) from Twilio.
    ///
    /// # Errors
    ///
    /// Twilio's error, mapped (`NotFound` for an unknown SID, `Unauthenticated`, `RateLimited`,
    /// `Transport`, …).
    pub async fn fetch_message(&self, sid: &str) -> Result<MessageResource> {
        self.api.fetch_message(&self.config, sid).await
    }
}

pub(crate) fn sent_message(
    to: &ConversationRef,
    resource: &MessageResource,
    segments: Option<u32>,
) -> Result<SentMessage> {
    let id = MessageId::new(resource.sid.as_str())?;
    let mut sent = SentMessage::new(id, to.clone());
    if let Some(at) = resource.date_created.as_deref().and_then(parse_rfc2822) {
        sent = sent.at(at);
    }
    sent.segments = segments.or_else(|| resource.segments().filter(|s| *s > 0));
    Ok(sent)
}

#[async_trait]
impl Adapter for TwilioAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Twilio sends from a US/Canada long code at 1 *segment* per second and queues the rest;
    /// this hint counts *messages* (the engine paces whole sends), so it is 1 message per
    /// second per conversation, burst 1, which equals Twilio's pace for single-segment
    /// messages and lets multi-segment ones queue briefly at Twilio. No channel-wide limit:
    /// short codes, toll-free numbers and Messaging Services allow more, and Twilio queues
    /// rather than rejects above a sender's rate. Override in `[channels.NAME.rate]`.
    fn rate_hint(&self) -> switchboard_core::RateHint {
        switchboard_core::RateHint {
            per_second: None,
            burst: None,
            per_conversation_per_second: Some(1.0),
            per_conversation_burst: Some(1),
        }
    }

    fn capabilities_for(&self, conversation: &ConversationId) -> Capabilities {
        capabilities_for(conversation.as_str())
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        message.validate()?;
        let rendered = render_message(&self.config, to.conversation.as_str(), message)?;
        let mut sent: Vec<SentMessage> = Vec::with_capacity(rendered.requests.len());
        for request in &rendered.requests {
            let resource = match self.api.create_message(&self.config, request).await {
                Ok(r) => r,
                Err(e) => return Err(e.with_partial(sent)),
            };
            match sent_message(to, &resource, request.segments) {
                Ok(m) => sent.push(m),
                Err(e) => return Err(e.with_provider(PROVIDER).with_partial(sent)),
            }
        }
        Ok(SendReceipt::from_plan(sent, &rendered.plan))
    }

    /// With the auth token, Fetch Account (`GET Accounts/{AccountSid}.json`); with an API key,
    /// which Twilio lets read `/Accounts` only when it is a Main key, the first entry of the
    /// Messages list (`GET Messages.json?PageSize=1`), which `reconcile` needs anyway. Twilio's
    /// 20003 is `Unauthenticated`, no connection `Transport`.
    async fn verify_credentials(&self) -> Result<()> {
        if self.config.api_key.is_some() {
            let first = [("PageSize", "1".to_owned())];
            return self
                .api
                .list_messages(&self.config, &first)
                .await
                .map(|_| ());
        }
        self.api.fetch_account(&self.config).await
    }

    /// The configured `timeout` of one request: a send's single create can be in flight at
    /// Twilio that long.
    fn send_timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Lists `Messages.json` by `To`, `From` and `DateSent>=` and matches each part's text and
    /// media count inside the time window (see the crate docs, "Reconciliation").
    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        crate::reconcile::reconcile(&self.api, &self.config, key, pending).await
    }

    async fn fetch_attachment(&self, attachment: &InboundAttachment) -> Result<FetchedAttachment> {
        let Some(url) = attachment.url.as_deref() else {
            return Err(
                Error::invalid_message("attachment.url", "is missing").with_provider(PROVIDER)
            );
        };
        let (bytes, mime) = self.api.fetch_media(&self.config, url).await?;
        Ok(FetchedAttachment {
            bytes,
            mime_type: mime.or_else(|| attachment.mime_type.clone()),
        })
    }

    fn precheck_webhook(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
    ) -> Option<switchboard_core::Rejection> {
        webhook::precheck(method, headers)
    }

    /// Decodes, and marks SMS keyword messages (`STOP`, `START`, `HELP`, …) with their
    /// consent change (see [`crate::policy`]).
    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        let mut outcome = webhook::handle(
            &self.config.channel,
            &self.config.account_sid,
            self.config.auth_token.expose(),
            request,
        );
        if let WebhookOutcome::Accepted { events, .. } = &mut outcome {
            for event in events.iter_mut() {
                event.consent = crate::policy::consent_of(&self.config, event);
            }
        }
        outcome
    }

    /// WhatsApp: 24 hours after the customer's last message, unless the message is a template
    /// (`ContentSid`); SMS: no window, opt-outs kept under our number (see [`crate::policy`]).
    fn send_policy(&self, to: &ConversationRef, message: &OutboundMessage) -> SendPolicy {
        crate::policy::send_policy(&self.config, to.conversation.as_str(), message)
    }
}
