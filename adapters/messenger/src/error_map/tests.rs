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

/// Issue 15, item 13: a huge `Retry-After` or regain estimate never panics and is cut to the
/// longest wait an error carries.
#[test]
fn hostile_retry_after_never_panics() {
    let max = switchboard_core::error::MAX_RETRY_AFTER;
    let mut h = HeaderMap::new();
    h.insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("18446744073709551615"),
    );
    let e = Error::new(RateLimited, "x").with_retry_after(retry_after(&h).unwrap_or_default());
    assert_eq!(e.retry_after(), Some(max));
    for v in ["-1", "NaN", "1e300", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static(v));
        let _ = retry_after(&h);
    }
    let mut h = HeaderMap::new();
    h.insert(
        "x-app-usage",
        http::HeaderValue::from_static(
            r#"{"estimated_time_to_regain_access":18446744073709551615}"#,
        ),
    );
    assert!(retry_after(&h).is_some(), "no overflow panic");
}
