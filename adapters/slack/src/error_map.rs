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
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" | "token_expired" => {
            (Unauthenticated, Retry::Never)
        }
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
mod tests {
    use super::*;
    use ErrorKind::*;

    #[test]
    fn every_mapped_code() {
        let table: &[(&str, ErrorKind, Retry)] = &[
            ("ratelimited", RateLimited, Retry::Safe),
            ("rate_limited", RateLimited, Retry::Safe),
            ("message_limit_exceeded", RateLimited, Retry::Safe),
            ("invalid_auth", Unauthenticated, Retry::Never),
            ("not_authed", Unauthenticated, Retry::Never),
            ("token_revoked", Unauthenticated, Retry::Never),
            ("token_expired", Unauthenticated, Retry::Never),
            ("account_inactive", Unauthenticated, Retry::Never),
            ("missing_scope", PermissionDenied, Retry::Never),
            ("not_in_channel", PermissionDenied, Retry::Never),
            ("is_archived", PermissionDenied, Retry::Never),
            ("no_permission", PermissionDenied, Retry::Never),
            ("ekm_access_denied", PermissionDenied, Retry::Never),
            ("access_denied", PermissionDenied, Retry::Never),
            ("posting_to_channel_denied", PermissionDenied, Retry::Never),
            ("team_access_not_granted", PermissionDenied, Retry::Never),
            ("restricted_action", PermissionDenied, Retry::Never),
            (
                "restricted_action_read_only_channel",
                PermissionDenied,
                Retry::Never,
            ),
            (
                "restricted_action_thread_locked",
                PermissionDenied,
                Retry::Never,
            ),
            ("channel_not_found", NotFound, Retry::Never),
            ("user_not_found", NotFound, Retry::Never),
            ("message_not_found", NotFound, Retry::Never),
            ("file_not_found", NotFound, Retry::Never),
            ("user_not_in_channel", NotFound, Retry::Never),
            ("user_not_visible", NotFound, Retry::Never),
            ("user_disabled", NotFound, Retry::Never),
            ("team_not_found", NotFound, Retry::Never),
            ("msg_too_long", InvalidMessage, Retry::Never),
            ("no_text", InvalidMessage, Retry::Never),
            ("invalid_blocks", InvalidMessage, Retry::Never),
            ("invalid_blocks_format", InvalidMessage, Retry::Never),
            ("msg_blocks_too_long", InvalidMessage, Retry::Never),
            ("too_many_attachments", InvalidMessage, Retry::Never),
            ("invalid_arguments", InvalidMessage, Retry::Never),
            ("invalid_arg_name", InvalidMessage, Retry::Never),
            ("invalid_array_arg", InvalidMessage, Retry::Never),
            ("invalid_charset", InvalidMessage, Retry::Never),
            ("invalid_form_data", InvalidMessage, Retry::Never),
            ("invalid_post_type", InvalidMessage, Retry::Never),
            ("invalid_json", InvalidMessage, Retry::Never),
            ("json_not_object", InvalidMessage, Retry::Never),
            ("missing_argument", InvalidMessage, Retry::Never),
            ("invalid_name", InvalidMessage, Retry::Never),
            ("invalid_attachments", InvalidMessage, Retry::Never),
            ("bad_timestamp", InvalidMessage, Retry::Never),
            ("markdown_text_conflict", InvalidMessage, Retry::Never),
            ("alt_txt_too_large", InvalidMessage, Retry::Never),
            ("edit_window_closed", PolicyViolation, Retry::Never),
            ("cant_update_message", PolicyViolation, Retry::Never),
            ("cant_delete_message", PolicyViolation, Retry::Never),
            ("too_many_reactions", PolicyViolation, Retry::Never),
            ("thread_locked", PolicyViolation, Retry::Never),
            ("not_reactable", PolicyViolation, Retry::Never),
            ("file_uploads_disabled", PolicyViolation, Retry::Never),
            ("file_upload_size_restricted", PolicyViolation, Retry::Never),
            ("fatal_error", Provider, Retry::Ambiguous),
            ("request_timeout", Provider, Retry::Ambiguous),
            ("internal_error", Provider, Retry::Ambiguous),
            ("service_unavailable", Provider, Retry::Ambiguous),
            ("something_new", Provider, Retry::Never),
        ];
        for (code, kind, retry) in table {
            assert_eq!(classify(code), (*kind, *retry), "{code}");
            let e = api_error("chat.postMessage", code, None);
            assert_eq!(e.kind(), *kind, "{code}");
            assert_eq!(e.retry(), *retry, "{code}");
            assert_eq!(e.provider_code(), Some(*code));
            assert_eq!(e.provider(), Some("slack"));
        }
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let e = http_status("chat.postMessage", 429, parse_retry_after(Some("7")));
        assert_eq!(e.kind(), RateLimited);
        assert_eq!(e.retry(), Retry::Safe);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.provider_code(), Some("ratelimited"));
        let e = api_error("chat.postMessage", "ratelimited", None);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(Some("x")), None);
    }

    #[test]
    fn statuses() {
        for s in [500, 502, 503, 504] {
            let e = http_status("chat.update", s, None);
            assert_eq!((e.kind(), e.retry()), (Provider, Retry::Ambiguous), "{s}");
        }
        assert_eq!(http_status("m", 401, None).kind(), Unauthenticated);
        assert_eq!(http_status("m", 404, None).retry(), Retry::Never);
    }
}
