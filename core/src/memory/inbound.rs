//! Inbound memory events: their JSON shape, signed requests, decoding.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{
    ActionEvent, ActionSource, ConversationId, ConversationRef, EventId, EventKind, InboundEvent,
    InboundMessage, OtherEvent, Sender, UserId,
};
use crate::webhook::WebhookRequest;

use super::{MemoryAdapter, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

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

impl MemoryAdapter {
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

    pub(super) fn decode(
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
