//! Cheap handles for applications: `channel.conversation(id).send(msg)`.

use std::sync::Arc;

use crate::adapter::Adapter;
use crate::capabilities::Capabilities;
use crate::error::Result;
use crate::model::{
    ConversationId, ConversationRef, MessageId, MessageRef, OutboundMessage, SendReceipt,
    SentMessage, ThreadId,
};

/// A configured channel: an adapter behind a cheap, cloneable handle.
#[derive(Debug, Clone)]
pub struct Channel {
    adapter: Arc<dyn Adapter>,
}

impl Channel {
    /// Wraps an adapter.
    pub fn new(adapter: Arc<dyn Adapter>) -> Self {
        Channel { adapter }
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    /// A conversation on this channel.
    pub fn conversation(&self, id: ConversationId) -> Conversation {
        let r = ConversationRef::new(self.adapter.info().channel.clone(), id);
        Conversation {
            adapter: self.adapter.clone(),
            reference: r,
        }
    }

    /// A conversation from a stored reference (which must name this channel).
    pub fn at(&self, reference: ConversationRef) -> Conversation {
        Conversation {
            adapter: self.adapter.clone(),
            reference,
        }
    }
}

/// One conversation on a channel.
#[derive(Debug, Clone)]
pub struct Conversation {
    adapter: Arc<dyn Adapter>,
    reference: ConversationRef,
}

impl Conversation {
    /// Where this conversation is; store it to reply later.
    pub fn reference(&self) -> &ConversationRef {
        &self.reference
    }

    /// The same conversation narrowed to a thread.
    pub fn thread(&self, thread: ThreadId) -> Conversation {
        Conversation {
            adapter: self.adapter.clone(),
            reference: self.reference.clone().in_thread(thread),
        }
    }

    /// What this conversation can do.
    pub fn capabilities(&self) -> Capabilities {
        self.adapter.capabilities_for(&self.reference.conversation)
    }

    /// Sends a message.
    ///
    /// # Errors
    ///
    /// The adapter's error (see [`Adapter::send`](crate::Adapter::send)).
    pub async fn send(&self, message: &OutboundMessage) -> Result<SendReceipt> {
        self.adapter.send(&self.reference, message).await
    }

    /// Sends plain markdown text.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` for empty text, else as [`send`](Self::send).
    pub async fn say(&self, text: &str) -> Result<SendReceipt> {
        self.send(&OutboundMessage::text(text)?).await
    }

    /// Edits a message of this conversation.
    ///
    /// # Errors
    ///
    /// The adapter's error; `Unsupported` where the channel cannot edit.
    pub async fn edit(&self, id: MessageId, message: &OutboundMessage) -> Result<SentMessage> {
        self.adapter
            .edit(&MessageRef::new(self.reference.clone(), id), message)
            .await
    }

    /// Deletes a message of this conversation.
    ///
    /// # Errors
    ///
    /// The adapter's error; `Unsupported` where the channel cannot delete.
    pub async fn delete(&self, id: MessageId) -> Result<()> {
        self.adapter
            .delete(&MessageRef::new(self.reference.clone(), id))
            .await
    }

    /// Adds or removes a reaction on a message of this conversation.
    ///
    /// # Errors
    ///
    /// The adapter's error; `Unsupported` where the channel has no reactions.
    pub async fn react(&self, id: MessageId, reaction: &str, add: bool) -> Result<()> {
        self.adapter
            .react(&MessageRef::new(self.reference.clone(), id), reaction, add)
            .await
    }

    /// Shows a typing indicator.
    ///
    /// # Errors
    ///
    /// The adapter's error; `Unsupported` where the channel has no typing indicator.
    pub async fn typing(&self) -> Result<()> {
        self.adapter.typing(&self.reference).await
    }
}
