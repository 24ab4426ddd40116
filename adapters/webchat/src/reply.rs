//! [`Reply`]: what the web chat endpoints answer (status, headers, body), and [`Handled`]:
//! a reply with the events to store before sending it.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use switchboard_core::{InboundEvent, WebhookOutcome, WebhookResponse};

use crate::error::WebchatError;
use crate::wire::{Event, PROTOCOL_HEADER, PROTOCOL_VERSION};

/// An HTTP answer of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers (CORS, `Retry-After`, `Webchat-Protocol`, `Content-Type`).
    pub headers: HeaderMap,
    /// The body (JSON, or empty).
    pub body: Bytes,
}

impl Reply {
    /// An empty answer with `status`.
    pub fn empty(status: StatusCode) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(PROTOCOL_HEADER, HeaderValue::from_static(version_text()));
        Reply {
            status,
            headers,
            body: Bytes::new(),
        }
    }

    /// `status` with `value` as JSON.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        let mut r = Reply::empty(status);
        r.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r.body = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        r
    }

    /// The answer to a refused request: its status, `{"error","message"}` and, for 429,
    /// `Retry-After` in whole seconds (at least 1).
    pub fn error(error: &WebchatError) -> Self {
        let mut r = Reply::json(error.status(), &error.body());
        if let Some(after) = error.retry_after() {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                r.headers.insert(header::RETRY_AFTER, v);
            }
        }
        r
    }

    /// The JSON body parsed as `T` (tests and clients).
    ///
    /// # Errors
    ///
    /// The `serde_json` error when the body is not a `T`.
    pub fn body_as<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }
}

const fn version_text() -> &'static str {
    match PROTOCOL_VERSION {
        1 => "1",
        _ => panic!("update version_text with PROTOCOL_VERSION"),
    }
}

/// What a request to the endpoints came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The answer. When `events` is not empty, send it only once they are stored (the inbox
    /// transaction committed), as for any webhook.
    pub reply: Reply,
    /// Inbound events for the application (a message, an action, typing, a read receipt).
    pub events: Vec<InboundEvent>,
    /// What to append to the conversation's log once the events are stored (the echo of the
    /// visitor's message, a read receipt), keyed by the first event's id so a retry appends
    /// it once.
    pub echo: Option<Event>,
    /// Why the request was refused, when it was (the reply then carries the error).
    pub error: Option<WebchatError>,
}

impl Handled {
    /// A reply with nothing to store.
    pub fn reply(reply: Reply) -> Self {
        Handled {
            reply,
            events: Vec::new(),
            echo: None,
            error: None,
        }
    }

    /// A refused request.
    pub fn refused(error: WebchatError) -> Self {
        Handled {
            reply: Reply::error(&error),
            events: Vec::new(),
            echo: None,
            error: Some(error),
        }
    }

    /// The outcome on the generic webhook path: success statuses are `Accepted` (with the
    /// events), errors `Rejected` with the nearest [`RejectReason`](switchboard_core::RejectReason)
    /// and the protocol's reason in the detail.
    pub fn into_outcome(self) -> WebhookOutcome {
        if let Some(e) = &self.error {
            return WebhookOutcome::reject(
                e.reason().reject_reason(),
                format!("{}: {}", e.reason(), e.message()),
            );
        }
        let content_type = self
            .reply
            .headers
            .contains_key(header::CONTENT_TYPE)
            .then_some("application/json");
        WebhookOutcome::Accepted {
            response: WebhookResponse {
                status: self.reply.status,
                content_type,
                body: self.reply.body,
            },
            events: self.events,
        }
    }
}
