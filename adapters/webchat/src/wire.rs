//! The protocol's JSON ([`PROTOCOL.md`], version 1): request and response bodies of the
//! endpoints, and the `data` of each event type of the stream.
//!
//! Every type here is exactly one object of the specification; field names are the wire's.
//! Optional request fields default when absent and unknown fields are ignored, as the protocol
//! requires; optional response fields are left out when empty.
//!
//! [`PROTOCOL.md`]: https://github.com/switchboard-rs/switchboard/blob/main/adapters/webchat/PROTOCOL.md

use serde::{Deserialize, Serialize};
use switchboard_core::model::AttachmentKind;

mod event;
#[cfg(test)]
mod tests;

pub use event::{
    Author, Button, Event, LogPage, MessageEvent, QuickReplyView, ReceiptEvent, ReceiptStatus,
    Record, Role, StatusCode, StatusEvent, TypingEvent, WireAttachment,
};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The header every response carries (and a client may send): `Webchat-Protocol: 1`.
pub const PROTOCOL_HEADER: &str = "webchat-protocol";

/// `POST sessions`: every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    /// The website's id of a logged-in user (verified with `user_hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Lowercase hex HMAC-SHA256 of `user_id` keyed with the channel's `identity_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_hash: Option<String>,
    /// The visitor's display name, shown to agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A token from an earlier session, to resume its conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The answer to `POST sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The bearer token of the session (opaque to the client).
    pub token: String,
    /// The conversation the token opens.
    pub conversation_id: String,
    /// When the token expires, in Unix milliseconds.
    pub expires_at: i64,
    /// Whether an existing conversation was resumed.
    #[serde(default)]
    pub resumed: bool,
}

/// `POST messages`: a message or an action from the visitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostMessage {
    /// The client's id of the message: retries with the same id are stored once.
    pub client_id: String,
    /// Markdown text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Uploaded files (references from `POST uploads`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<UploadRef>,
    /// The answer to a button or quick reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<PostAction>,
}

/// A reference to an uploaded file, as `POST uploads` returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRef {
    /// The opaque reference.
    pub upload: String,
}

/// Where a visitor's action came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOrigin {
    /// A postback button (the default).
    #[default]
    Button,
    /// A quick reply.
    QuickReply,
}

/// A tapped button or quick reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostAction {
    /// The payload, copied from the button.
    pub payload: String,
    /// The button's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The message that carried the button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Button or quick reply.
    #[serde(default)]
    pub source: ActionOrigin,
}

/// The `202` answer to `POST messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAccepted {
    /// The server's id of the message (the same for every retry of one `client_id`).
    pub id: String,
}

/// `POST typing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingRequest {
    /// Typing (true, the default) or stopped.
    #[serde(default = "yes")]
    pub active: bool,
}

impl Default for TypingRequest {
    fn default() -> Self {
        TypingRequest { active: true }
    }
}

fn yes() -> bool {
    true
}

/// `POST read`: the visitor has seen every record up to `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// The highest sequence number seen.
    pub seq: u64,
}

/// The `201` answer to `POST uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    /// The reference to put in `POST messages` `attachments`.
    pub upload: String,
    /// Image, audio, video or file.
    pub kind: AttachmentKind,
    /// The file name.
    pub filename: String,
    /// The content type.
    pub mime_type: String,
    /// The size in bytes.
    pub size: u64,
}

/// The body of every error: a short reason and one line for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The machine-readable reason (`bad_token`, `rate_limited`, …).
    pub error: String,
    /// A short explanation.
    pub message: String,
}
