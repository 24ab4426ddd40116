//! What a `Delivery` event proves or reports, recorded before its handler runs: a keyed proof
//! of one of our sends (a Twilio keyed status callback, a Messenger echo), the delivery status
//! of the provider messages it names, and its watermark, in one store call. A proof is durable
//! even when the process died before it recorded the send, so the sender marks the row sent
//! without sending it again; once every part of a pending send is proven, the sender is woken.

use std::time::SystemTime;

use switchboard_core::InboundEvent;
use switchboard_core::model::EventKind;
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};

use crate::engine::Engine;
use crate::store::{Receipt, SendProof, conversation_key};

/// The keyed proof an event carries, if any (malformed ones are logged and ignored).
fn proof(event: &InboundEvent) -> Option<SendProof> {
    let EventKind::Delivery(d) = &event.kind else {
        return None;
    };
    let key = event.attributes.get(OUTBOX_KEY_ATTRIBUTE)?;
    let Some(message_id) = d.messages.first() else {
        tracing::debug!(key = %key, "keyed delivery event without a message id; ignored");
        return None;
    };
    let number = |name: &str, default: u32| {
        event
            .attributes
            .get(name)
            .map_or(Some(default), |v| v.parse::<u32>().ok())
    };
    let (Some(part), Some(parts)) = (
        number(OUTBOX_PART_ATTRIBUTE, 0),
        number(OUTBOX_PARTS_ATTRIBUTE, 1),
    ) else {
        tracing::warn!(key = %key, "keyed delivery event with an unreadable part; ignored");
        return None;
    };
    if parts == 0 || part >= parts {
        tracing::warn!(key = %key, part, parts, "keyed delivery event with an impossible part; ignored");
        return None;
    }
    Some(SendProof::new(
        key.clone(),
        event.conversation.channel.clone(),
        part,
        parts,
        message_id.clone(),
    ))
}

/// Records what `event` proves or reports. An error fails the event, so it is tried again: a
/// lost proof could let the sender resend a message the provider has.
pub(crate) async fn record(engine: &Engine, event: &InboundEvent) -> Result<(), String> {
    let EventKind::Delivery(d) = &event.kind else {
        return Ok(());
    };
    let mut receipts = Vec::with_capacity(3);
    let proof = proof(event);
    if let Some(p) = &proof {
        receipts.push(Receipt::Proof(p.clone()));
    }
    if !d.messages.is_empty() {
        receipts.push(Receipt::Delivery {
            channel: event.conversation.channel.clone(),
            messages: d.messages.clone(),
            status: d.status,
        });
    }
    // "Everything sent up to here": every earlier message of the conversation.
    if let Some(watermark) = d.watermark {
        receipts.push(Receipt::Watermark {
            conversation: conversation_key(&event.conversation),
            watermark,
            status: d.status,
        });
    }
    if receipts.is_empty() {
        return Ok(());
    }
    let counts = engine
        .store
        .record_receipts(&receipts, SystemTime::now())
        .await
        .map_err(|e| format!("recording the delivery receipts failed: {e}"))?;
    if let Some(p) = proof {
        engine.metrics.proof(event.conversation.channel.as_str());
        if counts.first().is_some_and(|n| *n > 0) {
            tracing::debug!(key = %p.key, "every part of a pending send is proven");
            engine.outbox_ready.notify_one();
        }
    }
    Ok(())
}
