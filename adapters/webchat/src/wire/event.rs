//! The records of the event stream: `message`, `typing`, `receipt` and `status`, and their SSE
//! and long-poll forms.

use serde::{Deserialize, Serialize};
use switchboard_core::model::AttachmentKind;

/// Who caused a record. Only the server sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The website's visitor.
    Visitor,
    /// A person on the business side (an agent answering through the bridge).
    Agent,
    /// The application itself.
    Bot,
}

/// The `from` of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// Visitor, agent or bot.
    pub role: Role,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Author {
    /// An author of `role` with no name.
    pub fn new(role: Role) -> Self {
        Author { role, name: None }
    }
}

/// An attachment of a `message` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAttachment {
    /// Image, audio, video or file.
    pub kind: AttachmentKind,
    /// Where the file is served.
    pub url: String,
    /// The content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A caption or alt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// A button of a `message` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Button {
    /// Answered with `POST messages` `action`.
    Postback {
        /// What the button says.
        label: String,
        /// What comes back.
        payload: String,
    },
    /// Opens `url` (http or https only).
    Link {
        /// What the button says.
        label: String,
        /// The URL.
        url: String,
    },
}

/// A quick reply of a `message` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReplyView {
    /// What the suggestion says.
    pub label: String,
    /// What comes back.
    pub payload: String,
}

/// The `data` of a `message` record: a new message, or (same `id`) an edit or a delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// The server's id of the message.
    pub id: String,
    /// Who wrote it.
    pub from: Author,
    /// When, in Unix milliseconds.
    pub at: i64,
    /// CommonMark text (never to be inserted as HTML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<WireAttachment>,
    /// Buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// Quick replies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReplyView>,
    /// The client's id, on the echo of a visitor's own message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// This record replaces the earlier message with the same id.
    #[serde(default, skip_serializing_if = "is_false")]
    pub edited: bool,
    /// This record removes the earlier message with the same id.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

impl MessageEvent {
    /// A message `id` from `from` at `at` (Unix ms) with no content yet.
    pub fn new(id: impl Into<String>, from: Author, at: i64) -> Self {
        MessageEvent {
            id: id.into(),
            from,
            at,
            text: None,
            attachments: Vec::new(),
            buttons: Vec::new(),
            quick_replies: Vec::new(),
            client_id: None,
            reply_to: None,
            edited: false,
            deleted: false,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The `data` of a `typing` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingEvent {
    /// Who is typing.
    pub from: Author,
    /// Typing (true) or stopped.
    pub active: bool,
}

/// The state a `receipt` record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Reached the other side.
    Delivered,
    /// Seen by the other side.
    Read,
}

/// The `data` of a `receipt` record: every record up to `up_to` reached `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptEvent {
    /// Delivered or read.
    pub status: ReceiptStatus,
    /// The highest sequence number concerned.
    pub up_to: u64,
    /// Who delivered or read.
    pub by: Role,
    /// When, in Unix milliseconds.
    pub at: i64,
}

/// The code of a `status` record. Codes a client does not know read as [`StatusCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusCode {
    /// The cursor was older than the oldest record kept.
    HistoryTruncated,
    /// The token expired; the stream closes.
    SessionExpired,
    /// The conversation was closed by the business side.
    Closed,
    /// A newer stream of the same token took this one's place (more than 5 open); the stream
    /// closes, and the client should not reconnect until the visitor looks at it again.
    TooManyStreams,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

/// The `data` of a `status` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// What happened.
    pub code: StatusCode,
    /// One line for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `history_truncated`: the highest sequence number no longer kept (records up to it
    /// are gone; the records after it follow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<u64>,
}

impl StatusEvent {
    /// A status `code` with an optional line for humans.
    pub fn new(code: StatusCode, message: Option<String>) -> Self {
        StatusEvent {
            code,
            message,
            up_to: None,
        }
    }

    /// `history_truncated`: the records up to `up_to` are no longer kept.
    pub fn history_truncated(up_to: u64) -> Self {
        StatusEvent {
            code: StatusCode::HistoryTruncated,
            message: None,
            up_to: Some(up_to),
        }
    }
}

/// One record of the stream: its event name and `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// `event: message`.
    Message(MessageEvent),
    /// `event: typing` (ephemeral: never in the log).
    Typing(TypingEvent),
    /// `event: receipt`.
    Receipt(ReceiptEvent),
    /// `event: status`.
    Status(StatusEvent),
}

impl Event {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Message(_) => "message",
            Event::Typing(_) => "typing",
            Event::Receipt(_) => "receipt",
            Event::Status(_) => "status",
        }
    }

    /// The `data` JSON.
    pub fn data(&self) -> serde_json::Value {
        let value = match self {
            Event::Message(e) => serde_json::to_value(e),
            Event::Typing(e) => serde_json::to_value(e),
            Event::Receipt(e) => serde_json::to_value(e),
            Event::Status(e) => serde_json::to_value(e),
        };
        value.unwrap_or(serde_json::Value::Null)
    }

    /// The event as an SSE record; `seq` is its `id:` line (`None` for ephemeral events).
    pub fn to_sse(&self, seq: Option<u64>) -> String {
        let mut out = String::new();
        if let Some(seq) = seq {
            out.push_str(&format!("id: {seq}\n"));
        }
        out.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            self.name(),
            self.data()
        ));
        out
    }
}

/// A logged record: its sequence number in the conversation and its event (the long poll's
/// `{"seq", "event", "data"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The sequence number: from 1, only growing within the conversation.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// The record as SSE, with its `id:` line.
    pub fn to_sse(&self) -> String {
        self.event.to_sse(Some(self.seq))
    }
}

/// The answer to `GET messages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// Records after the cursor, oldest first.
    pub records: Vec<Record>,
    /// The sequence number of the last record returned (the cursor when there is none).
    pub last_seq: u64,
}
