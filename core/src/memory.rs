//! `MemoryAdapter`: an in-process adapter that records what it is asked to send and decodes
//! signed inbound events. The reference implementation of the contract and the test double
//! applications use.
//!
//! Inbound webhooks are JSON (one event object or an array) signed like this:
//! `X-Memory-Timestamp: <unix seconds>` and
//! `X-Memory-Signature: v1=<hex HMAC-SHA256(signing_secret, "<timestamp>.<body>")>`, accepted
//! within 300 s of the receive time. A `GET` with `?challenge=X` is answered with `X`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::adapter::{Adapter, AdapterInfo, unsupported};
use crate::capabilities::{
    AttachmentCapabilities, Capabilities, LengthUnit, MarkdownDialect, TextLimit,
};
use crate::config::{ChannelTable, Secret};
use crate::error::{Error, ErrorKind, Result, Retry};
use crate::model::{
    Action, ActionEvent, ActionSource, Attachment, ChannelName, ConversationId, ConversationRef,
    EventId, EventKind, InboundEvent, InboundMessage, MessageId, MessageRef, OtherEvent,
    OutboundMessage, OutboxKey, QuickReply, SendReceipt, Sender, SentMessage, UserId,
};
use crate::reconcile::{PendingSend, Reconciled};
use crate::render::{self, RenderPolicy, TextOption};
use crate::webhook::{RejectReason, WebhookOutcome, WebhookRequest, WebhookResponse};

/// Replay window for signed inbound requests.
pub const SIGNATURE_WINDOW: Duration = Duration::from_secs(300);

/// One provider message the memory adapter "sent".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSend {
    /// The id it was given.
    pub id: MessageId,
    /// Where it went.
    pub to: ConversationRef,
    /// The rendered text of this part.
    pub text: String,
    /// Native buttons (on the last part).
    pub actions: Vec<Action>,
    /// Native quick replies (on the last part).
    pub quick_replies: Vec<QuickReply>,
    /// Native attachments (on the first part).
    pub attachments: Vec<Attachment>,
    /// Numbered text options the renderer produced.
    pub options: Vec<TextOption>,
    /// The message's idempotency key.
    pub idempotency_key: Option<String>,
}

/// Any other operation the memory adapter performed.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedOp {
    /// `edit` with the new text.
    Edit(MessageRef, String),
    /// `delete`.
    Delete(MessageRef),
    /// `react`.
    React(MessageRef, String, bool),
    /// `typing`.
    Typing(ConversationRef),
}

/// What the next request does.
#[derive(Debug)]
enum Staged {
    Pass,
    Fail(Error),
    /// The provider accepts the message but the answer is lost.
    DeliverThenFail(Error),
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<RecordedSend>,
    ops: Vec<RecordedOp>,
    staged: VecDeque<Staged>,
    requests: usize,
}

/// The in-process adapter. Cheap to clone; clones share the recorded state.
#[derive(Clone)]
pub struct MemoryAdapter {
    info: AdapterInfo,
    secret: Secret,
    policy: RenderPolicy,
    state: Arc<Mutex<State>>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAdapter")
            .field("channel", &self.info.channel)
            .field("signing_secret", &self.secret)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The capabilities of a memory channel unless configured otherwise: 1,000 characters of Slack
/// mrkdwn, 3 buttons, 5 quick replies, every attachment, every operation.
pub fn default_capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: 1000,
            unit: LengthUnit::Chars,
        },
        markdown: MarkdownDialect::SlackMrkdwn,
        max_buttons: 3,
        link_buttons: true,
        max_quick_replies: 5,
        attachments: AttachmentCapabilities::all(10),
        threads: true,
        edit: true,
        delete: true,
        reactions: true,
        typing: true,
        receipts: false,
        messaging_window: None,
        reconcile: true,
        idempotent_sends: false,
    }
}

