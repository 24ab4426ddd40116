//! What a send returns.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::conversation::ConversationRef;
use super::ids::MessageId;
use crate::render::{Degradation, RenderPlan, TextOption};

/// One message the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SentMessage {
    /// The provider's id of the message.
    pub id: MessageId,
    /// Where it went (with the thread, when the provider put it in one).
    pub conversation: ConversationRef,
    /// When the provider accepted it.
    #[serde(with = "super::time")]
    pub at: SystemTime,
    /// SMS segments billed, where the channel counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
}

impl SentMessage {
    /// A message accepted now.
    pub fn new(id: MessageId, conversation: ConversationRef) -> Self {
        SentMessage {
            id,
            conversation,
            at: SystemTime::now(),
            segments: None,
        }
    }

    /// Sets the segment count.
    pub fn with_segments(mut self, segments: u32) -> Self {
        self.segments = Some(segments);
        self
    }

    /// Sets the time the provider accepted it.
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = at;
        self
    }
}

/// The result of a send: the provider messages it became (a long text may become several), in
/// order, and every degradation rendering made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendReceipt {
    /// The messages, in the order they were sent.
    pub messages: Vec<SentMessage>,
    /// What rendering changed to fit the channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub degradations: Vec<Degradation>,
    /// Choices rendered as numbered text, for the engine to map answers back to payloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<TextOption>,
}

impl SendReceipt {
    /// A receipt for these messages and degradations.
    pub fn new(messages: Vec<SentMessage>, degradations: Vec<Degradation>) -> Self {
        SendReceipt {
            messages,
            degradations,
            options: Vec::new(),
        }
    }

    /// A receipt for messages sent from `plan`: its degradations and numbered options.
    pub fn from_plan(messages: Vec<SentMessage>, plan: &RenderPlan) -> Self {
        SendReceipt {
            messages,
            degradations: plan.degradations.clone(),
            options: plan.options.clone(),
        }
    }

    /// Sets the numbered options.
    pub fn with_options(mut self, options: Vec<TextOption>) -> Self {
        self.options = options;
        self
    }

    /// The first message's id (the one a thread would hang from).
    pub fn first_id(&self) -> Option<&MessageId> {
        self.messages.first().map(|m| &m.id)
    }
}
