//! Status callbacks: Twilio's report on a message we sent becomes a `Delivery` event (or `Other`
//! for a status with no neutral form), and a callback to a keyed `StatusCallback` URL proves
//! which part of which outbox row Twilio has.

use std::time::SystemTime;

use switchboard_core::model::{
    DeliveryEvent, DeliveryStatus, EventId, EventKind, InboundEvent, MessageId, OtherEvent,
    OutboxKey, Sender, UserId,
};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{ChannelName, WebhookRequest};

use super::{Params, conversation};
use crate::error_map::delivery_error;
use crate::reconcile::{OUTBOX_KEY_QUERY, OUTBOX_PART_QUERY, OUTBOX_PARTS_QUERY};

/// Twilio's status values mapped to the neutral ones; `None` for values with no neutral form.
pub(crate) fn map_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" | "partially_delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" | "undelivered" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

pub(super) fn status_callback(
    channel: &ChannelName,
    p: &Params<'_>,
    sid: &str,
    from: &str,
    to: &str,
    status: &str,
    at: SystemTime,
) -> Result<InboundEvent, String> {
    let conv = conversation(channel, to)?;
    let mut sender = Sender::user(UserId::new(from).map_err(|e| e.message().to_owned())?);
    sender.is_bot = true;
    let id = EventId::new(format!("{sid}:{status}")).map_err(|e| e.message().to_owned())?;
    let kind = match map_status(status) {
        Some(s) => {
            let message = MessageId::new(sid).map_err(|e| e.message().to_owned())?;
            let mut d = DeliveryEvent::new(s, vec![message]);
            if s == DeliveryStatus::Failed || p.get("ErrorCode").is_some() {
                d = d.with_error(delivery_error(p.get("ErrorCode"), p.get("ErrorMessage")));
            }
            EventKind::Delivery(d)
        }
        None => EventKind::Other(OtherEvent {
            event_type: format!("status.{status}"),
        }),
    };
    // `decode` sets the raw parameters.
    Ok(
        InboundEvent::new(id, conv, sender, at, kind, serde_json::Value::Null)
            .with_attribute("twilio.status", status),
    )
}

/// A status callback to a `StatusCallback` URL that carries an outbox key proves the send of that
/// key's part: the key goes in [`OUTBOX_KEY_ATTRIBUTE`], the part's index (from 0) and count in
/// [`OUTBOX_PART_ATTRIBUTE`] and [`OUTBOX_PARTS_ATTRIBUTE`]. The query is covered by the signature, so the key cannot be forged.
pub(super) fn with_outbox_key(mut event: InboundEvent, request: &WebhookRequest) -> InboundEvent {
    if !event.attributes.contains_key("twilio.status") {
        return event;
    }
    let query = request.query_pairs();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(key) = get(OUTBOX_KEY_QUERY).and_then(|k| OutboxKey::new(k).ok()) else {
        return event;
    };
    event = event.with_attribute(OUTBOX_KEY_ATTRIBUTE, key.as_str());
    for (param, attribute) in [
        (OUTBOX_PART_QUERY, OUTBOX_PART_ATTRIBUTE),
        (OUTBOX_PARTS_QUERY, OUTBOX_PARTS_ATTRIBUTE),
    ] {
        if let Some(n) = get(param).filter(|n| n.parse::<usize>().is_ok()) {
            event = event.with_attribute(attribute, n);
        }
    }
    event
}

#[cfg(test)]
mod tests;
