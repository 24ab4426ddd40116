use std::time::{Duration, UNIX_EPOCH};

use switchboard_core::Secret;

use super::*;
use crate::signature::user_hash;

const NOW_MS: u64 = 1_767_225_600_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(NOW_MS)
}

fn config(require_identity: bool) -> WebchatConfig {
    WebchatConfig::builder(["https://shop.example"])
        .identity_secret(Secret::new("id-secret"))
        .require_identity(require_identity)
        .session_ttl(Duration::from_secs(3600))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn open(
    channel: &str,
    config: &WebchatConfig,
    req: SessionRequest,
    at: SystemTime,
) -> Result<SessionResponse, Reason> {
    let key = TokenKey::from_bytes([3; 32]);
    SessionIssuer {
        channel,
        config,
        key: &key,
    }
    .open(&req, at)
    .map_err(|e| e.reason())
}

fn verified(user: &str, hash: &str) -> SessionRequest {
    SessionRequest {
        user_id: Some(user.into()),
        user_hash: Some(hash.into()),
        ..SessionRequest::default()
    }
}

fn resume(token: &str) -> SessionRequest {
    SessionRequest {
        token: Some(token.into()),
        ..SessionRequest::default()
    }
}

#[test]
fn anonymous_visitors_get_new_conversations_and_resume_them() {
    let c = config(false);
    let a = open("site", &c, SessionRequest::default(), now()).unwrap_or_else(|r| panic!("{r}"));
    let b = open("site", &c, SessionRequest::default(), now()).unwrap_or_else(|r| panic!("{r}"));
    assert!(a.conversation_id.starts_with(ANONYMOUS_CONVERSATION_PREFIX));
    assert_eq!(a.conversation_id.len(), 5 + 32);
    assert_ne!(a.conversation_id, b.conversation_id);
    assert!(!a.resumed);
    assert_eq!(a.expires_at, (NOW_MS + 3_600_000) as i64);

    let later = now() + Duration::from_secs(1800);
    let r = open("site", &c, resume(&a.token), later).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(r.conversation_id, a.conversation_id);
    assert!(r.resumed);
    assert_eq!(
        r.expires_at,
        (NOW_MS + 1_800_000 + 3_600_000) as i64,
        "sliding expiry"
    );
}

#[test]
fn verified_users_get_one_conversation_on_every_device() {
    let c = config(false);
    let hash = user_hash("id-secret", "u-1842");
    let phone =
        open("site", &c, verified("u-1842", &hash), now()).unwrap_or_else(|r| panic!("{r}"));
    let laptop =
        open("site", &c, verified("u-1842", &hash), now()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(phone.conversation_id, "user:u-1842");
    assert_eq!(laptop.conversation_id, phone.conversation_id);
    let mut again = verified("u-1842", &hash);
    again.token = Some(phone.token.clone());
    let r = open("site", &c, again, now()).unwrap_or_else(|r| panic!("{r}"));
    assert!(r.resumed);
}

#[test]
fn a_wrong_or_missing_hash_is_401() {
    let c = config(false);
    let other = user_hash("id-secret", "u-1843");
    assert_eq!(
        open("site", &c, verified("u-1842", &other), now()).err(),
        Some(Reason::BadUserHash)
    );
    let forged = user_hash("not-the-secret", "u-1842");
    assert_eq!(
        open("site", &c, verified("u-1842", &forged), now()).err(),
        Some(Reason::BadUserHash)
    );
    let mut no_hash = verified("u-1842", "");
    no_hash.user_hash = None;
    assert_eq!(
        open("site", &c, no_hash, now()).err(),
        Some(Reason::BadUserHash)
    );
    let no_secret = WebchatConfig::builder(["https://shop.example"])
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let hash = user_hash("id-secret", "u-1842");
    assert_eq!(
        open("site", &no_secret, verified("u-1842", &hash), now()).err(),
        Some(Reason::BadUserHash)
    );
    let only_hash = SessionRequest {
        user_hash: Some(hash),
        ..SessionRequest::default()
    };
    assert_eq!(
        open("site", &c, only_hash, now()).err(),
        Some(Reason::InvalidRequest)
    );
    assert_eq!(
        open("site", &c, verified(&"u".repeat(257), "00"), now()).err(),
        Some(Reason::InvalidRequest)
    );
}

#[test]
fn expired_and_foreign_tokens_do_not_resume() {
    let c = config(false);
    let a = open("site", &c, SessionRequest::default(), now()).unwrap_or_else(|r| panic!("{r}"));
    let expired_at = now() + Duration::from_secs(3600);
    assert_eq!(
        open("site", &c, resume(&a.token), expired_at).err(),
        Some(Reason::TokenExpired)
    );
    assert_eq!(
        open("shop", &c, resume(&a.token), now()).err(),
        Some(Reason::ForeignToken)
    );
    assert_eq!(
        open("site", &c, resume("wc1.bogus.token"), now()).err(),
        Some(Reason::BadToken)
    );
}

#[test]
fn require_identity_refuses_anonymous_visitors_only() {
    let open_cfg = config(false);
    let strict = config(true);
    assert_eq!(
        open("site", &strict, SessionRequest::default(), now()).err(),
        Some(Reason::IdentityRequired)
    );
    let anon =
        open("site", &open_cfg, SessionRequest::default(), now()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(
        open("site", &strict, resume(&anon.token), now()).err(),
        Some(Reason::IdentityRequired)
    );
    let hash = user_hash("id-secret", "u-1");
    let user =
        open("site", &strict, verified("u-1", &hash), now()).unwrap_or_else(|r| panic!("{r}"));
    let back = open("site", &strict, resume(&user.token), now()).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(back.conversation_id, "user:u-1");
}

#[test]
fn names_are_checked_and_kept_on_resume() {
    let c = config(false);
    let long = SessionRequest {
        name: Some("n".repeat(101)),
        ..SessionRequest::default()
    };
    assert_eq!(
        open("site", &c, long, now()).err(),
        Some(Reason::InvalidRequest)
    );
    let named = SessionRequest {
        name: Some("  Ada ".into()),
        ..SessionRequest::default()
    };
    let a = open("site", &c, named, now()).unwrap_or_else(|r| panic!("{r}"));
    let key = TokenKey::from_bytes([3; 32]);
    let claims = verify_session(&key, "site", &a.token, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.name.as_deref(), Some("Ada"));
    let r = open("site", &c, resume(&a.token), now()).unwrap_or_else(|r| panic!("{r}"));
    let claims = verify_session(&key, "site", &r.token, now()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims.name.as_deref(), Some("Ada"));
}
