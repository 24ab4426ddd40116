//! The only place that knows Twilio's error codes: REST errors (both body formats), delivery
//! failures in status callbacks, and transport failures, mapped to neutral kinds and retry
//! classes.

use std::time::Duration;

use http::StatusCode;
use switchboard_core::model::DeliveryError;
use switchboard_core::{Error, ErrorKind, Retry};

use crate::PROVIDER;
use crate::wire::ApiErrorBody;

/// The neutral kind and retry class of a Twilio error code, when the code is known.
pub(crate) fn classify_code(code: u32) -> Option<(ErrorKind, Retry)> {
    use ErrorKind::*;
    let kind = match code {
        20003 => Unauthenticated,
        20404 => NotFound,
        // API concurrency; queue of one From over 10 h; queue overflow; account MPS; Meta limit.
        20429 | 21611 | 30001 | 63017 | 63018 | 63119 => RateLimited,
        // Invalid To; To unreachable; To not a mobile number; unknown/unreachable handset.
        21211 | 21612 | 21614 | 30003 | 30005 | 30006 => NotFound,
        // Recipient opted out (STOP): only they can lift it.
        21610 => OptedOut,
        // Outside the WhatsApp 24 h window; carrier filtering.
        63016 | 30007 => PolicyViolation,
        // Missing To/From/Body, body too long, bad media URL, no content, too many media,
        // unsupported media type.
        21602 | 21603 | 21604 | 21617 | 21619 | 21620 | 21621 | 21623 | 21626 | 30019 => {
            InvalidMessage
        }
        // Region not enabled; From not message-capable; trial account To unverified.
        21408 | 21606 | 21608 | 20008 => PermissionDenied,
        // Twilio's own failures: may or may not have been delivered.
        20500 | 20503 | 30008 => Provider,
        _ => return None,
    };
    let retry = match kind {
        RateLimited => Retry::Safe,
        Provider => Retry::Ambiguous,
        _ => Retry::Never,
    };
    Some((kind, retry))
}

/// The kind implied by the HTTP status alone, for unknown codes and unparseable bodies.
pub(crate) fn classify_status(status: StatusCode) -> (ErrorKind, Retry) {
    match status.as_u16() {
        401 => (ErrorKind::Unauthenticated, Retry::Never),
        403 => (ErrorKind::PermissionDenied, Retry::Never),
        404 => (ErrorKind::NotFound, Retry::Never),
        429 => (ErrorKind::RateLimited, Retry::Safe),
        400 | 413 | 422 => (ErrorKind::InvalidMessage, Retry::Never),
        500..=599 => (ErrorKind::Provider, Retry::Ambiguous),
        _ => (ErrorKind::Provider, Retry::Never),
    }
}

/// The error for a non-success API answer: `status`, raw `body`, and `Retry-After`, if sent.
pub(crate) fn api_error(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Error {
    let parsed = ApiErrorBody::parse(body);
    let code = parsed.as_ref().and_then(|p| p.code);
    let (mut kind, mut retry) = code
        .and_then(classify_code)
        .unwrap_or_else(|| classify_status(status));
    // The HTTP status wins where it is unambiguous about retrying.
    if status == StatusCode::TOO_MANY_REQUESTS {
        (kind, retry) = (ErrorKind::RateLimited, Retry::Safe);
    } else if status.is_server_error() {
        (kind, retry) = (ErrorKind::Provider, Retry::Ambiguous);
    }
    let message = match &parsed {
        Some(p) if !p.message.is_empty() => format!("HTTP {}: {}", status.as_u16(), p.message),
        _ => format!("[HTTP {}] Failed to execute request", status.as_u16()),
    };
    let mut err = Error::new(kind, message)
        .with_provider(PROVIDER)
        .with_retry(retry);
    err = match code {
        Some(c) => err.with_provider_code(c.to_string()),
        None => err.with_provider_code(format!("http_{}", status.as_u16())),
    };
    match retry_after {
        Some(after) if kind == ErrorKind::RateLimited => err.with_retry_after(after),
        _ => err,
    }
}

/// The error for a request that failed below HTTP.
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    let (kind, retry, what) = if e.is_connect() {
        // Never connected: nothing was written.
        (ErrorKind::Transport, Retry::Safe, "could not connect")
    } else if e.is_timeout() {
        (ErrorKind::Timeout, Retry::Ambiguous, "timed out")
    } else if e.is_builder() {
        (
            ErrorKind::InvalidConfig,
            Retry::Never,
            "could not build request",
        )
    } else {
        // The request may have been written before the connection failed.
        (ErrorKind::Transport, Retry::Ambiguous, "request failed")
    };
    Error::new(kind, format!("Twilio API {what}"))
        .with_provider(PROVIDER)
        .with_retry(retry)
        .with_source(e)
}

/// The neutral error of a failed delivery (`ErrorCode` of a status callback).
pub(crate) fn delivery_error(code: Option<&str>, message: Option<&str>) -> DeliveryError {
    let kind = code
        .and_then(|c| c.parse::<u32>().ok())
        .and_then(classify_code)
        .map_or(ErrorKind::Provider, |(k, _)| k);
    DeliveryError {
        kind,
        code: code.map(str::to_owned),
        message: message.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests;
