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
    minutes.map(|m| Duration::from_secs(m * 60))
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
mod tests {
    use super::*;
    use ErrorKind::*;
    use Retry::*;

    fn err(code: i64, subcode: Option<i64>) -> ErrorObject {
        ErrorObject {
            message: "m".into(),
            code,
            error_subcode: subcode,
            fbtrace_id: Some("BLBz/WZt8dN".into()),
            ..ErrorObject::default()
        }
    }

    #[test]
    fn code_table() {
        type Row = (i64, Option<i64>, u16, ErrorKind, Retry, &'static str);
        let table: &[Row] = &[
            (4, None, 400, RateLimited, Safe, "4"),
            (17, None, 400, RateLimited, Safe, "17"),
            (32, None, 400, RateLimited, Safe, "32"),
            (613, None, 400, RateLimited, Safe, "613"),
            (80006, None, 400, RateLimited, Safe, "80006"),
            (1, None, 500, Provider, Ambiguous, "1"),
            (2, None, 500, Provider, Ambiguous, "2"),
            (2, Some(2_018_344), 400, Provider, Ambiguous, "2/2018344"),
            (1200, None, 400, Provider, Ambiguous, "1200"),
            (190, None, 400, Unauthenticated, Never, "190"),
            (190, Some(460), 400, Unauthenticated, Never, "190/460"),
            (10, None, 400, PermissionDenied, Never, "10"),
            (
                10,
                Some(1_893_063),
                400,
                PermissionDenied,
                Never,
                "10/1893063",
            ),
            (
                10,
                Some(2_018_278),
                400,
                PolicyViolation,
                Never,
                "10/2018278",
            ),
            (
                10,
                Some(2_018_108),
                400,
                PolicyViolation,
                Never,
                "10/2018108",
            ),
            (
                200,
                Some(2_018_028),
                403,
                PermissionDenied,
                Never,
                "200/2018028",
            ),
            (230, None, 403, PermissionDenied, Never, "230"),
            (299, None, 403, PermissionDenied, Never, "299"),
            (100, Some(2_018_001), 400, NotFound, Never, "100/2018001"),
            (551, Some(1_545_041), 400, NotFound, Never, "551/1545041"),
            (551, None, 400, NotFound, Never, "551"),
            (
                100,
                Some(2_018_109),
                400,
                InvalidMessage,
                Never,
                "100/2018109",
            ),
            (100, None, 400, InvalidMessage, Never, "100"),
            (368, None, 400, PolicyViolation, Never, "368"),
            (199, None, 400, Provider, Never, "199"),
            (199, None, 503, Provider, Ambiguous, "199"),
            (199, None, 429, RateLimited, Safe, "199"),
        ];
        for &(code, sub, status, kind, retry, pcode) in table {
            let e = from_graph(status, &err(code, sub), &HeaderMap::new());
            assert_eq!((e.kind(), e.retry()), (kind, retry), "{code}/{sub:?}");
            assert_eq!(e.provider_code(), Some(pcode));
            assert_eq!(e.provider(), Some("messenger"));
            assert!(e.message().contains("fbtrace_id BLBz/WZt8dN"), "{e}");
        }
    }

    #[test]
    fn source_is_the_graph_error() {
        let e = from_graph(400, &err(190, Some(1_234_567)), &HeaderMap::new());
        let src = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<GraphError>());
        let src = src.expect("source is a GraphError");
        assert_eq!(
            (src.code, src.subcode, src.status),
            (190, Some(1_234_567), 400)
        );
        assert_eq!(src.fbtrace_id.as_deref(), Some("BLBz/WZt8dN"));
    }

    #[test]
    fn retry_after_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(
            "x-business-use-case-usage",
            r#"{"123":[{"type":"messenger","call_count":100,"estimated_time_to_regain_access":3}]}"#
                .parse()
                .unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(180)));
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let e = from_graph(400, &err(613, None), &h);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = from_graph(400, &err(190, None), &h);
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn bodies_without_error_objects() {
        let h = HeaderMap::new();
        let cases = [
            (502, Provider, Ambiguous),
            (429, RateLimited, Safe),
            (401, Unauthenticated, Never),
            (404, Provider, Never),
        ];
        for (status, kind, retry) in cases {
            let e = from_status(status, &h);
            assert_eq!((e.kind(), e.retry()), (kind, retry), "{status}");
        }
    }
}
