//! The neutral JSON an endpoint receives: a Standard Webhooks payload `{"type", "timestamp",
//! "data"}` whose `data` is the event in the engine's own serialization (the one the store
//! keeps: `id`, `conversation`, `sender`, `at`, `kind`, `attributes`, `raw`).
//!
//! ```json
//! {"type": "message.received", "timestamp": "2026-12-03T20:10:00.123Z",
//!  "data": {"id": "SM123", "conversation": {"channel": "sms", "conversation": "+15558675310"},
//!           "sender": {…}, "at": …, "kind": {"type": "message", "text": "hi"}, "raw": {…}}}
//! ```
//!
//! Types are hierarchical (`group.action`): `message.received`, `message.edited`,
//! `message.deleted`, `action.received` (a button, quick reply or numbered option),
//! `reaction.added`, `reaction.removed`, `delivery.queued|sent|delivered|read|failed`,
//! `typing.started`, `event.other`, and `message.failed` ([`failed_body`]: not an inbound
//! event but a send the engine gave up on). A body stays under [`MAX_BODY_BYTES`]: when the provider's
//! raw payload would take it over, `data.raw` is left out and `data.raw_omitted` says how big
//! it was and its SHA-256 (`{"bytes": n, "sha256": "…"}`); the neutral fields are always sent
//! (a message text longer than the budget is sent whole).

use std::time::SystemTime;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard_core::model::EventKind;
use switchboard_core::{Error, ErrorKind, InboundEvent, Result};

use crate::plugin::FailedSend;

/// The size a body is kept under (the spec's recommendation: 20 kB).
pub const MAX_BODY_BYTES: usize = 20 * 1024;

/// The event's type: `message.received`, `delivery.read`, …
pub fn event_type(event: &InboundEvent) -> String {
    match &event.kind {
        EventKind::Message(_) => "message.received".to_owned(),
        EventKind::Action(_) => "action.received".to_owned(),
        EventKind::Reaction(r) if r.added => "reaction.added".to_owned(),
        EventKind::Reaction(_) => "reaction.removed".to_owned(),
        EventKind::Edited(_) => "message.edited".to_owned(),
        EventKind::Deleted(_) => "message.deleted".to_owned(),
        EventKind::Delivery(d) => {
            let status = serde_json::to_value(d.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".to_owned());
            format!("delivery.{status}")
        }
        EventKind::Typing => "typing.started".to_owned(),
        _ => "event.other".to_owned(),
    }
}

fn timestamp(event: &InboundEvent) -> String {
    switchboard_core::model::time::format_rfc3339(event.at)
}

/// The body POSTed for `event`.
///
/// # Errors
///
/// An error when the event cannot be serialized to JSON.
pub fn body(event: &InboundEvent) -> Result<String> {
    let encode = |v: &Value| {
        serde_json::to_string(v)
            .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("event JSON: {e}")))
    };
    let data = serde_json::to_value(event)
        .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("event JSON: {e}")))?;
    let mut payload = json!({
        "type": event_type(event),
        "timestamp": timestamp(event),
        "data": data,
    });
    let text = encode(&payload)?;
    if text.len() <= MAX_BODY_BYTES {
        return Ok(text);
    }
    let raw = serde_json::to_string(&event.raw).unwrap_or_default();
    let digest: String = Sha256::digest(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if let Some(data) = payload.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("raw");
        data.insert(
            "raw_omitted".to_owned(),
            json!({ "bytes": raw.len(), "sha256": digest }),
        );
    }
    encode(&payload)
}

/// The `webhook-id` of a [`failed_body`]: `{channel}/failed/{outbox key}`. An event's is
/// `{channel}:{event id}`, and a channel name holds neither `/` nor `:`, so the two never meet.
pub fn failed_webhook_id(failed: &FailedSend) -> String {
    format!("{}/failed/{}", failed.to.channel, failed.key)
}

