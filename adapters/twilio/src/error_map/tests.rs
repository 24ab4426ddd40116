use super::*;
use ErrorKind::*;

#[test]
fn codes_map_to_kinds_and_retry_classes() {
    let table: &[(u32, ErrorKind, Retry)] = &[
        (20003, Unauthenticated, Retry::Never),
        (20404, NotFound, Retry::Never),
        (20429, RateLimited, Retry::Safe),
        (21211, NotFound, Retry::Never),
        (21612, NotFound, Retry::Never),
        (21614, NotFound, Retry::Never),
        (21610, OptedOut, Retry::Never),
        (63016, PolicyViolation, Retry::Never),
        (21617, InvalidMessage, Retry::Never),
        (21619, InvalidMessage, Retry::Never),
        (21620, InvalidMessage, Retry::Never),
        (21408, PermissionDenied, Retry::Never),
        (21606, PermissionDenied, Retry::Never),
        (21608, PermissionDenied, Retry::Never),
        (21611, RateLimited, Retry::Safe),
        (63017, RateLimited, Retry::Safe),
        (30007, PolicyViolation, Retry::Never),
        (30008, Provider, Retry::Ambiguous),
    ];
    for &(code, kind, retry) in table {
        assert_eq!(classify_code(code), Some((kind, retry)), "code {code}");
    }
    assert_eq!(classify_code(99999), None);
}

#[test]
fn api_errors_use_code_then_status() {
    let legacy = br#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","more_info":"https://www.twilio.com/docs/errors/21610","status":400}"#;
    let e = api_error(StatusCode::BAD_REQUEST, legacy, None);
    assert_eq!((e.kind(), e.retry()), (OptedOut, Retry::Never));
    assert_eq!(e.provider_code(), Some("21610"));
    assert_eq!(e.provider(), Some("twilio"));
    assert!(e.message().contains("unsubscribed"), "{e}");

    let problem = br#"{"type":"https://www.twilio.com/docs/api/errors/20003","title":"Authenticate","status":401,"code":20003}"#;
    let e = api_error(StatusCode::UNAUTHORIZED, problem, None);
    assert_eq!(e.kind(), Unauthenticated);
    assert!(e.message().contains("Authenticate"));

    let limited = br#"{"code":20429,"message":"Too Many Requests","status":429}"#;
    let e = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        limited,
        Some(Duration::from_secs(3)),
    );
    assert_eq!((e.kind(), e.retry()), (RateLimited, Retry::Safe));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

    let e = api_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", None);
    assert_eq!((e.kind(), e.retry()), (Provider, Retry::Ambiguous));
    assert_eq!(e.message(), "[HTTP 502] Failed to execute request");
    assert_eq!(e.provider_code(), Some("http_502"));

    let e = api_error(
        StatusCode::NOT_FOUND,
        br#"{"message":"Not Found","code":20404}"#,
        None,
    );
    assert_eq!(e.kind(), NotFound);
    let e = api_error(
        StatusCode::FORBIDDEN,
        br#"{"code":12345,"message":"x"}"#,
        None,
    );
    assert_eq!(e.kind(), PermissionDenied);
}

#[test]
fn every_error_body_in_the_fixtures_maps() {
    let v: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/api_error_responses.json"
    ))
    .unwrap();
    // (case id, kind, provider code, message contains)
    let expect: &[(&str, ErrorKind, &str, &str)] = &[
        (
            "err-legacy-20001-with-details",
            InvalidMessage,
            "20001",
            "Bad request",
        ),
        (
            "err-legacy-20001-java",
            InvalidMessage,
            "20001",
            "Bad request",
        ),
        ("err-legacy-81022-string", Provider, "81022", "test"),
        (
            "err-legacy-malformed-json",
            Provider,
            "http_200",
            "[HTTP 200] Failed to execute request",
        ),
        ("err-legacy-81022-details", Provider, "81022", "test"),
        (
            "err-legacy-20001-no-status",
            InvalidMessage,
            "20001",
            "Invalid parameter",
        ),
        ("err-legacy-20404-string", NotFound, "20404", "Not Found"),
        (
            "err-non-json-500",
            Provider,
            "http_500",
            "[HTTP 500] Failed to execute request",
        ),
        (
            "err-rfc9457-minimal",
            InvalidMessage,
            "20001",
            "Invalid parameter",
        ),
        (
            "err-rfc9457-full",
            InvalidMessage,
            "20001",
            "Validation Error: Request validation failed",
        ),
        (
            "err-rfc9457-malformed",
            InvalidMessage,
            "http_400",
            "[HTTP 400] Failed to execute request",
        ),
    ];
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), expect.len());
    for (case, (id, kind, code, text)) in cases.iter().zip(expect) {
        assert_eq!(case["id"], *id);
        let body = match case["raw_body"].as_str() {
            Some(raw) => raw.as_bytes().to_vec(),
            None => serde_json::to_vec(&case["body"]).unwrap(),
        };
        let status = StatusCode::from_u16(case["http_status"].as_u64().unwrap() as u16).unwrap();
        let e = api_error(status, &body, None);
        assert_eq!(e.kind(), *kind, "{id}");
        assert_eq!(e.provider_code(), Some(*code), "{id}");
        assert!(e.message().contains(text), "{id}: {e}");
    }
    // Every catalogued code the issue names has a kind; unknown ones fall back to status.
    for row in v["error_code_catalogue"].as_array().unwrap() {
        let code = row["code"].as_u64().unwrap() as u32;
        let known = classify_code(code).is_some();
        let expected_known = ![11200, 12300, 57012].contains(&code);
        assert_eq!(known, expected_known, "code {code}");
    }
}

#[test]
fn delivery_errors_use_the_same_kinds() {
    let d = delivery_error(Some("63016"), None);
    assert_eq!(d.kind, PolicyViolation);
    assert_eq!(d.code.as_deref(), Some("63016"));
    assert_eq!(
        delivery_error(Some("30003"), Some("Unreachable")).kind,
        NotFound
    );
    assert_eq!(delivery_error(Some("garbage"), None).kind, Provider);
    assert_eq!(delivery_error(None, None).kind, Provider);
}
