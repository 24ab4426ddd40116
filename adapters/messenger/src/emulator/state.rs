//! What the emulator remembers: users and their messaging windows, the clock, staged faults,
//! uploads, accepted messages and a log of every call.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// One HTTP call the emulator received, with its answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Call {
    /// `POST`.
    pub method: String,
    /// The path, e.g. `/v25.0/1895382890692545/messages`.
    pub path: String,
    /// The query parameters (`access_token`, `appsecret_proof`).
    pub query: BTreeMap<String, String>,
    /// The access token the call used (query, form field or `Authorization: Bearer`).
    pub access_token: Option<String>,
    /// The Page that token belongs to (`None`: no token, or one of no Page).
    pub page: Option<String>,
    /// The request body: the JSON (form fields decoded), or for uploads the `message` field.
    pub body: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// The JSON answered.
    pub response: Value,
    /// The emulator clock when it arrived.
    pub at: SystemTime,
}

/// One message the emulator accepted (sender actions are only in the call log).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EmulatedMessage {
    /// The Page that sent it (the one its token belongs to).
    pub page_id: String,
    /// The `message_id` returned.
    pub message_id: String,
    /// The recipient: a PSID, or `user_ref:<ref>`.
    pub recipient: String,
    /// `messaging_type` (`RESPONSE` when absent).
    pub messaging_type: String,
    /// `tag`, with `MESSAGE_TAG`.
    pub tag: Option<String>,
    /// The `message` object as sent.
    pub message: Value,
    /// The emulator clock when it was accepted.
    pub at: SystemTime,
}

impl EmulatedMessage {
    /// The text shown: `message.text`, or a button template's `text`.
    pub fn text(&self) -> Option<&str> {
        self.message["text"]
            .as_str()
            .or_else(|| self.message["attachment"]["payload"]["text"].as_str())
    }

    /// Titles of a template's buttons.
    pub fn buttons(&self) -> Vec<String> {
        titles(&self.message["attachment"]["payload"]["buttons"])
    }

    /// Titles of the quick replies.
    pub fn quick_replies(&self) -> Vec<String> {
        titles(&self.message["quick_replies"])
    }

    /// The attachment's URL or `attachment_id`, for media attachments.
    pub fn attachment(&self) -> Option<String> {
        let a = &self.message["attachment"];
        if a["type"] == "template" {
            return None;
        }
        let p = &a["payload"];
        p["url"]
            .as_str()
            .or_else(|| p["attachment_id"].as_str())
            .map(str::to_owned)
    }
}

fn titles(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| b["title"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// One uploaded attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upload {
    /// The Page that uploaded it (its `attachment_id` is usable by that Page only).
    pub page_id: String,
    /// The `attachment_id` returned.
    pub attachment_id: String,
    /// `image`, `audio`, `video` or `file`.
    pub kind: String,
    /// The file's mime type, for byte uploads.
    pub mime_type: Option<String>,
    /// The file's size in bytes (0 for uploads by URL).
    pub size: usize,
    /// The URL, for uploads by URL.
    pub url: Option<String>,
}

/// An answer the emulator gives to the next API call instead of processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// A Graph error object with this HTTP status, code and subcode.
    Graph {
        /// HTTP status.
        status: u16,
        /// `error.code`.
        code: i64,
        /// `error.error_subcode`.
        subcode: Option<i64>,
        /// `error.message`.
        message: String,
    },
    /// Code 613 with a `Retry-After` header and `X-Business-Use-Case-Usage`.
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// HTTP 500 with code 2 (temporary): the message may or may not have been delivered.
    ServerError,
    /// Code 190: the token is refused.
    AuthFailure,
    /// Code 100, subcode 2018001: no matching user.
    UnknownRecipient,
    /// Wait this long, then process the call normally.
    Delay(Duration),
    /// Process the call normally (a message is accepted, recorded and echoed), then drop the
    /// connection before the answer is written: the caller cannot know the outcome.
    LostAnswer,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// (Page, PSID) → the time of the user's last message (opens the 24 h window). PSIDs are
    /// Page-scoped.
    pub(crate) users: BTreeMap<(String, String), SystemTime>,
    pub(crate) fixed_now: Option<SystemTime>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) calls: Vec<Call>,
    pub(crate) sent: Vec<EmulatedMessage>,
    pub(crate) uploads: Vec<Upload>,
    pub(crate) next_id: u64,
    /// Start of the current one-second rate window and the calls in it.
    pub(crate) window: Option<(SystemTime, u32)>,
    /// The Page's subscribed webhook fields (`message_echoes`, …).
    pub(crate) subscribed: BTreeSet<String>,
    /// Where webhooks are POSTed as they happen (`None`: they wait in `webhooks`).
    pub(crate) callback_url: Option<String>,
    /// Webhook items not delivered yet, oldest first.
    pub(crate) webhooks: VecDeque<Value>,
}

/// Most webhook items kept waiting; beyond it the oldest are dropped.
pub(crate) const MAX_PENDING_WEBHOOKS: usize = 10_000;

impl State {
    /// Queues a webhook item if the Page subscribes to `field`; whether it was queued.
    pub(crate) fn queue_webhook(&mut self, field: &str, item: Value) -> bool {
        if !self.subscribed.contains(field) {
            return false;
        }
        if self.webhooks.len() >= MAX_PENDING_WEBHOOKS {
            tracing::warn!("messenger emulator: webhook queue full, dropping the oldest item");
            self.webhooks.pop_front();
        }
        self.webhooks.push_back(item);
        true
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.fixed_now.unwrap_or_else(SystemTime::now)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Counts a call against `limit` per second; `false` when over.
    pub(crate) fn admit(&mut self, limit: Option<u32>) -> bool {
        let Some(limit) = limit else {
            return true;
        };
        let now = SystemTime::now();
        match &mut self.window {
            Some((start, n))
                if now.duration_since(*start).unwrap_or_default() < Duration::from_secs(1) =>
            {
                *n += 1;
                *n <= limit
            }
            _ => {
                self.window = Some((now, 1));
                limit >= 1
            }
        }
    }
}
