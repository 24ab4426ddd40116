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

/// The Twilio adapter: SMS, MMS and WhatsApp over the Messages API, and its webhooks, for one
/// account or several (see [`TwilioConfig::conversation_id`] for their conversation ids).
///
/// Cheap to clone. `Debug` never prints the auth token or API key secret.
#[derive(Clone)]
pub struct TwilioAdapter {
    info: AdapterInfo,
    config: Arc<TwilioConfig>,
    /// One configuration per account (its SID, token, sender), the default first.
    accounts: Arc<[TwilioConfig]>,
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
            accounts: config.account_views().into(),
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

    /// Fetches a message's current resource (status, error code, segments) from Twilio. On a
    /// channel of several accounts each account is asked in turn, with its own credentials,
    /// until one has the message.
    ///
    /// # Errors
    ///
    /// Twilio's error, mapped (`NotFound` for a SID no account has, `Unauthenticated`,
    /// `RateLimited`, `Transport`, …).
    pub async fn fetch_message(&self, sid: &str) -> Result<MessageResource> {
        let mut last = None;
        for account in self.accounts.iter() {
            match self.api.fetch_message(account, sid).await {
                Err(e) if e.kind() == switchboard_core::ErrorKind::NotFound => last = Some(e),
                other => return other,
            }
        }
        match last {
            Some(e) => Err(e),
            None => self.api.fetch_message(&self.config, sid).await,
        }
    }

    /// The configuration of the conversation's account and the customer's address.
    fn route<'a>(&self, conversation: &'a str) -> Result<(&TwilioConfig, &'a str)> {
        let (i, address) = self.config.route(conversation)?;
        let account = self.accounts.get(i).ok_or_else(|| {
            Error::new(switchboard_core::ErrorKind::NotFound, "no such account")
                .with_provider(PROVIDER)
        })?;
        Ok((account, address))
    }

    /// The account whose credentials may fetch `url`: the one its `/Accounts/{sid}/` path
    /// names, else the default account. `None` when it names an account the channel does not
    /// serve (no credentials are sent then).
    fn account_of_media(&self, url: &str) -> Option<&TwilioConfig> {
        let named = url
            .split('/')
            .skip_while(|s| *s != "Accounts")
            .nth(1)
            .filter(|s| crate::address::is_sid(s, "AC"));
        match named {
            Some(sid) => self.accounts.iter().find(|a| a.account_sid == sid),
            None => self.accounts.first(),
        }
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
        let address = self
            .config
            .route(conversation.as_str())
            .map_or(conversation.as_str(), |(_, a)| a);
        capabilities_for(address)
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        message.validate()?;
        let (account, address) = self.route(to.conversation.as_str())?;
        let rendered = render_message(account, address, message)?;
        let mut sent: Vec<SentMessage> = Vec::with_capacity(rendered.requests.len());
        for request in &rendered.requests {
            let resource = match self.api.create_message(account, request).await {
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
    /// Each account of a channel of several is checked with its own credentials.
    async fn verify_credentials(&self) -> Result<()> {
        for account in self.accounts.iter() {
            if account.api_key.is_some() {
                let first = [("PageSize", "1".to_owned())];
                self.api.list_messages(account, &first).await?;
            } else {
                self.api.fetch_account(account).await?;
            }
        }
        Ok(())
    }

    /// The configured `timeout` of one request: a send's single create can be in flight at
    /// Twilio that long.
    fn send_timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Lists `Messages.json` by `To`, `From` and `DateSent>=` and matches each part's text and
    /// media count inside the time window (see the crate docs, "Reconciliation").
    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        let (account, address) = self.route(pending.to.conversation.as_str())?;
        crate::reconcile::reconcile(&self.api, account, address, key, pending).await
    }

    async fn fetch_attachment(&self, attachment: &InboundAttachment) -> Result<FetchedAttachment> {
        let Some(url) = attachment.url.as_deref() else {
            return Err(
                Error::invalid_message("attachment.url", "is missing").with_provider(PROVIDER)
            );
        };
        // Only the account the media belongs to lends its credentials.
        let account = self.account_of_media(url).ok_or_else(|| {
            Error::new(
                switchboard_core::ErrorKind::PermissionDenied,
                "the media URL names an account this channel does not serve",
            )
            .with_provider(PROVIDER)
        })?;
        let (bytes, mime) = self.api.fetch_media(account, url).await?;
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

    /// Verifies with the token of the request's `AccountSid` (an account the channel does not
    /// serve is refused unverified), decodes, marks SMS keyword messages (`STOP`, `START`,
    /// `HELP`, …) with their consent change (see [`crate::policy`]), and on a channel of
    /// several accounts prefixes conversation ids with the account.
    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        let tokens: Vec<(&str, &str)> = self
            .accounts
            .iter()
            .map(|a| (a.account_sid.as_str(), a.auth_token.expose()))
            .collect();
        let (mut outcome, i) = webhook::handle(&self.config.channel, &tokens, request);
        let account = self.accounts.get(i).unwrap_or(&self.config);
        if let WebhookOutcome::Accepted { events, .. } = &mut outcome {
            for event in events.iter_mut() {
                event.consent = crate::policy::consent_of(account, event);
                if self.config.is_multi_account() {
                    let id = self.config.conversation_id(
                        &account.account_sid,
                        event.conversation.conversation.as_str(),
                    );
                    if let Ok(id) = ConversationId::new(id) {
                        event.conversation.conversation = id;
                    }
                }
            }
        }
        outcome
    }

    /// WhatsApp: 24 hours after the customer's last message, unless the message is a template
    /// (`ContentSid`); SMS: no window, opt-outs kept under our number (see [`crate::policy`]).
    fn send_policy(&self, to: &ConversationRef, message: &OutboundMessage) -> SendPolicy {
        match self.route(to.conversation.as_str()) {
            Ok((account, address)) => crate::policy::send_policy(account, address, message),
            // The send itself fails `NotFound`.
            Err(_) => SendPolicy::open(),
        }
    }
}
