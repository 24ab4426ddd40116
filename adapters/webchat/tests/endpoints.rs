//! The protocol's endpoints through `WebchatAdapter::handle`, as a browser calls them: each bad
//! input gets its status and reason and reaches no handler; good input becomes events.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;
use switchboard_core::model::{ActionSource, DeliveryStatus};
use switchboard_core::{Adapter, EventKind, RejectReason, WebhookRequest};
use switchboard_webchat::signature::user_hash;
use switchboard_webchat::token::{UploadClaims, issue_upload};
use switchboard_webchat::wire::{Event, MessageAccepted, Role};
use switchboard_webchat::{Handled, TokenKey, WebchatAdapter};

fn reason(h: &Handled) -> String {
    let body: Value = h.reply.body_as().unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

fn refused(h: &Handled, status: u16, why: &str) {
    assert_eq!(h.reply.status, status, "{:?}", h.reply);
    assert_eq!(reason(h), why, "{:?}", h.reply);
    assert!(
        h.events.is_empty() && h.echo.is_none(),
        "a refused request reaches no handler"
    );
}

#[test]
fn a_wrong_user_hash_is_401() {
    let a = adapter("site", "");
    let wrong = user_hash("not-the-secret", "u-1");
    let h = a.handle(&post(
        "site",
        "sessions",
        &format!(r#"{{"user_id":"u-1","user_hash":"{wrong}"}}"#),
    ));
    refused(&h, 401, "bad_user_hash");
    let right = user_hash(IDENTITY_SECRET, "u-1");
    let s = session(&a, &format!(r#"{{"user_id":"u-1","user_hash":"{right}"}}"#));
    assert_eq!(s.conversation_id, "user:u-1");
}

#[test]
fn the_longest_verified_session_is_accepted_with_its_own_token() {
    let a = adapter("site", "");
    // 256 bytes of quotes (each escaped in the token's JSON, twice) and 100 four-byte chars.
    let user_id = "\"".repeat(256);
    let name = "\u{1d11e}".repeat(100);
    let hash = user_hash(IDENTITY_SECRET, &user_id);
    let body = serde_json::json!({"user_id": user_id, "user_hash": hash, "name": name});
    let s = session(&a, &body.to_string());
    assert!(s.token.len() > 1024, "{}", s.token.len());
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c-1","text":"hi"}"#,
    ));
    assert_eq!(h.reply.status, 202, "{:?}", h.error);
}

#[test]
fn an_expired_token_is_401() {
    let a = adapter("site", "session_ttl = '1h'");
    let old = session_at(&a, SystemTime::now() - Duration::from_secs(7200));
    let h = a.handle(&post_as(
        &old.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    refused(&h, 401, "token_expired");
    let h = a.handle(&post(
        "site",
        "sessions",
        &format!(r#"{{"token":"{}"}}"#, old.token),
    ));
    refused(&h, 401, "token_expired");
}

#[test]
fn a_token_of_another_channel_is_401_even_with_the_same_key() {
    let key = TokenKey::from_bytes([9; 32]);
    let a = adapter("site", "").with_token_key(key.clone());
    let b = adapter("shop", "").with_token_key(key);
    let s = session(&a, "{}");
    let h = b.handle(&post_as(
        &s.token,
        "shop",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    refused(&h, 401, "foreign_token");
    let h = b.handle(&post(
        "shop",
        "sessions",
        &format!(r#"{{"token":"{}"}}"#, s.token),
    ));
    refused(&h, 401, "foreign_token");
}

#[test]
fn missing_and_altered_tokens_are_401() {
    let a = adapter("site", "");
    let h = a.handle(&post(
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    refused(&h, 401, "missing_token");
    let s = session(&a, "{}");
    let mut t = s.token.into_bytes();
    t[10] ^= 1;
    let h = a.handle(&post_as(
        &String::from_utf8(t).unwrap(),
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    refused(&h, 401, "bad_token");
    let other = adapter("site", "");
    let s = session(&other, "{}");
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    refused(&h, 401, "bad_token");
}

#[test]
fn an_oversized_message_is_413() {
    let a = adapter("site", "max_message_bytes = 10");
    let s = session(&a, "{}");
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"12345678901"}"#,
    ));
    refused(&h, 413, "message_too_large");
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"1234567890"}"#,
    ));
    assert_eq!(h.reply.status, 202);
    let huge = format!(
        r#"{{"client_id":"c2","text":"x","pad":"{}"}}"#,
        "p".repeat(17 * 1024)
    );
    let h = a.handle(&post_as(&s.token, "site", "messages", &huge));
    refused(&h, 413, "message_too_large");
}

#[test]
fn a_foreign_origin_is_403_on_every_endpoint() {
    let a = adapter("site", "");
    let s = session(&a, "{}");
    for (endpoint, body) in [
        ("sessions", "{}"),
        ("messages", r#"{"client_id":"c1","text":"hi"}"#),
        ("typing", "{}"),
        ("read", r#"{"seq":1}"#),
    ] {
        let mut r = post_as(&s.token, "site", endpoint, body);
        r.headers
            .insert("origin", "https://evil.example".parse().unwrap());
        let h = a.handle(&r);
        refused(&h, 403, "origin_not_allowed");
        assert!(h.reply.headers.get("access-control-allow-origin").is_none());
    }
    let pre = WebhookRequest {
        method: http::Method::OPTIONS,
        ..post("site", "messages", "")
    };
    let mut evil = pre.clone();
    evil.headers
        .insert("origin", "https://evil.example".parse().unwrap());
    refused(&a.handle(&evil), 403, "origin_not_allowed");
    let ok = a.handle(&pre);
    assert_eq!(ok.reply.status, 204);
    assert_eq!(ok.reply.headers["access-control-allow-origin"], ORIGIN);
    assert!(
        ok.reply.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Last-Event-ID")
    );
}

#[test]
fn malformed_bodies_and_routes() {
    let a = adapter("site", "");
    let s = session(&a, "{}");
    let m = |body: &str| a.handle(&post_as(&s.token, "site", "messages", body));
    refused(&m("{not json"), 400, "malformed_json");
    refused(&m(r#"{"text":"no client id"}"#), 400, "malformed_json");
    refused(
        &m(r#"{"client_id":"has space","text":"x"}"#),
        400,
        "invalid_request",
    );
    refused(&m(r#"{"client_id":"c1"}"#), 400, "invalid_request");
    refused(
        &m(r#"{"client_id":"c1","text":"   "}"#),
        400,
        "invalid_request",
    );
    refused(
        &m(r#"{"client_id":"c1","text":"x","action":{"payload":"P"}}"#),
        400,
        "invalid_request",
    );
    refused(
        &m(r#"{"client_id":"c1","action":{"payload":""}}"#),
        400,
        "invalid_request",
    );
    refused(
        &m(r#"{"client_id":"c1","attachments":[{"upload":"wu1.bad.ref"}]}"#),
        401,
        "bad_token",
    );

    let mut plain = post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"x"}"#,
    );
    plain
        .headers
        .insert("content-type", "text/plain".parse().unwrap());
    refused(&a.handle(&plain), 415, "unsupported_media_type");
    let mut v2 = post("site", "sessions", "{}");
    v2.headers.insert("webchat-protocol", "2".parse().unwrap());
    refused(&a.handle(&v2), 400, "unsupported_version");
    refused(&a.handle(&post("site", "nope", "{}")), 404, "not_found");
    refused(&a.handle(&post("shop", "sessions", "{}")), 404, "not_found");
    let get = WebhookRequest::get(url("site", "sessions")).with_header("origin", ORIGIN);
    refused(&a.handle(&get), 405, "method_not_allowed");
}

#[test]
fn retries_of_one_client_id_get_the_same_ids() {
    let a = adapter("site", "");
    let s = session(&a, r#"{"name":"Ada"}"#);
    let send = || {
        a.handle(&post_as(
            &s.token,
            "site",
            "messages",
            r#"{"client_id":"c-1","text":"Where is my order?"}"#,
        ))
    };
    let (first, retry) = (send(), send());
    assert_eq!(first.reply.status, 202);
    assert_eq!(first.reply.headers["webchat-protocol"], "1");
    assert_eq!(first.reply.headers["access-control-allow-origin"], ORIGIN);
    let id = first.reply.body_as::<MessageAccepted>().unwrap().id;
    assert_eq!(retry.reply.body_as::<MessageAccepted>().unwrap().id, id);
    assert_eq!(
        first.events[0].id, retry.events[0].id,
        "the inbox deduplicates on the event id"
    );
    let ev = &first.events[0];
    assert_eq!(ev.id.as_str(), format!("{}/c-1", s.conversation_id));
    assert_eq!(ev.text(), Some("Where is my order?"));
    assert_eq!(ev.sender.name.as_deref(), Some("Ada"));
    assert!(!ev.sender.is_bot);
    assert_eq!(ev.attributes["webchat.client_id"], "c-1");
    assert_eq!(ev.attributes["webchat.verified"], "false");
    let Some(Event::Message(echo)) = &first.echo else {
        panic!("no echo")
    };
    assert_eq!(
        (echo.id.as_str(), echo.from.role, echo.client_id.as_deref()),
        (id.as_str(), Role::Visitor, Some("c-1"))
    );
    let other = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c-2","text":"again"}"#,
    ));
    assert_ne!(other.reply.body_as::<MessageAccepted>().unwrap().id, id);
}

#[test]
fn actions_typing_and_reads_become_events() {
    let a = adapter("site", "");
    let s = session(&a, "{}");
    let h = a.handle(&post_as(&s.token, "site", "messages",
        r#"{"client_id":"c1","action":{"payload":"ORDER_1","label":"Order 1","message_id":"m-1","source":"quick_reply"}}"#));
    assert_eq!(h.reply.status, 202);
    let EventKind::Action(act) = &h.events[0].kind else {
        panic!("{:?}", h.events)
    };
    assert_eq!(
        (act.payload.as_str(), act.source, act.label.as_deref()),
        ("ORDER_1", ActionSource::QuickReply, Some("Order 1"))
    );
    assert_eq!(act.message.as_ref().map(|m| m.as_str()), Some("m-1"));

    let t = a.handle(&post_as(&s.token, "site", "typing", ""));
    assert_eq!(t.reply.status, 204);
    assert!(matches!(t.events[0].kind, EventKind::Typing));
    let stop = a.handle(&post_as(&s.token, "site", "typing", r#"{"active":false}"#));
    assert!(stop.events.is_empty());

    let r = a.handle(&post_as(&s.token, "site", "read", r#"{"seq":42}"#));
    assert_eq!(r.reply.status, 204);
    let EventKind::Delivery(d) = &r.events[0].kind else {
        panic!()
    };
    assert_eq!(d.status, DeliveryStatus::Read);
    assert_eq!(r.events[0].attributes["webchat.read_seq"], "42");
    assert!(
        matches!(r.echo, Some(Event::Receipt(ref e)) if e.up_to == 42 && e.by == Role::Visitor)
    );
}

#[test]
fn attachments_are_upload_references_of_the_same_conversation() {
    let key = TokenKey::from_bytes([5; 32]);
    let a = adapter("site", "").with_token_key(key.clone());
    let s = session(&a, "{}");
    let mine = issue_upload(
        &key,
        &UploadClaims {
            channel: "site".into(),
            conversation: s.conversation_id.clone(),
            id: "f-1".into(),
            mime_type: "image/png".into(),
            filename: "receipt.png".into(),
            size: 3,
        },
    );
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        &format!(
            r#"{{"client_id":"c1","text":"the receipt","attachments":[{{"upload":"{mine}"}}]}}"#
        ),
    ));
    assert_eq!(h.reply.status, 202, "{:?}", h.reply);
    let EventKind::Message(m) = &h.events[0].kind else {
        panic!()
    };
    assert_eq!(
        m.attachments[0].url.as_deref(),
        Some("https://chat.example/webchat/site/uploads/f-1")
    );
    assert_eq!(m.attachments[0].filename.as_deref(), Some("receipt.png"));
    let theirs = issue_upload(
        &key,
        &UploadClaims {
            channel: "site".into(),
            conversation: "anon:someone-else".into(),
            id: "f-2".into(),
            mime_type: "image/png".into(),
            filename: "x.png".into(),
            size: 3,
        },
    );
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        &format!(r#"{{"client_id":"c2","attachments":[{{"upload":"{theirs}"}}]}}"#),
    ));
    refused(&h, 400, "invalid_request");
}

#[test]
fn verified_sessions_mark_their_events() {
    let a = adapter("site", "require_identity = true");
    refused(
        &a.handle(&post("site", "sessions", "{}")),
        401,
        "identity_required",
    );
    let hash = user_hash(IDENTITY_SECRET, "u-7");
    let s = session(
        &a,
        &format!(r#"{{"user_id":"u-7","user_hash":"{hash}","name":"Grace"}}"#),
    );
    let h = a.handle(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    assert_eq!(h.events[0].sender.id.as_str(), "u-7");
    assert_eq!(h.events[0].attributes["webchat.verified"], "true");
}

#[test]
fn the_generic_webhook_path_maps_refusals() {
    let a: WebchatAdapter = adapter("site", "");
    let s = session(&a, "{}");
    let ok = a.handle_webhook(&post_as(
        &s.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    assert_eq!(ok.response().status, 202);
    assert_eq!(ok.accepted_events().map(<[_]>::len), Some(1));
    let expired = session_at(&a, SystemTime::now() - Duration::from_secs(40 * 86_400));
    let stale = a.handle_webhook(&post_as(
        &expired.token,
        "site",
        "messages",
        r#"{"client_id":"c1","text":"hi"}"#,
    ));
    assert_eq!(
        stale.rejection().map(|r| r.reason),
        Some(RejectReason::StaleTimestamp)
    );
    let mut evil = post("site", "sessions", "{}");
    evil.headers
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(
        a.handle_webhook(&evil).rejection().map(|r| r.reason),
        Some(RejectReason::Forbidden)
    );
}

#[test]
fn visitors_and_new_sessions_are_rate_limited_with_retry_after() {
    let a = adapter("site", "visitor_rate = { per_second = 1.0, burst = 3 }");
    let s = session(&a, "{}");
    let m = |i: usize| {
        a.handle(&post_as(
            &s.token,
            "site",
            "messages",
            &format!(r#"{{"client_id":"c{i}","text":"hi"}}"#),
        ))
    };
    for i in 0..3 {
        assert_eq!(m(i).reply.status, 202, "request {i} of the burst");
    }
    let over = m(3);
    refused(&over, 429, "rate_limited");
    assert_eq!(over.reply.headers["retry-after"], "1");
    let other = session(&a, "{}");
    let h = a.handle(&post_as(&other.token, "site", "typing", ""));
    assert_eq!(h.reply.status, 204, "another visitor has its own budget");

    let ip: std::net::IpAddr = [198, 51, 100, 7].into();
    let new_session = || a.handle_from(&post("site", "sessions", "{}"), ip);
    for _ in 0..switchboard_webchat::SESSIONS_PER_IP_BURST {
        assert_eq!(new_session().reply.status, 200);
    }
    let h = new_session();
    refused(&h, 429, "rate_limited");
    assert_eq!(h.reply.headers["retry-after"], "6");
}

#[test]
fn events_keep_the_body_as_sent() {
    let a = adapter("site", "");
    let s = session(&a, "{}");
    let body = r#"{"client_id":"c1","text":"hi","widget_version":"1.2"}"#;
    let h = a.handle(&post_as(&s.token, "site", "messages", body));
    assert_eq!(h.events[0].raw["widget_version"], "1.2");
}
