//! `message` items of `fixtures/webhook_payloads.json` through `handle_webhook`: text, quick
//! replies, attachments of every documented type, replies, and echoes (this app's own, as
//! `Delivery` proofs, and others, as business messages). Placeholders are kept as the ids they
//! stand for.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod signed;

use serde_json::{Value, json};
use signed::{adapter, case, decode, decode_with, envelope, ms};
use switchboard_core::EventKind;
use switchboard_core::model::{ActionSource, AttachmentKind, DeliveryStatus};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};

#[test]
fn quick_reply_is_an_action() {
    let item = case("messages-text-quick_reply")["payload"].clone();
    let ev = decode(&envelope(std::slice::from_ref(&item))).remove(0);
    assert_eq!(ev.id.as_str(), "mid.1457764197618:41d102a3e1ae206a38");
    assert_eq!(ev.conversation.conversation.as_str(), "<PSID>");
    assert_eq!(ev.conversation.channel.as_str(), "fb");
    assert_eq!(ev.sender.id.as_str(), "<PSID>");
    assert!(!ev.sender.is_bot);
    assert_eq!(ev.at, ms(1458692752478));
    let EventKind::Action(a) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(a.payload, "<DEVELOPER_DEFINED_PAYLOAD>");
    assert_eq!(a.source, ActionSource::QuickReply);
    assert_eq!(a.label.as_deref(), Some("hello, world!"));
    assert_eq!(
        a.message.as_ref().map(|m| m.as_str()),
        Some("mid.1457764197618:41d102a3e1ae206a38")
    );
    assert_eq!(ev.raw, item);

    // Without the quick reply it is a plain message.
    let mut plain = item;
    plain["message"]
        .as_object_mut()
        .unwrap()
        .remove("quick_reply");
    let ev = decode(&envelope(&[plain])).remove(0);
    assert_eq!(ev.text(), Some("hello, world!"));
    assert!(matches!(ev.kind, EventKind::Message(_)));
}

#[test]
fn attachments_of_every_documented_type() {
    let mut entry = case("messages-attachments-entry")["payload"].clone();
    // The documented entry names a placeholder Page; the channel only takes its own.
    entry["id"] = serde_json::json!("1895382890692545");
    let placeholder = "<image|video|audio|file|reel|ig_reel>";
    let expected = [
        ("image", AttachmentKind::Image),
        ("video", AttachmentKind::Video),
        ("audio", AttachmentKind::Audio),
        ("file", AttachmentKind::File),
        ("reel", AttachmentKind::Video),
        ("ig_reel", AttachmentKind::Video),
    ];
    for (ty, kind) in expected {
        let text = entry.to_string().replace(placeholder, ty);
        let body = format!("{{\"object\":\"page\",\"entry\":[{text}]}}");
        let ev = decode(&body).remove(0);
        assert_eq!(ev.id.as_str(), "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c");
        assert_eq!(ev.at, ms(1518479195308));
        let EventKind::Message(m) = &ev.kind else {
            panic!("{:?}", ev.kind)
        };
        assert_eq!(m.text, None);
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].kind, kind, "{ty}");
        assert_eq!(m.attachments[0].url.as_deref(), Some("<ATTACHMENT_URL>"));
        assert_eq!(
            ev.attributes
                .get("messenger.attachment_types")
                .map(String::as_str),
            Some(ty)
        );
    }
    // `fallback` (a shared link) may come without a payload; stickers carry a sticker id.
    let item = json!({
        "sender": {"id": "<PSID>"}, "recipient": {"id": "<PAGE_ID>"}, "timestamp": 1518479195308_i64,
        "message": {"mid": "mid.2", "attachments": [
            {"type": "fallback", "title": "A shared link"},
            {"type": "fallback", "title": "Shared", "payload": {"url": "https://example.com/p"}},
            {"type": "sticker", "payload": {"url": "https://scontent.example/sticker.png", "sticker_id": 369239263222822_i64}}
        ]}
    });
    let ev = decode(&envelope(&[item])).remove(0);
    let EventKind::Message(m) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(m.attachments.len(), 3);
    assert_eq!(
        (m.attachments[0].kind, m.attachments[0].url.as_deref()),
        (AttachmentKind::File, None)
    );
    assert_eq!(m.attachments[0].title.as_deref(), Some("A shared link"));
    assert_eq!(
        m.attachments[1].url.as_deref(),
        Some("https://example.com/p")
    );
    assert_eq!(m.attachments[2].kind, AttachmentKind::Image);
    assert_eq!(
        m.attachments[2].provider_id.as_deref(),
        Some("369239263222822")
    );
    assert_eq!(m.attachments[2].title.as_deref(), Some("sticker"));
}

