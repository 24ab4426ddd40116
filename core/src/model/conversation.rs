//! Where a message goes or came from: enough to reply later, from any process.

use serde::{Deserialize, Serialize};

use super::ids::{ChannelName, ConversationId, MessageId, ThreadId};

/// A conversation on a configured channel, optionally narrowed to one thread.
///
/// It serializes to a small JSON object and round-trips, so it can be stored and used to reply
/// later from another process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationRef {
    /// The configured logical channel.
    pub channel: ChannelName,
    /// The conversation in the provider's native form.
    pub conversation: ConversationId,
    /// The thread inside the conversation, where the provider has threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadId>,
}

impl ConversationRef {
    /// A reference to the whole conversation (no thread).
    pub fn new(channel: ChannelName, conversation: ConversationId) -> Self {
        ConversationRef {
            channel,
            conversation,
            thread: None,
        }
    }

    /// The same conversation narrowed to `thread`.
    pub fn in_thread(mut self, thread: ThreadId) -> Self {
        self.thread = Some(thread);
        self
    }

    /// Parses `channel`, `conversation` (and no thread) from strings.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when either id is empty, too long or holds control characters.
    pub fn parse(channel: &str, conversation: &str) -> crate::Result<Self> {
        Ok(ConversationRef::new(
            ChannelName::new(channel)?,
            ConversationId::new(conversation)?,
        ))
    }
}

/// One message the provider holds: what `edit`, `delete` and `react` act on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef {
    /// Where the message is.
    pub conversation: ConversationRef,
    /// The provider's id of the message.
    pub id: MessageId,
}

impl MessageRef {
    /// A reference to message `id` in `conversation`.
    pub fn new(conversation: ConversationRef, id: MessageId) -> Self {
        MessageRef { conversation, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ref_round_trips() {
        let r = ConversationRef::parse("team", "C0AGENTS")
            .map(|r| {
                r.in_thread(ThreadId::new("1700000000.000100").unwrap_or_else(|e| panic!("{e}")))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"channel":"team","conversation":"C0AGENTS","thread":"1700000000.000100"}"#
        );
        let back: ConversationRef = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
        let plain = ConversationRef::parse("sms", "+15551234567").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_string(&plain).unwrap_or_default(),
            r#"{"channel":"sms","conversation":"+15551234567"}"#
        );
    }
}
