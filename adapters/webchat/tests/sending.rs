//! Outbound through the `Adapter` trait: sends become `message` records in the log (buttons
//! kept native, keyed sends appended once), edits and deletes new records about the same id,
//! typing an ephemeral event.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;

use switchboard_core::model::{Attachment, AttachmentKind};
use switchboard_core::{Adapter, ConversationRef, ErrorKind, MessageRef, OutboundMessage};
use switchboard_webchat::wire::{Button, Event, Role};
use switchboard_webchat::{MemoryLog, WebchatAdapter, WebchatAuthor};

fn setup() -> (WebchatAdapter, Arc<MemoryLog>, ConversationRef) {
    let log = Arc::new(MemoryLog::new());
    let adapter = common::adapter("site", "").with_log(log.clone());
    let to = ConversationRef::parse("site", "anon:0123").unwrap();
    (adapter, log, to)
}

fn messages(
    log: &MemoryLog,
    to: &ConversationRef,
) -> Vec<(u64, switchboard_webchat::wire::MessageEvent)> {
    log.records(to)
        .into_iter()
        .filter_map(|r| match r.event {
            Event::Message(m) => Some((r.seq, m)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_send_is_one_record_with_native_buttons() {
    let (a, log, to) = setup();
    let msg = OutboundMessage::builder()
        .text("Which order?")
        .button("Order 1", "ORDER_1")
        .quick_reply("Other", "OTHER")
        .attachment(Attachment::url(
            AttachmentKind::Video,
            "https://shop.example/v.mp4",
        ))
        .extension(&WebchatAuthor {
            role: Role::Agent,
            name: Some("Sam".into()),
        })
        .build()
        .unwrap();
    let receipt = a.send(&to, &msg).await.unwrap();
    assert_eq!(receipt.messages.len(), 1);
    let got = messages(&log, &to);
    assert_eq!(got.len(), 1);
    let (seq, m) = &got[0];
    assert_eq!(*seq, 1);
    assert_eq!(m.id, receipt.messages[0].id.as_str());
    assert_eq!(m.from.role, Role::Agent);
    assert_eq!(
        m.buttons,
        [Button::Postback {
            label: "Order 1".into(),
            payload: "ORDER_1".into()
        }]
    );
    assert_eq!(m.quick_replies[0].payload, "OTHER");
    assert_eq!(m.attachments[0].kind, AttachmentKind::Video);
}

#[tokio::test]
async fn a_keyed_send_repeated_appends_nothing_new() {
    let (a, log, to) = setup();
    let msg = OutboundMessage::builder()
        .text("word ".repeat(1500))
        .idempotency_key("site:ev1:0")
        .build()
        .unwrap();
    let first = a.send(&to, &msg).await.unwrap();
    let again = a.send(&to, &msg).await.unwrap();
    assert!(first.messages.len() >= 2);
    assert_eq!(
        first
            .messages
            .iter()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>(),
        again
            .messages
            .iter()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        log.records(&to).len(),
        first.messages.len(),
        "the retry appended nothing"
    );
    assert!(a.info().capabilities.idempotent_sends);
}

#[tokio::test]
async fn files_sent_as_bytes_are_kept_once_and_capped_by_upload_max_bytes() {
    let log = Arc::new(MemoryLog::new());
    let a = common::adapter("site", "upload_max_bytes = 1000").with_log(log.clone());
    let to = ConversationRef::parse("site", "anon:0123").unwrap();
    let msg = OutboundMessage::builder()
        .text("Your invoice")
        .attachment(Attachment::bytes(
            vec![9_u8; 1000],
            "application/pdf",
            "invoice.pdf",
        ))
        .idempotency_key("send-1")
        .build()
        .unwrap();
    a.send(&to, &msg).await.unwrap();
    let got = messages(&log, &to);
    let shown = &got[0].1.attachments[0];
    let id = shown.url.strip_prefix("/webchat/site/uploads/").unwrap();
    assert_eq!(id.len(), 32, "{}", shown.url);
    assert_eq!(shown.filename.as_deref(), Some("invoice.pdf"));
    let (of, file) = log.file(id).unwrap();
    assert_eq!((of, file.data.len()), (to.clone(), 1000));
    // A retried send (after a crash) keeps the same file and appends nothing.
    a.send(&to, &msg).await.unwrap();
    assert_eq!(messages(&log, &to).len(), 1);
    assert_eq!(messages(&log, &to)[0].1.attachments[0].url, shown.url);
    // One byte over the cap: refused to the sender, nothing shown.
    let big = OutboundMessage::builder()
        .attachment(Attachment::bytes(
            vec![9_u8; 1001],
            "application/pdf",
            "big.pdf",
        ))
        .build()
        .unwrap();
    let e = a.send(&to, &big).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e}");
    assert!(e.to_string().contains("upload_max_bytes"), "{e}");
    assert_eq!(messages(&log, &to).len(), 1);
}

#[tokio::test]
async fn edits_deletes_and_typing() {
    let (a, log, to) = setup();
    let sent = a
        .send(&to, &OutboundMessage::text("v1").unwrap())
        .await
        .unwrap();
    let target = MessageRef::new(to.clone(), sent.messages[0].id.clone());
    a.edit(&target, &OutboundMessage::text("v2").unwrap())
        .await
        .unwrap();
    a.delete(&target).await.unwrap();
    let got = messages(&log, &to);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, m)| m.id == target.id.as_str()));
    assert!(got[1].1.edited && got[1].1.text.as_deref() == Some("v2"));
    assert!(got[2].1.deleted && got[2].1.text.is_none());
    let long = OutboundMessage::text("word ".repeat(1500)).unwrap();
    assert_eq!(
        a.edit(&target, &long).await.err().map(|e| e.kind()),
        Some(ErrorKind::InvalidMessage)
    );

    a.typing(&to).await.unwrap();
    assert_eq!(log.records(&to).len(), 3, "typing is not logged");
    assert!(
        matches!(log.published(&to).as_slice(), [Event::Typing(t)] if t.active && t.from.role == Role::Bot)
    );
    assert_eq!(
        a.react(&target, "thumbsup", true)
            .await
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
}

#[test]
fn the_protocol_document_is_shipped_and_versioned() {
    assert!(
        switchboard_webchat::PROTOCOL.starts_with("# Switchboard Web Chat Protocol, version 1")
    );
    for endpoint in [
        "POST sessions",
        "POST messages",
        "GET events",
        "GET messages",
        "POST uploads",
        "POST typing",
        "POST read",
    ] {
        assert!(
            switchboard_webchat::PROTOCOL.contains(endpoint),
            "{endpoint}"
        );
    }
}