#[test]
fn reply_to_is_kept() {
    let item = json!({
        "sender": {"id": "<PSID>"}, "recipient": {"id": "<PAGE_ID>"}, "timestamp": 1458692752478_i64,
        "message": {"mid": "m_2", "text": "this one", "reply_to": {"mid": "m_1", "is_self_reply": false}}
    });
    let ev = decode(&envelope(&[item])).remove(0);
    let EventKind::Message(m) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(m.reply_to.as_ref().map(|r| r.as_str()), Some("m_1"));
    assert_eq!(
        ev.attributes
            .get("messenger.is_self_reply")
            .map(String::as_str),
        Some("false")
    );
}

/// The published echo has a literal `...`; the repair drops that line.
fn echo_item() -> Value {
    let raw = case("message_echoes-example1")["raw_published"]
        .as_str()
        .unwrap()
        .to_owned();
    let repaired = raw.replace(",\n    ...", "");
    serde_json::from_str(&repaired).unwrap()
}

#[test]
fn own_echoes_are_dropped_and_others_are_business_messages() {
    let item = echo_item();
    assert!(
        decode_with(
            &adapter(Some("1517776481860111")),
            &envelope(std::slice::from_ref(&item))
        )
        .is_empty()
    );

    // Another app (or a person in the Page inbox): a message sent by the Page.
    let ev = decode_with(
        &adapter(Some("999")),
        &envelope(std::slice::from_ref(&item)),
    )
    .remove(0);
    assert_eq!(ev.id.as_str(), "mid.1457764197618:41d102a3e1ae206a38");
    assert_eq!(ev.conversation.conversation.as_str(), "<PSID>");
    assert_eq!(ev.sender.id.as_str(), "<PAGE_ID>");
    assert!(ev.sender.is_bot);
    let EventKind::Message(m) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert!(m.from_business);
    assert_eq!(
        ev.attributes.get("messenger.app_id").map(String::as_str),
        Some("1517776481860111")
    );
    assert_eq!(
        ev.attributes.get("messenger.metadata").map(String::as_str),
        Some("<DEVELOPER_DEFINED_METADATA_STRING>")
    );

    // Without a configured app id, our own `switchboard:` metadata marks our echoes: dropped
    // without an outbox key, proof of the send (`Delivery(sent)` with the key) with one.
    assert_eq!(decode(&envelope(std::slice::from_ref(&item))).len(), 1);
    let mut ours = item;
    ours["message"]["metadata"] = json!("switchboard:");
    assert!(decode(&envelope(std::slice::from_ref(&ours))).is_empty());
    ours["message"]["metadata"] = json!("switchboard:fb:m_17:0#2/3");
    let proof = decode(&envelope(&[ours])).remove(0);
    let EventKind::Delivery(d) = &proof.kind else {
        panic!("{:?}", proof.kind)
    };
    assert_eq!(d.status, DeliveryStatus::Sent);
    assert_eq!(
        d.messages[0].as_str(),
        "mid.1457764197618:41d102a3e1ae206a38"
    );
    assert_eq!(proof.id.as_str(), "mid.1457764197618:41d102a3e1ae206a38");
    assert_eq!(proof.conversation.conversation.as_str(), "<PSID>");
    assert!(proof.sender.is_bot);
    let attr = |k: &str| proof.attributes.get(k).map(String::as_str);
    assert_eq!(attr(OUTBOX_KEY_ATTRIBUTE), Some("fb:m_17:0"));
    assert_eq!(
        (attr(OUTBOX_PART_ATTRIBUTE), attr(OUTBOX_PARTS_ATTRIBUTE)),
        (Some("1"), Some("3")),
        "the metadata's part 2 (counted from 1) is part 1 counted from 0"
    );
}
