//! The only place that knows Slack's error codes: `{"ok":false,"error":"…"}`, HTTP statuses and
//! transport failures, mapped to Switchboard's [`Error`] kinds and retry classes.

use std::time::Duration;

use switchboard_core::{Error, ErrorKind, Retry};

use crate::PROVIDER;

/// The kind and retry class of a Slack `error` code returned with `ok: false`.
///
/// Codes Slack returns in an HTTP 200 were refused before anything was posted, so they are
/// `Never` retried unless the code itself says otherwise (rate limits: `Safe`; `fatal_error`,
/// `request_timeout`, `internal_error`: `Ambiguous`).
pub(crate) fn classify(code: &str) -> (ErrorKind, Retry) {
    use ErrorKind::*;
    match code {
        "ratelimited" | "rate_limited" | "message_limit_exceeded" => (RateLimited, Retry::Safe),
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            (Unauthenticated, Retry::Never)
        }
        // A rotating token that expired: refused before anything was posted, and the next
        // attempt refreshes it first (multi-workspace channels), so trying again is safe.
        "token_expired" => (Unauthenticated, Retry::Safe),
        "missing_scope"
        | "not_in_channel"
        | "is_archived"
        | "no_permission"
        | "ekm_access_denied"
        | "access_denied"
        | "posting_to_channel_denied"
        | "team_access_not_granted" => (PermissionDenied, Retry::Never),
        c if c.starts_with("restricted_action") => (PermissionDenied, Retry::Never),
        "channel_not_found"
        | "user_not_found"
        | "message_not_found"
        | "file_not_found"
        | "user_not_in_channel"
        | "user_not_visible"
        | "user_disabled"
        | "team_not_found" => (NotFound, Retry::Never),
        "msg_too_long"
        | "no_text"
        | "msg_blocks_too_long"
        | "too_many_attachments"
        | "invalid_arguments"
        | "invalid_arg_name"
        | "invalid_array_arg"
        | "invalid_charset"
        | "invalid_form_data"
        | "invalid_post_type"
        | "invalid_json"
        | "json_not_object"
        | "missing_argument"
        | "invalid_name"
        | "invalid_attachments"
        | "bad_timestamp"
        | "markdown_text_conflict"
        | "alt_txt_too_large" => (InvalidMessage, Retry::Never),
        c if c.starts_with("invalid_blocks") => (InvalidMessage, Retry::Never),
        "edit_window_closed"
        | "cant_update_message"
        | "cant_delete_message"
        | "too_many_reactions"
        | "thread_locked"
        | "not_reactable"
        | "file_uploads_disabled"
        | "file_upload_size_restricted" => (PolicyViolation, Retry::Never),
        "fatal_error" | "request_timeout" | "internal_error" | "service_unavailable" => {
            (Provider, Retry::Ambiguous)
        }
        _ => (Provider, Retry::Never),
    }
}

/// The error for a Slack `ok: false` answer to `method`.
pub(crate) fn api_error(method: &str, code: &str, retry_after: Option<Duration>) -> Error {
    let (kind, retry) = classify(code);
    let mut e = Error::new(kind, format!("{method} failed: {code}"))
        .with_provider(PROVIDER)
        .with_provider_code(code)
        .with_retry(retry);
    if kind == ErrorKind::RateLimited {
        e = e.with_retry_after(retry_after.unwrap_or(Duration::from_secs(1)));
    }
    e
}

/// The error for an HTTP status other than 200 with no usable Slack body.
pub(crate) fn http_status(method: &str, status: u16, retry_after: Option<Duration>) -> Error {
    match status {
        429 => api_error(method, "ratelimited", retry_after),
        500..=599 => Error::new(
            ErrorKind::Provider,
            format!("{method} failed: HTTP {status}"),
        )
        .with_provider(PROVIDER)
        .with_provider_code(status.to_string())
        .with_retry(Retry::Ambiguous),
        401 | 403 => Error::new(
            ErrorKind::Unauthenticated,
            format!("{method} failed: HTTP {status}"),
        )
        .with_provider(PROVIDER)
        .with_provider_code(status.to_string()),
        _ => Error::new(
            ErrorKind::Provider,
            format!("{method} failed: HTTP {status}"),
        )
        .with_provider(PROVIDER)
        .with_provider_code(status.to_string())
        .with_retry(Retry::Never),
    }
}

/// The error for a transport failure. A connection that was never made is `Safe`; a timeout or
/// a failure after the request may have been written is `Ambiguous`.
pub(crate) fn transport(method: &str, err: reqwest::Error) -> Error {
    let (kind, retry, what) = if err.is_connect() {
        (ErrorKind::Transport, Retry::Safe, "could not connect")
    } else if err.is_timeout() {
        (ErrorKind::Timeout, Retry::Ambiguous, "timed out")
    } else if err.is_builder() {
        (
            ErrorKind::InvalidMessage,
            Retry::Never,
            "could not build the request",
        )
    } else {
        (ErrorKind::Transport, Retry::Ambiguous, "connection failed")
    };
    Error::new(kind, format!("{method}: {what}"))
        .with_provider(PROVIDER)
        .with_retry(retry)
        .with_source(err)
}

/// The error for a body Slack should not have sent.
pub(crate) fn bad_response(method: &str, detail: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Provider,
        format!("{method}: unexpected response: {detail}"),
    )
    .with_provider(PROVIDER)
    .with_retry(Retry::Ambiguous)
}

/// `Retry-After` in seconds, as Slack sends it.
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests;
