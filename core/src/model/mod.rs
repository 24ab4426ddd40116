//! The channel-neutral model: identifiers, conversations, outbound messages and inbound events.

mod conversation;
mod extension;
mod ids;
mod inbound;
mod outbound;
mod sent;
pub mod time;

pub use conversation::{ConversationRef, MessageRef};
pub use extension::{Extension, Extensions};
pub use ids::{
    ChannelName, ConversationId, EventId, MAX_ID_LEN, MessageId, OutboxKey, ThreadId, UserId,
};
pub use inbound::{
    ActionEvent, ActionSource, Command, DeletedEvent, DeliveryError, DeliveryEvent, DeliveryStatus,
    EditedEvent, EventKind, InboundAttachment, InboundEvent, InboundMessage, OtherEvent,
    ReactionEvent, Sender,
};
pub use outbound::{
    Action, Attachment, AttachmentKind, AttachmentSource, MAX_PAYLOAD_BYTES, OutboundMessage,
    OutboundMessageBuilder, QuickReply,
};
pub use sent::{SendReceipt, SentMessage};
