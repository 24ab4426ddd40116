use std::time::{Duration, SystemTime};

use super::*;
use crate::adapter::Adapter;
use crate::capabilities::{Capabilities, LengthUnit, TextLimit};
use crate::error::{ErrorKind, Retry};
use crate::model::{ChannelName, ConversationRef, OutboundMessage};
use crate::webhook::{RejectReason, WebhookRequest};

fn adapter() -> MemoryAdapter {
    MemoryAdapter::new(
        ChannelName::new("mem").unwrap_or_else(|e| panic!("{e}")),
        Secret::new("s3cret"),
    )
}

fn to() -> ConversationRef {
    ConversationRef::parse("mem", "C1").unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn send_records_rendered_parts() {
    let a = adapter();
    let msg = OutboundMessage::builder()
        .text("**hi**")
        .button("Yes", "Y")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let receipt = a.send(&to(), &msg).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(receipt.messages.len(), 1);
    let sent = a.sent();
    assert_eq!(sent[0].text, "*hi*");
    assert_eq!(sent[0].actions.len(), 1);
    assert_eq!(sent[0].id, receipt.messages[0].id);
}

#[tokio::test]
async fn staged_failures_come_back_and_count_as_requests() {
    let a = adapter();
    a.fail_next(faults::rate_limited(Duration::from_secs(2)));
    let msg = OutboundMessage::text("x").unwrap_or_else(|e| panic!("{e}"));
    let err = a
        .send(&to(), &msg)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected failure"));
    assert_eq!(
        (err.kind(), err.retry(), err.retry_after()),
        (
            ErrorKind::RateLimited,
            Retry::Safe,
            Some(Duration::from_secs(2))
        )
    );
    assert_eq!(a.requests(), 1);
    assert!(a.sent().is_empty());
    assert!(a.send(&to(), &msg).await.is_ok());
}

#[tokio::test]
async fn failure_after_first_part_is_partial_and_ambiguous() {
    let caps = Capabilities {
        text: TextLimit {
            max: 10,
            unit: LengthUnit::Chars,
        },
        ..default_capabilities()
    };
    let a = adapter().with_capabilities(caps);
    let msg = OutboundMessage::text("aaaa bbbb cccc dddd").unwrap_or_else(|e| panic!("{e}"));
    a.pass_next();
    a.fail_next(faults::rate_limited(Duration::from_secs(1)));
    let err = a
        .send(&to(), &msg)
        .await
        .err()
        .unwrap_or_else(|| panic!("expected failure"));
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(
        err.retry(),
        Retry::Ambiguous,
        "resending the whole message would repeat part 1"
    );
    assert_eq!(err.partial().len(), 1);
    assert_eq!(a.sent().len(), 1);
    assert_eq!(a.sent()[0].text, "aaaa bbbb");
}

#[test]
fn webhook_verifies_and_decodes() {
    let a = adapter();
    let req = a.signed_request(
        "http://127.0.0.1/webhooks/mem",
        &[MemoryInbound::message("e1", "C1", "U1", "hello")],
    );
    let out = a.handle_webhook(&req);
    let events = out.accepted_events().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id.as_str(), "e1");
    assert_eq!(events[0].text(), Some("hello"));

    let mut tampered = req.clone();
    tampered.body = bytes::Bytes::from_static(
        b"[{\"id\":\"e1\",\"conversation\":\"C1\",\"sender\":\"U1\",\"text\":\"HELLO\"}]",
    );
    assert_eq!(
        a.handle_webhook(&tampered).rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );

    let stale = req
        .clone()
        .received_at(SystemTime::now() + Duration::from_secs(301));
    assert_eq!(
        a.handle_webhook(&stale).rejection().map(|r| r.reason),
        Some(RejectReason::StaleTimestamp)
    );

    let missing = WebhookRequest::post("http://127.0.0.1/webhooks/mem", req.body.clone());
    assert_eq!(
        a.handle_webhook(&missing).rejection().map(|r| r.reason),
        Some(RejectReason::MissingSignature)
    );
}

#[test]
fn handshake_echoes_challenge() {
    let out = adapter().handle_webhook(&WebhookRequest::get(
        "http://127.0.0.1/webhooks/mem?challenge=abc",
    ));
    assert_eq!(out.response().body, bytes::Bytes::from_static(b"abc"));
}

#[test]
fn debug_hides_the_secret() {
    let dbg = format!("{:?}", adapter());
    assert!(!dbg.contains("s3cret"), "{dbg}");
}
