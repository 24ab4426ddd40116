#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod adapter;
pub mod config;
mod error;
mod extension;
mod files;
mod limit;
mod log;
mod origin;
mod render;
mod reply;
mod session;
pub mod signature;
pub mod token;
mod webhook;
pub mod wire;

use std::sync::Arc;

pub use adapter::{
    MAX_ATTACHMENTS, MAX_BUTTONS, MAX_QUICK_REPLIES, MAX_TEXT_CHARS, WebchatAdapter, capabilities,
};
pub use config::{VisitorRate, WebchatConfig, WebchatConfigBuilder};
pub use error::{Reason, WebchatError};
pub use extension::WebchatAuthor;
pub use files::OutboundFile;
pub use limit::{SESSIONS_PER_IP_BURST, SESSIONS_PER_IP_PER_MINUTE};
pub use log::{ConversationLog, MemoryLog, upload_path};
pub use reply::{Handled, Reply};
pub use session::{
    ANONYMOUS_CONVERSATION_PREFIX, MAX_NAME_CHARS, MAX_USER_ID_BYTES, USER_CONVERSATION_PREFIX,
};
pub use token::{SessionClaims, TokenKey};
pub use webhook::BODY_OVERHEAD_BYTES;
pub use webhook::message::{
    CLIENT_ID_ATTRIBUTE, MAX_CLIENT_ID, READ_SEQ_ATTRIBUTE, VERIFIED_ATTRIBUTE, visitor_message_id,
};
pub use wire::Role;

/// The provider's registry name: `provider = "webchat"` in a channel table.
pub const PROVIDER: &str = "webchat";

/// The open protocol this crate implements (version 1), as a document.
pub const PROTOCOL: &str = include_str!("../PROTOCOL.md");

/// Registers the web chat adapter factory under [`PROVIDER`].
pub fn register(registry: &mut switchboard_core::Registry) {
    registry.register(PROVIDER, |table| {
        WebchatAdapter::from_table(table).map(|a| Arc::new(a) as Arc<dyn switchboard_core::Adapter>)
    });
}