/// The body POSTed when the engine gave up on a send (the dead-letter hook,
/// [`Plugin::on_dead_letter`](crate::plugin::Plugin::on_dead_letter)), to the endpoints that
/// want the message's channel, in order with that conversation's events:
///
/// ```json
/// {"type": "message.failed", "timestamp": "2026-12-04T09:10:00.000Z",
///  "data": {"id": "msg_…", "key": "sms:SM123:0",
///           "conversation": {"channel": "sms", "conversation": "+15558675310"},
///           "message": {"text": "…", …}, "attempts": 1,
///           "error": {"kind": "opted_out", "message": "…", "text": "twilio: opted_out: … (code 21610)",
///                     "code": "21610"},
///           "before_request": false, "maybe_delivered": false}}
/// ```
///
/// `id` is the message's id in the REST API (`GET /v1/messages/{id}` says `failed`), `key` its
/// outbox key; `error.message` is the reason in words, `error.text` the dead letter's line. A
/// message that would take the body over [`MAX_BODY_BYTES`] is left out
/// (`message_omitted: {"bytes": n}`). At most once (see [`crate::plugin`]). An endpoint's
/// synchronous answer with `messages` queues them into `conversation`, as for any event: a
/// fallback for the failed message, say (an endpoint that answers every failure with a message
/// that fails again makes a loop).
///
/// # Errors
///
/// An error when the message cannot be serialized to JSON.
pub fn failed_body(failed: &FailedSend, at: SystemTime) -> Result<String> {
    let json_error =
        |e: serde_json::Error| Error::new(ErrorKind::InvalidMessage, format!("failure JSON: {e}"));
    let message = serde_json::to_value(&failed.message).map_err(json_error)?;
    let conversation = serde_json::to_value(&failed.to).map_err(json_error)?;
    let mut payload = json!({
        "type": "message.failed",
        "timestamp": switchboard_core::model::time::format_rfc3339(at),
        "data": {
            "id": super::api::message_id(&failed.key),
            "key": failed.key,
            "conversation": conversation,
            "message": message,
            "attempts": failed.attempts,
            "error": {
                "kind": failed.kind.as_str(),
                "message": failed.reason,
                "text": failed.error,
                "code": failed.provider_code,
            },
            "before_request": failed.before_request,
            "maybe_delivered": failed.maybe_delivered,
        },
    });
    let text = serde_json::to_string(&payload).map_err(json_error)?;
    if text.len() <= MAX_BODY_BYTES {
        return Ok(text);
    }
    let bytes = serde_json::to_string(&failed.message)
        .map(|m| m.len())
        .unwrap_or_default();
    if let Some(data) = payload.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("message");
        data.insert("message_omitted".to_owned(), json!({ "bytes": bytes }));
    }
    serde_json::to_string(&payload).map_err(json_error)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use switchboard_core::model::{EventId, InboundMessage, Sender};
    use switchboard_core::{ConversationRef, UserId};

    use super::*;

    fn event(text: &str, raw: Value) -> InboundEvent {
        InboundEvent::new(
            EventId::new("SM1").unwrap_or_else(|e| panic!("{e}")),
            ConversationRef::parse("sms", "+15558675310").unwrap_or_else(|e| panic!("{e}")),
            Sender::user(UserId::new("+15558675310").unwrap_or_else(|e| panic!("{e}"))),
            UNIX_EPOCH + Duration::from_millis(1_764_792_600_123),
            EventKind::Message(InboundMessage::text(text)),
            raw,
        )
    }

    #[test]
    fn a_message_is_a_typed_payload_with_the_event_as_data() {
        let body = body(&event("hi", json!({"Body": "hi"}))).unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["type"], "message.received");
        assert_eq!(v["timestamp"], "2025-12-03T20:10:00.123Z");
        assert_eq!(v["data"]["id"], "SM1");
        assert_eq!(v["data"]["conversation"]["channel"], "sms");
        assert_eq!(v["data"]["kind"]["type"], "message");
        assert_eq!(v["data"]["kind"]["text"], "hi");
        assert_eq!(v["data"]["raw"]["Body"], "hi");
    }

    #[test]
    fn a_large_raw_payload_is_left_out_and_described() {
        let big = "x".repeat(30_000);
        let body = body(&event("hi", json!({ "blob": big }))).unwrap_or_else(|e| panic!("{e}"));
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
        assert!(v["data"].get("raw").is_none());
        assert_eq!(v["data"]["raw_omitted"]["bytes"], 30_011);
        assert_eq!(
            v["data"]["raw_omitted"]["sha256"].as_str().map(str::len),
            Some(64)
        );
        // The neutral text is never cut, even past the budget.
        let long = "y".repeat(25_000);
        let body = super::body(&event(&long, json!({}))).unwrap_or_else(|e| panic!("{e}"));
        assert!(body.contains(&long));
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        let mut e = event("hi", json!({}));
        e.at = switchboard_core::model::time::from_millis(951_782_400_001);
        assert_eq!(super::timestamp(&e), "2000-02-29T00:00:00.001Z");
    }

    #[test]
    fn a_failed_send_whose_message_is_too_big_leaves_it_out() {
        use switchboard_core::{ChannelName, ConversationId, ConversationRef, OutboundMessage};
        let to = ConversationRef::new(
            ChannelName::new("sms").unwrap(),
            ConversationId::new("+15558675310").unwrap(),
        );
        let error = Error::new(ErrorKind::OptedOut, "the customer texted STOP");
        let small = OutboundMessage::text("hi").unwrap();
        let failed = FailedSend::new("sms:E1:0", to.clone(), small, &error);
        let at = SystemTime::UNIX_EPOCH;
        let v: Value = serde_json::from_str(&failed_body(&failed, at).unwrap()).unwrap();
        assert_eq!(v["type"], "message.failed");
        assert_eq!(v["data"]["message"]["text"], "hi");
        assert_eq!(v["data"]["error"]["kind"], "opted_out");
        assert_eq!(failed_webhook_id(&failed), "sms/failed/sms:E1:0");
        let big = OutboundMessage::text("x".repeat(MAX_BODY_BYTES)).unwrap();
        let failed = FailedSend::new("sms:E1:0", to, big, &error);
        let body = failed_body(&failed, at).unwrap();
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["data"].get("message").is_none());
        assert!(v["data"]["message_omitted"]["bytes"].as_u64().unwrap() > MAX_BODY_BYTES as u64);
        assert_eq!(v["data"]["key"], "sms:E1:0");
    }
}
