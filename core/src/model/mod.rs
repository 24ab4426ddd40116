//! The channel-neutral model: identifiers, conversations, outbound messages and inbound events.

mod attachment;
mod conversation;
mod delivery;
mod extension;
mod ids;
mod inbound;
mod outbound;
mod sent;
pub mod time;

pub use attachment::{Attachment, AttachmentKind, AttachmentSource};
pub use conversation::{ConversationRef, MessageRef};
pub use delivery::{DeliveryError, DeliveryEvent, DeliveryStatus};
pub use extension::{Extension, Extensions};
pub use ids::{
    ChannelName, ConversationId, EventId, MAX_ID_LEN, MessageId, OutboxKey, ThreadId, UserId,
};
pub use inbound::{
    ActionEvent, ActionSource, Command, DeletedEvent, EditedEvent, EventKind, InboundAttachment,
    InboundEvent, InboundMessage, OtherEvent, ReactionEvent, Sender,
};
pub use outbound::{
    Action, MAX_PAYLOAD_BYTES, OutboundMessage, OutboundMessageBuilder, QuickReply,
};
pub use sent::{SendReceipt, SentMessage};
