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
        ("token_expired", Unauthenticated, Retry::Safe),
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
