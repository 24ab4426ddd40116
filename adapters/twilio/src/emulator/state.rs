//! The emulator's recorded state: calls, messages, staged faults, rate-limit windows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;

use crate::wire::MessageResource;

/// How the next API call is answered instead of normally.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429, error 20429, with `Retry-After` in whole seconds.
    RateLimited {
        /// The `Retry-After` value.
        retry_after: Duration,
    },
    /// HTTP 500, error 20500: the message may or may not have been created.
    ServerError,
    /// HTTP 401, error 20003.
    AuthFailure,
    /// HTTP 400, error 21211 (invalid `To`).
    UnknownRecipient,
    /// Any Twilio error: HTTP status, code and message.
    Error {
        /// The HTTP status.
        status: u16,
        /// The Twilio error code.
        code: u32,
        /// Its message.
        message: String,
    },
    /// Answer normally, after this delay (slowness; combine with a client timeout).
    Delay(Duration),
    /// Carry the request out (a Create Message creates and records the message), then close the
    /// connection before any byte of the answer: the client cannot tell whether it happened.
    LostAnswer,
}

/// One API call the emulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request path.
    pub path: String,
    /// The form parameters (or query parameters), in order, repeated names kept.
    pub params: Vec<(String, String)>,
    /// The HTTP status answered.
    pub status: u16,
    /// The Basic auth credentials were accepted.
    pub authorized: bool,
    /// The account whose credentials (auth token or API key) the call used, when accepted.
    pub account: Option<String>,
    /// The connection was dropped instead of answering ([`Fault::LostAnswer`]); `status` is
    /// what would have been answered.
    pub dropped: bool,
}

impl Call {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of parameter `name`, in order.
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether this call created a message (a `201` on `Messages.json`).
    pub fn created_message(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/Messages.json") && self.status == 201
    }
}

/// A status callback the emulator delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredCallback {
    /// Where it went.
    pub url: String,
    /// The signed form parameters.
    pub params: Vec<(String, String)>,
    /// What the receiver answered (0 if it could not be reached).
    pub status: u16,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) calls: Vec<Call>,
    pub(crate) messages: BTreeMap<String, MessageResource>,
    pub(crate) order: Vec<String>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) failing_recipients: BTreeMap<String, u32>,
    pub(crate) sends_by_sender: BTreeMap<String, VecDeque<Instant>>,
    /// Media SID → (account, bytes, content type).
    pub(crate) media: BTreeMap<String, (String, Bytes, String)>,
    pub(crate) callbacks: Vec<DeliveredCallback>,
    pub(crate) next_sid: u64,
    /// (our number, their number) pairs opted out by an inbound `STOP` (until `START`).
    pub(crate) opted_out: std::collections::BTreeSet<(String, String)>,
}

impl State {
    /// Applies Twilio's default opt-out handling to an SMS `from` → `to` (our number) with
    /// `body`: `STOP` and its synonyms opt out, `START`, `UNSTOP`, `YES` opt back in.
    pub(crate) fn inbound_keyword(&mut self, from: &str, to: &str, body: &str) {
        use switchboard_core::policy::ConsentAction;
        if crate::address::is_whatsapp(from) {
            return;
        }
        let pair = (to.to_owned(), from.to_owned());
        match crate::policy::keyword(body) {
            Some((ConsentAction::OptOut, _)) => {
                self.opted_out.insert(pair);
            }
            Some((ConsentAction::OptIn, _)) => {
                self.opted_out.remove(&pair);
            }
            _ => {}
        }
    }

    /// A new SID with `prefix`: the prefix and 32 hex digits.
    pub(crate) fn sid(&mut self, prefix: &str) -> String {
        self.next_sid += 1;
        format!("{prefix}{:032x}", self.next_sid)
    }

    /// Records a send by `sender`; `Some(wait)` when it is over `limit` per `window`.
    pub(crate) fn rate_check(
        &mut self,
        sender: &str,
        limit: u32,
        window: Duration,
    ) -> Option<Duration> {
        let now = Instant::now();
        let q = self.sends_by_sender.entry(sender.to_owned()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return Some(window.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        None
    }
}

/// Shared, lockable state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<State>>);

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A Twilio error answer: status and legacy JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiFailure {
    pub(crate) status: StatusCode,
    pub(crate) code: u32,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl ApiFailure {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        ApiFailure {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `{"code":…,"message":…,"more_info":…,"status":…}`, as the REST API writes it.
    pub(crate) fn body(&self) -> String {
        serde_json::json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        })
        .to_string()
    }

    pub(crate) fn from_fault(fault: &Fault) -> Option<Self> {
        Some(match fault {
            Fault::RateLimited { retry_after } => ApiFailure {
                retry_after: Some(*retry_after),
                ..ApiFailure::new(429, 20429, "Too Many Requests")
            },
            Fault::ServerError => ApiFailure::new(500, 20500, "Internal Server Error"),
            Fault::AuthFailure => {
                ApiFailure::new(401, 20003, "Authentication Error - invalid username")
            }
            Fault::UnknownRecipient => ApiFailure::new(400, 21211, "Invalid 'To' Phone Number"),
            Fault::Error {
                status,
                code,
                message,
            } => ApiFailure::new(*status, *code, message.clone()),
            Fault::Delay(_) | Fault::LostAnswer => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_counts_per_sender() {
        let mut s = State::default();
        let w = Duration::from_secs(60);
        assert_eq!(s.rate_check("+1", 2, w), None);
        assert_eq!(s.rate_check("+1", 2, w), None);
        assert!(s.rate_check("+1", 2, w).is_some());
        assert_eq!(s.rate_check("+2", 2, w), None);
        assert_eq!(s.sid("SM").len(), 34);
    }

    #[test]
    fn failures_have_twilio_bodies() {
        let f = ApiFailure::from_fault(&Fault::AuthFailure).unwrap();
        let body: serde_json::Value = serde_json::from_str(&f.body()).unwrap();
        assert_eq!(body["code"], 20003);
        assert_eq!(body["status"], 401);
        assert_eq!(
            body["more_info"],
            "https://www.twilio.com/docs/errors/20003"
        );
        assert_eq!(ApiFailure::from_fault(&Fault::Delay(Duration::ZERO)), None);
    }
}
