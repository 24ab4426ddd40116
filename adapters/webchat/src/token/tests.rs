use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn claims(channel: &str, expires_at: i64) -> SessionClaims {
    SessionClaims {
        channel: channel.into(),
        conversation: "anon:00ff".into(),
        user_id: None,
        name: Some("Ada".into()),
        issued_at: 1_000,
        expires_at,
    }
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[test]
fn a_token_round_trips_and_is_opaque_text() {
    let key = TokenKey::from_bytes([7; 32]);
    let t = issue_session(&key, &claims("site", 10_000));
    assert!(t.starts_with("wc1."), "{t}");
    assert!(
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    );
    let back = verify_session(&key, "site", &t, at(5_000)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, claims("site", 10_000));
}

#[test]
fn altered_foreign_keyed_and_expired_tokens_are_refused() {
    let key = TokenKey::from_bytes([7; 32]);
    let t = issue_session(&key, &claims("site", 10_000));
    let reason = |r: Result<SessionClaims, WebchatError>| r.map(|_| ()).map_err(|e| e.reason());

    let other_key = TokenKey::from_bytes([8; 32]);
    assert_eq!(
        reason(verify_session(&other_key, "site", &t, at(1))),
        Err(Reason::BadToken)
    );

    // Change one character of the claims: the MAC no longer matches.
    let mut altered = t.clone().into_bytes();
    altered[6] = if altered[6] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap_or_default();
    assert_eq!(
        reason(verify_session(&key, "site", &altered, at(1))),
        Err(Reason::BadToken)
    );

    for junk in ["", "wc1", "wc1..", "wu1.e30.AAAA", &"x".repeat(2000)] {
        assert_eq!(
            reason(verify_session(&key, "site", junk, at(1))),
            Err(Reason::BadToken),
            "{junk}"
        );
    }
    assert_eq!(
        reason(verify_session(&key, "shop", &t, at(1))),
        Err(Reason::ForeignToken)
    );
    assert_eq!(
        reason(verify_session(&key, "site", &t, at(10_000))),
        Err(Reason::TokenExpired)
    );
    assert_eq!(reason(verify_session(&key, "site", &t, at(9_999))), Ok(()));
}

#[test]
fn an_upload_reference_is_not_a_session_token() {
    let key = TokenKey::from_bytes([1; 32]);
    let up = UploadClaims {
        channel: "site".into(),
        conversation: "anon:1".into(),
        id: "f1".into(),
        mime_type: "image/png".into(),
        filename: "a.png".into(),
        size: 3,
    };
    let r = issue_upload(&key, &up);
    assert_eq!(verify_upload(&key, "site", "anon:1", &r).ok(), Some(up));
    assert_eq!(
        verify_upload(&key, "site", "anon:2", &r)
            .map_err(|e| e.reason())
            .err(),
        Some(Reason::InvalidRequest)
    );
    assert_eq!(
        verify_session(&key, "site", &r, at(1))
            .map_err(|e| e.reason())
            .err(),
        Some(Reason::BadToken)
    );
}

#[test]
fn keys_hide_themselves_and_differ() {
    let a = TokenKey::random().unwrap_or_else(|e| panic!("{e}"));
    let b = TokenKey::random().unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.0, b.0);
    assert_eq!(format!("{a:?}"), "TokenKey(***)");
    let s = TokenKey::from_secret(&Secret::new("x"));
    assert_eq!(s.0, TokenKey::from_secret(&Secret::new("x")).0);
}
