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

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::model::{ConversationRef, OutboundMessage, SentMessage};

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
