//! The only place that knows Graph API and Messenger error codes.
//!
//! | code / subcode | kind | retry |
//! |---|---|---|
//! | 4, 17, 32, 341, 613, 80006 | `RateLimited` | `Safe` |
//! | 1, 2, 1200 (temporary) | `Provider` | `Ambiguous` |
//! | 102, 190 | `Unauthenticated` | `Never` |
//! | 10/2018278, 10/2018065 (outside the window), 10/2018108 (not receiving), 368 | `PolicyViolation` | `Never` |
//! | 3, 10, 200–299 | `PermissionDenied` | `Never` |
//! | 100/2018001, 551 | `NotFound` | `Never` |
//! | 100 (other, e.g. 2018109), 506 | `InvalidMessage` | `Never` |
//! | anything else on HTTP 429 | `RateLimited` | `Safe` |
//! | anything else | `Provider` | `Ambiguous` on 5xx or `is_transient`, else `Never` |
//!
//! The error keeps `code/subcode` as its provider code, the `fbtrace_id` in its message, and
//! the whole Graph error object as its source ([`GraphError`]).

use std::fmt;
use std::time::Duration;

use http::HeaderMap;
use switchboard_core::{Error, ErrorKind, Retry};

use crate::PROVIDER;
use crate::wire::ErrorObject;

/// The Graph error object of a failed call, kept as the source of the Switchboard [`Error`]
/// (reach it with `std::error::Error::source` and `downcast_ref`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphError {
    /// The HTTP status.
    pub status: u16,
    /// `error.code`.
    pub code: i64,
    /// `error.error_subcode`.
    pub subcode: Option<i64>,
    /// `error.type`, e.g. `OAuthException`.
    pub error_type: Option<String>,
    /// `error.message`.
    pub message: String,
    /// `error.fbtrace_id`: quote it to Meta support.
    pub fbtrace_id: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} Graph error {}", self.status, self.code)?;
        if let Some(s) = self.subcode {
            write!(f, "/{s}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(t) = &self.fbtrace_id {
            write!(f, " (fbtrace_id {t})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GraphError {}

/// The neutral kind and retry class of a Graph error code.
pub(crate) fn classify(code: i64, subcode: Option<i64>) -> Option<(ErrorKind, Retry)> {
    use ErrorKind::*;
    Some(match (code, subcode) {
        (4 | 17 | 32 | 341 | 613 | 80006, _) => (RateLimited, Retry::Safe),
        (1 | 2 | 1200, _) => (Provider, Retry::Ambiguous),
        (102 | 190, _) => (Unauthenticated, Retry::Never),
        (10, Some(2_018_278 | 2_018_065 | 2_018_108)) | (368, _) => (PolicyViolation, Retry::Never),
        (3 | 10 | 200..=299, _) => (PermissionDenied, Retry::Never),
        (100, Some(2_018_001)) | (551, _) => (NotFound, Retry::Never),
        (100 | 506, _) => (InvalidMessage, Retry::Never),
        _ => return None,
    })
}

/// How long Meta asks us to wait: a `Retry-After` header (seconds) when present, else the largest
/// `estimated_time_to_regain_access` (minutes) in the usage headers.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(secs) = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(secs));
    }
    let mut minutes: Option<u64> = None;
    for name in ["x-business-use-case-usage", "x-page-usage", "x-app-usage"] {
        let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(value) else {
            continue;
        };
        collect_regain(&json, &mut minutes);
    }
    minutes.map(|m| Duration::from_secs(m.saturating_mul(60)))
}

fn collect_regain(v: &serde_json::Value, max: &mut Option<u64>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "estimated_time_to_regain_access" {
                    if let Some(m) = v.as_u64().filter(|m| *m > 0) {
                        *max = Some(max.map_or(m, |old| old.max(m)));
                    }
                } else {
                    collect_regain(v, max);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_regain(i, max)),
        _ => {}
    }
}

/// The Switchboard error for a failed Graph call with a parsed error object.
pub(crate) fn from_graph(status: u16, err: &ErrorObject, headers: &HeaderMap) -> Error {
    let (kind, retry) = classify(err.code, err.error_subcode).unwrap_or_else(|| {
        if status == 429 {
            return (ErrorKind::RateLimited, Retry::Safe);
        }
        let transient = status >= 500 || err.is_transient == Some(true);
        let retry = if transient {
            Retry::Ambiguous
        } else {
            Retry::Never
        };
        (ErrorKind::Provider, retry)
    });
    let code = match err.error_subcode {
        Some(s) => format!("{}/{s}", err.code),
        None => err.code.to_string(),
    };
    let mut message = if err.message.is_empty() {
        format!("Graph error {code}")
    } else {
        err.message.clone()
    };
    if let Some(user) = err.error_user_msg.as_deref().filter(|m| !m.is_empty()) {
        message.push_str(&format!(" ({user})"));
    }
    if let Some(trace) = &err.fbtrace_id {
        message.push_str(&format!(" [fbtrace_id {trace}]"));
    }
    let source = GraphError {
        status,
        code: err.code,
        subcode: err.error_subcode,
        error_type: err.kind.clone(),
        message: err.message.clone(),
        fbtrace_id: err.fbtrace_id.clone(),
    };
    let e = Error::new(kind, message)
        .with_retry(retry)
        .with_provider(PROVIDER)
        .with_provider_code(code)
        .with_source(source);
    with_wait(e, headers)
}

/// Adds the wait Meta asks for to a `RateLimited` error.
fn with_wait(e: Error, headers: &HeaderMap) -> Error {
    match retry_after(headers) {
        Some(after) if e.kind() == ErrorKind::RateLimited => e.with_retry_after(after),
        _ => e,
    }
}

/// The error for a failed call whose body is not a Graph error object.
pub(crate) fn from_status(status: u16, headers: &HeaderMap) -> Error {
    let (kind, retry) = match status {
        429 => (ErrorKind::RateLimited, Retry::Safe),
        401 => (ErrorKind::Unauthenticated, Retry::Never),
        403 => (ErrorKind::PermissionDenied, Retry::Never),
        500..=599 => (ErrorKind::Provider, Retry::Ambiguous),
        _ => (ErrorKind::Provider, Retry::Never),
    };
    let e = Error::new(kind, format!("HTTP {status} without a Graph error body"))
        .with_retry(retry)
        .with_provider(PROVIDER)
        .with_provider_code(format!("http_{status}"));
    with_wait(e, headers)
}

#[cfg(test)]
mod tests;
