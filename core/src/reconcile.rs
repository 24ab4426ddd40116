//! Reconciliation: asking the provider whether a send that may have reached it did.
//!
//! A send is ambiguous when the process died mid-request or the provider's answer was lost
//! (`Retry::Ambiguous`). Resending doubles the message if the provider had it; not resending
//! loses it if it did not. An adapter that declares [`Capabilities::reconcile`] carries the
//! [`OutboxKey`](crate::model::OutboxKey) to the provider with every part it sends (in a field the provider echoes back or
//! lets us search) and implements [`Adapter::reconcile`](crate::Adapter::reconcile) to look it up.
//!
//! Proof of a send may also arrive as a webhook (a Twilio status callback, a Messenger echo):
//! adapters then emit a `Delivery` event whose attributes carry the key under
//! [`OUTBOX_KEY_ATTRIBUTE`], which the engine records durably.
//!
//! [`Capabilities::reconcile`]: crate::Capabilities::reconcile

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::model::{ConversationRef, OutboundMessage, SentMessage};

/// What [`Adapter::send_timeout`](crate::Adapter::send_timeout) answers unless an adapter says
/// otherwise.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// The event attribute under which adapters report the outbox key a provider echoed back.
pub const OUTBOX_KEY_ATTRIBUTE: &str = "switchboard.outbox_key";

/// With [`OUTBOX_KEY_ATTRIBUTE`]: which part of the send the proof is for, counted from 0.
pub const OUTBOX_PART_ATTRIBUTE: &str = "switchboard.outbox_part";

/// With [`OUTBOX_KEY_ATTRIBUTE`]: how many parts the send has. A send is proven when every part
/// is.
pub const OUTBOX_PARTS_ATTRIBUTE: &str = "switchboard.outbox_parts";

/// What was being sent when the outcome became unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingSend {
    /// Where it was going.
    pub to: ConversationRef,
    /// The message, with `idempotency_key` set to the outbox key.
    pub message: OutboundMessage,
    /// When the first attempt started; provider searches start just before it.
    #[serde(with = "crate::model::time")]
    pub first_attempt_at: SystemTime,
    /// When the last attempt started. A provider may still be processing a create that began
    /// moments ago, so adapters whose lookups can lag answer `Unknown` until their request
    /// timeout has passed since this time.
    #[serde(with = "crate::model::time")]
    pub last_attempt_at: SystemTime,
}

impl PendingSend {
    /// A pending send of `message` to `to`, first (and last) attempted at `first_attempt_at`.
    pub fn new(
        to: ConversationRef,
        message: OutboundMessage,
        first_attempt_at: SystemTime,
    ) -> Self {
        PendingSend {
            to,
            message,
            first_attempt_at,
            last_attempt_at: first_attempt_at,
        }
    }

    /// Sets when the last attempt started.
    pub fn with_last_attempt_at(mut self, at: SystemTime) -> Self {
        self.last_attempt_at = at;
        self
    }

    /// How much longer the last attempt may still be in flight at the provider: `Some` while
    /// less than `send_timeout` has passed since it began (a process killed mid-request leaves
    /// the request running at the provider until then), `None` after.
    pub fn in_flight_for(&self, send_timeout: Duration, now: SystemTime) -> Option<Duration> {
        let until = self.last_attempt_at + send_timeout;
        until.duration_since(now).ok().filter(|d| !d.is_zero())
    }
}

/// The in-flight rule (issue 15, item 10), the same for every adapter: an answer that the
/// provider does not have (all or some of) a send cannot be trusted while the last attempt may
/// still be in flight, so `NotDelivered` and `Partial` become `Unknown` until `send_timeout`
/// (the adapter's [`Adapter::send_timeout`](crate::Adapter::send_timeout)) has passed since
/// it began. `Delivered` and `Unknown` stand. The engine applies it to every `reconcile`
/// answer and asks again once the time is over, instead of resending.
pub fn hold_in_flight(
    found: Reconciled,
    pending: &PendingSend,
    send_timeout: Duration,
    now: SystemTime,
) -> Reconciled {
    match (found, pending.in_flight_for(send_timeout, now)) {
        (Reconciled::NotDelivered | Reconciled::Partial(_), Some(left)) => {
            Reconciled::Unknown(format!(
                "the last attempt may still be in flight: {} ms of the {} ms send timeout left",
                left.as_millis(),
                send_timeout.as_millis()
            ))
        }
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelName, ConversationId};

    fn pending(last: SystemTime) -> PendingSend {
        let to = ConversationRef::new(
            ChannelName::new("c").expect("valid"),
            ConversationId::new("x").expect("valid"),
        );
        let m = OutboundMessage::text("hi").expect("valid");
        PendingSend::new(to, m, last)
    }

    #[test]
    fn not_delivered_is_held_while_the_attempt_may_be_in_flight() {
        let now = SystemTime::now();
        let t = Duration::from_secs(30);
        let young = pending(now - Duration::from_secs(1));
        let old = pending(now - Duration::from_secs(31));
        assert!(matches!(
            hold_in_flight(Reconciled::NotDelivered, &young, t, now),
            Reconciled::Unknown(_)
        ));
        assert!(matches!(
            hold_in_flight(Reconciled::Partial(Vec::new()), &young, t, now),
            Reconciled::Unknown(_)
        ));
        assert_eq!(
            hold_in_flight(Reconciled::Delivered(Vec::new()), &young, t, now),
            Reconciled::Delivered(Vec::new())
        );
        assert_eq!(
            hold_in_flight(Reconciled::NotDelivered, &old, t, now),
            Reconciled::NotDelivered
        );
        assert_eq!(young.in_flight_for(t, now), Some(Duration::from_secs(29)));
        assert_eq!(old.in_flight_for(t, now), None);
        assert_eq!(young.in_flight_for(Duration::ZERO, now), None);
    }
}

/// What the provider has of a pending send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "messages", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reconciled {
    /// Every part is there: record these messages as sent, send nothing.
    Delivered(Vec<SentMessage>),
    /// Some parts are there (listed, in order) and the rest are not.
    Partial(Vec<SentMessage>),
    /// Certainly not there: sending again is safe.
    NotDelivered,
    /// The provider cannot tell (yet); the channel's delivery policy decides.
    Unknown(String),
}