impl MemoryAdapter {
    /// A memory adapter for `channel` with [`default_capabilities`].
    pub fn new(channel: ChannelName, signing_secret: Secret) -> Self {
        MemoryAdapter {
            info: AdapterInfo::new("memory", channel, default_capabilities()),
            secret: signing_secret,
            policy: RenderPolicy::Fallback,
            state: Arc::new(Mutex::new(State::default())),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Replaces the capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.info.capabilities = caps;
        self
    }

    /// Sets the render policy.
    pub fn with_policy(mut self, policy: RenderPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds from a `[channels.NAME]` table with `provider = "memory"`. Keys: `signing_secret`
    /// (required), `text_limit`, `markdown` (`plain`, `slack_mrkdwn`, `whats_app`,
    /// `common_mark`), `max_buttons`, `max_quick_replies`, `render`, `api_base_url` (accepted,
    /// unused: nothing leaves the process).
    pub fn from_table(mut t: ChannelTable) -> Result<Self> {
        let secret = t.secret("signing_secret")?;
        let mut caps = default_capabilities();
        if let Some(max) = t.optional::<usize>("text_limit")? {
            caps.text.max = max;
        }
        if let Some(d) = t.optional::<MarkdownDialect>("markdown")? {
            caps.markdown = d;
        }
        if let Some(n) = t.optional::<usize>("max_buttons")? {
            caps.max_buttons = n;
        }
        if let Some(n) = t.optional::<usize>("max_quick_replies")? {
            caps.max_quick_replies = n;
        }
        let policy = t.render_policy()?;
        t.api_base_url("http://127.0.0.1")?;
        let channel = t.channel().clone();
        t.finish()?;
        Ok(MemoryAdapter::new(channel, secret)
            .with_capabilities(caps)
            .with_policy(policy))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the next operation that reaches the "provider" fail with `error`.
    pub fn fail_next(&self, error: Error) {
        self.state().staged.push_back(Staged::Fail(error));
    }

    /// Lets the next staged request succeed (to fail a later one with [`fail_next`](Self::fail_next)).
    pub fn pass_next(&self) {
        self.state().staged.push_back(Staged::Pass);
    }

    /// Makes the next send reach the "provider" (it is recorded) and then fail with `error`, as
    /// when the provider's answer is lost: the case reconciliation exists for.
    pub fn deliver_then_fail_next(&self, error: Error) {
        self.state()
            .staged
            .push_back(Staged::DeliverThenFail(error));
    }

    /// Everything sent so far, one entry per provider message.
    pub fn sent(&self) -> Vec<RecordedSend> {
        self.state().sent.clone()
    }

    /// Edits, deletes, reactions and typing indicators so far.
    pub fn ops(&self) -> Vec<RecordedOp> {
        self.state().ops.clone()
    }

    /// How many provider requests were made (including failed ones).
    pub fn requests(&self) -> usize {
        self.state().requests
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        let mut s = self.state();
        s.sent.clear();
        s.ops.clear();
        s.requests = 0;
    }

    /// A request that counts: `Err` for a staged failure; `Ok(Some(e))` when the request goes
    /// through but its answer is to be lost with `e`.
    fn request(&self) -> Result<Option<Error>> {
        let mut s = self.state();
        s.requests += 1;
        match s.staged.pop_front() {
            Some(Staged::Fail(e)) => Err(e.with_provider("memory")),
            Some(Staged::DeliverThenFail(e)) => Ok(Some(e.with_provider("memory"))),
            Some(Staged::Pass) | None => Ok(None),
        }
    }

    /// A non-send request: a lost answer is reported as the failure it carries.
    fn op_request(&self) -> Result<()> {
        match self.request()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn new_id(&self) -> Result<MessageId> {
        MessageId::new(format!(
            "mem-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn require(&self, flag: bool, op: &str) -> Result<()> {
        if flag {
            Ok(())
        } else {
            Err(unsupported(&self.info, op))
        }
    }

    /// Signs `body` at `timestamp` (unix seconds): the `X-Memory-Signature` value.
    pub fn signature(&self, timestamp: u64, body: &[u8]) -> String {
        sign(self.secret.expose(), timestamp, body)
    }

    /// A correctly signed inbound webhook request carrying `events`, received now.
    pub fn signed_request(&self, url: &str, events: &[MemoryInbound]) -> WebhookRequest {
        let body = serde_json::to_vec(events).unwrap_or_default();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let sig = self.signature(ts, &body);
        WebhookRequest::post(url, body)
            .with_header("content-type", "application/json")
            .with_header(TIMESTAMP_HEADER, &ts.to_string())
            .with_header(SIGNATURE_HEADER, &sig)
    }

    fn decode(
        &self,
        body: &[u8],
        received_at: SystemTime,
    ) -> std::result::Result<Vec<InboundEvent>, String> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let items = match &value {
            serde_json::Value::Array(items) => items.clone(),
            serde_json::Value::Object(_) => vec![value.clone()],
            _ => return Err("expected an event object or an array of them".to_owned()),
        };
        items
            .into_iter()
            .map(|raw| {
                let item: MemoryInbound = serde_json::from_value(raw.clone())
                    .map_err(|e| format!("invalid event: {e}"))?;
                self.to_event(item, raw, received_at)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn to_event(
        &self,
        item: MemoryInbound,
        raw: serde_json::Value,
        at: SystemTime,
    ) -> Result<InboundEvent> {
        let conversation = ConversationRef::new(
            self.info.channel.clone(),
            ConversationId::new(item.conversation)?,
        );
        let conversation = match item.thread {
            Some(t) => conversation.in_thread(crate::model::ThreadId::new(t)?),
            None => conversation,
        };
        let mut sender = Sender::user(UserId::new(item.sender)?);
        sender.name = item.sender_name;
        let kind = if let Some(payload) = item.action {
            EventKind::Action(ActionEvent::new(payload, ActionSource::Button))
        } else if let Some(text) = item.text {
            EventKind::Message(InboundMessage::text(text))
        } else {
            EventKind::Other(OtherEvent {
                event_type: item.event_type.unwrap_or_else(|| "unknown".to_owned()),
            })
        };
        Ok(InboundEvent::new(
            EventId::new(item.id)?,
            conversation,
            sender,
            at,
            kind,
            raw,
        ))
    }
}

/// `X-Memory-Timestamp`.
pub const TIMESTAMP_HEADER: &str = "x-memory-timestamp";
/// `X-Memory-Signature`.
pub const SIGNATURE_HEADER: &str = "x-memory-signature";

/// `v1=` + hex HMAC-SHA256(secret, `"{timestamp}.{body}"`).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a memory signature in constant time, with a ±300 s window around `now`.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: SystemTime,
) -> std::result::Result<(), RejectReason> {
    let ts: u64 = timestamp.parse().map_err(|_| RejectReason::BadSignature)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now.abs_diff(ts) > SIGNATURE_WINDOW.as_secs() {
        return Err(RejectReason::StaleTimestamp);
    }
    let expected = sign(secret, ts, body);
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        signature.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(RejectReason::BadSignature)
    }
}

/// The JSON shape of one inbound memory event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryInbound {
    /// The event id (dedupe key).
    pub id: String,
    /// The conversation id.
    pub conversation: String,
    /// The thread, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The sender's id.
    pub sender: String,
    /// The sender's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// Text: a Message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A button payload: an Action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Any other event type: Other.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
}

impl MemoryInbound {
    /// A text message `id` from `sender` in `conversation`.
    pub fn message(id: &str, conversation: &str, sender: &str, text: &str) -> Self {
        MemoryInbound {
            id: id.to_owned(),
            conversation: conversation.to_owned(),
            sender: sender.to_owned(),
            text: Some(text.to_owned()),
            ..Default::default()
        }
    }
}

#[async_trait]
impl Adapter for MemoryAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        message.validate()?;
        let plan = render::render(message, &self.info.capabilities, self.policy)?;
        let mut to = to.clone();
        if let Some(thread) = &message.thread {
            to.thread = Some(thread.clone());
        }
        let count = plan.parts.len().max(1);
        let mut sent = Vec::with_capacity(count);
        for i in 0..count {
            let lost_answer = match self.request() {
                Ok(lost) => lost,
                Err(e) => return Err(e.with_partial(sent)),
            };
            let id = self.new_id()?;
            let last = i + 1 == count;
            let record = RecordedSend {
                id: id.clone(),
                to: to.clone(),
                text: plan
                    .parts
                    .get(i)
                    .map(|p| p.text.clone())
                    .unwrap_or_default(),
                actions: if last {
                    plan.actions.clone()
                } else {
                    Vec::new()
                },
                quick_replies: if last {
                    plan.quick_replies.clone()
                } else {
                    Vec::new()
                },
                attachments: if i == 0 {
                    plan.attachments.clone()
                } else {
                    Vec::new()
                },
                options: if last {
                    plan.options.clone()
                } else {
                    Vec::new()
                },
                idempotency_key: message.idempotency_key.clone(),
            };
            self.state().sent.push(record);
            if let Some(e) = lost_answer {
                return Err(e.with_retry(Retry::Ambiguous).with_partial(sent));
            }
            let mut m = SentMessage::new(id, to.clone());
            m.segments = plan.parts.get(i).and_then(|p| p.sms.map(|s| s.segments));
            sent.push(m);
        }
        Ok(SendReceipt::from_plan(sent, &plan))
    }

    async fn edit(&self, target: &MessageRef, message: &OutboundMessage) -> Result<SentMessage> {
        self.require(self.info.capabilities.edit, "edit")?;
        let plan = render::render(message, &self.info.capabilities, RenderPolicy::Strict)?;
        if plan.parts.len() > 1 {
            return Err(Error::invalid_message(
                "text",
                "too long for one message; an edit cannot be split",
            ));
        }
        self.op_request()?;
        let text = plan
            .parts
            .first()
            .map(|p| p.text.clone())
            .unwrap_or_default();
        self.state()
            .ops
            .push(RecordedOp::Edit(target.clone(), text));
        Ok(SentMessage::new(
            target.id.clone(),
            target.conversation.clone(),
        ))
    }

    async fn delete(&self, target: &MessageRef) -> Result<()> {
        self.require(self.info.capabilities.delete, "delete")?;
        self.op_request()?;
        self.state().ops.push(RecordedOp::Delete(target.clone()));
        Ok(())
    }

    async fn react(&self, target: &MessageRef, reaction: &str, add: bool) -> Result<()> {
        self.require(self.info.capabilities.reactions, "react")?;
        self.op_request()?;
        self.state()
            .ops
            .push(RecordedOp::React(target.clone(), reaction.to_owned(), add));
        Ok(())
    }

    async fn typing(&self, to: &ConversationRef) -> Result<()> {
        self.require(self.info.capabilities.typing, "typing")?;
        self.op_request()?;
        self.state().ops.push(RecordedOp::Typing(to.clone()));
        Ok(())
    }

    async fn verify_credentials(&self) -> Result<()> {
        self.op_request()
    }

    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        let parts = render::render(&pending.message, &self.info.capabilities, self.policy)?
            .parts
            .len()
            .max(1);
        let found: Vec<SentMessage> = self
            .sent()
            .into_iter()
            .filter(|s| {
                s.idempotency_key.as_deref() == Some(key.as_str())
                    && s.to.conversation == pending.to.conversation
            })
            .map(|s| SentMessage::new(s.id, s.to))
            .collect();
        Ok(match found.len() {
            0 => Reconciled::NotDelivered,
            n if n >= parts => Reconciled::Delivered(found),
            _ => Reconciled::Partial(found),
        })
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        if request.method == http::Method::GET {
            return match request.query_param("challenge") {
                Some(c) => WebhookOutcome::handshake(WebhookResponse::text(c)),
                None => WebhookOutcome::reject(RejectReason::Malformed, "GET without challenge"),
            };
        }
        if request.method != http::Method::POST {
            return WebhookOutcome::reject(RejectReason::MethodNotAllowed, "use POST");
        }
        let (Some(ts), Some(sig)) = (
            request.header(TIMESTAMP_HEADER),
            request.header(SIGNATURE_HEADER),
        ) else {
            return WebhookOutcome::reject(
                RejectReason::MissingSignature,
                "missing X-Memory-Timestamp or X-Memory-Signature",
            );
        };
        if let Err(reason) = verify(
            self.secret.expose(),
            ts,
            &request.body,
            sig,
            request.received_at,
        ) {
            return WebhookOutcome::reject(reason, "signature check failed");
        }
        match self.decode(&request.body, request.received_at) {
            Ok(events) => WebhookOutcome::events(events),
            Err(detail) => WebhookOutcome::reject(RejectReason::Malformed, detail),
        }
    }
}

/// Errors to stage with [`MemoryAdapter::fail_next`], shaped like a provider's.
pub mod faults {
    use super::*;

    /// 429 with `Retry-After`.
    pub fn rate_limited(after: Duration) -> Error {
        Error::new(ErrorKind::RateLimited, "rate limited")
            .with_retry_after(after)
            .with_provider_code("429")
    }

    /// A 5xx: may or may not have been delivered.
    pub fn server_error() -> Error {
        Error::new(ErrorKind::Provider, "internal server error")
            .with_retry(Retry::Ambiguous)
            .with_provider_code("500")
    }

    /// Bad credentials.
    pub fn unauthenticated() -> Error {
        Error::new(ErrorKind::Unauthenticated, "invalid credentials").with_provider_code("401")
    }

    /// No such recipient.
    pub fn unknown_recipient() -> Error {
        Error::new(ErrorKind::NotFound, "unknown recipient").with_provider_code("404")
    }
}

#[cfg(test)]
mod tests;
