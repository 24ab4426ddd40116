//! Every webhook payload of `fixtures/webhook_payloads.json`, signed and decoded through
//! `handle_webhook`. Fixture items are wrapped in the documented `{"object":"page","entry":[…]}`
//! envelope; placeholders are kept as the ids they stand for.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use switchboard_core::model::{ActionSource, AttachmentKind, DeliveryStatus};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{
    Adapter, ChannelName, EventKind, InboundEvent, RejectReason, Secret, WebhookRequest,
};
use switchboard_messenger::{MessengerAdapter, MessengerConfig, signature};

const SECRET: &str = "test_app_secret";

fn case(id: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("fixtures/webhook_payloads.json")).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .clone()
}

fn adapter(app_id: Option<&str>) -> MessengerAdapter {
    let mut b = MessengerConfig::builder(
        ChannelName::new("fb").unwrap(),
        "1895382890692545",
        Secret::new("page-token"),
        Secret::new(SECRET),
        Secret::new("verify"),
    );
    if let Some(id) = app_id {
        b = b.app_id(id);
    }
    MessengerAdapter::new(b.build().unwrap()).unwrap()
}

fn envelope(items: &[Value]) -> String {
    json!({"object": "page", "entry": [{"id": "<PAGE_ID>", "time": 1458692752478_i64, "messaging": items}]})
        .to_string()
}

fn decode_with(a: &MessengerAdapter, body: &str) -> Vec<InboundEvent> {
    let req = WebhookRequest::post("https://bot.example/webhooks/fb", body.to_owned()).with_header(
        "X-Hub-Signature-256",
        &signature::sign(SECRET, body.as_bytes()),
    );
    let out = a.handle_webhook(&req);
    assert_eq!(out.response().status, http::StatusCode::OK, "{out:?}");
    out.accepted_events().unwrap().to_vec()
}

fn decode(body: &str) -> Vec<InboundEvent> {
    decode_with(&adapter(None), body)
}

fn ms(t: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(t as u64)
}

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
    let entry = case("messages-attachments-entry")["payload"].clone();
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

#[test]
fn reads_and_deliveries() {
    let read = decode(&envelope(&[case("message_reads")["payload"].clone()])).remove(0);
    let EventKind::Delivery(d) = &read.kind else {
        panic!("{:?}", read.kind)
    };
    assert_eq!(d.status, DeliveryStatus::Read);
    assert!(d.messages.is_empty());
    assert_eq!(d.watermark, Some(ms(1458668856253)));
    assert_eq!(read.at, ms(1458668856463));
    assert!(read.id.as_str().starts_with("read:"));

    let item = case("message_deliveries")["payload"].clone();
    let del = decode(&envelope(std::slice::from_ref(&item))).remove(0);
    let EventKind::Delivery(d) = &del.kind else {
        panic!("{:?}", del.kind)
    };
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.messages.len(), 1);
    assert_eq!(
        d.messages[0].as_str(),
        "mid.1458668856218:ed81099e15d3f4f233"
    );
    assert_eq!(d.watermark, Some(ms(1458668856253)));
    // No timestamp in the published example: the watermark is the time.
    assert_eq!(del.at, ms(1458668856253));
    assert!(del.id.as_str().starts_with("delivery:"));
    // The hash id is stable across redeliveries and differs between items.
    let again = decode(&envelope(&[item])).remove(0);
    assert_eq!(again.id, del.id);
    assert_ne!(read.id, del.id);
}

#[test]
fn reactions() {
    let item = case("message_reactions")["payload"].clone();
    let ev = decode(&envelope(std::slice::from_ref(&item))).remove(0);
    let EventKind::Reaction(r) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(r.message.as_str(), "<MID_OF_ReactedTo_Message>");
    assert_eq!(r.reaction, "love");
    assert!(r.added);
    assert_eq!(
        ev.attributes.get("messenger.emoji").map(String::as_str),
        Some("\u{2764}\u{FE0F}")
    );
    assert!(ev.id.as_str().starts_with("reaction:"));
    let mut un = item;
    un["reaction"] = json!({"action": "unreact", "mid": "<MID_OF_ReactedTo_Message>"});
    let ev2 = decode(&envelope(&[un])).remove(0);
    let EventKind::Reaction(r) = &ev2.kind else {
        panic!("{:?}", ev2.kind)
    };
    assert!(!r.added);
    assert_ne!(ev2.id, ev.id);
}

#[test]
fn dashboard_postback_in_changes() {
    let change = case("messaging_postbacks-dashboard-format")["payload"].clone();
    let body = json!({"object": "page", "entry": [{"id": "PAGE-ID", "time": 1527459824, "changes": [change.clone()]}]});
    let ev = decode(&body.to_string()).remove(0);
    assert_eq!(ev.id.as_str(), "m_MESSAGE-ID");
    assert_eq!(ev.sender.id.as_str(), "user_ref:USER-REF-ID");
    assert_eq!(
        ev.conversation.conversation.as_str(),
        "user_ref:USER-REF-ID"
    );
    assert_eq!(ev.at, UNIX_EPOCH + Duration::from_secs(1527459824));
    let EventKind::Action(a) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(a.payload, "USER-DEFINED-PAYLOAD");
    assert_eq!(a.label.as_deref(), Some("TITLE-FOR-THE-CTA"));
    assert_eq!(a.source, ActionSource::Button);
    let attr = |k: &str| ev.attributes.get(k).map(String::as_str);
    assert_eq!(
        attr("messenger.referral_ref"),
        Some("USER-DEFINED-REFERRAL-PARAM")
    );
    assert_eq!(attr("messenger.referral_source"), Some("SHORT-URL"));
    assert_eq!(attr("messenger.referral_type"), Some("OPEN_THREAD"));
    assert_eq!(attr("messenger.field"), Some("messaging_postbacks"));
    assert_eq!(ev.raw, change["value"]);

    // The same postback as a live messaging item.
    let live = change["value"].clone();
    let ev = decode(&envelope(&[live])).remove(0);
    assert_eq!(ev.action_payload(), Some("USER-DEFINED-PAYLOAD"));
    assert!(!ev.attributes.contains_key("messenger.field"));
}

#[test]
fn generic_graph_sample() {
    // The published excerpt is truncated: not JSON, so 400.
    let raw = case("graph-webhook-generic-sample")["raw_published"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = adapter(None);
    let req = WebhookRequest::post("https://b.example/w", raw.clone()).with_header(
        "X-Hub-Signature-256",
        &signature::sign(SECRET, raw.as_bytes()),
    );
    let out = a.handle_webhook(&req);
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::Malformed)
    );
    // Completed as a `page` delivery, its `photos` change is kept as Other with the raw value.
    let change =
        json!({"field": "photos", "value": {"verb": "update", "object_id": "10211885744794461"}});
    let body = json!({"object": "page", "entry": [{"time": 1520383571, "changes": [change.clone()], "id": "10210299214172187"}]});
    let ev = decode(&body.to_string()).remove(0);
    let EventKind::Other(o) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(o.event_type, "photos");
    assert_eq!(ev.raw, change);
    assert_eq!(ev.conversation.conversation.as_str(), "10210299214172187");
}

#[test]
fn batches_keep_order_across_entries_and_standby() {
    let text = |mid: &str, t: &str| json!({"sender": {"id": "111"}, "recipient": {"id": "1895382890692545"}, "timestamp": 1700000000000_i64, "message": {"mid": mid, "text": t}});
    let optin = json!({"sender": {"id": "222"}, "recipient": {"id": "1895382890692545"}, "timestamp": 1700000000001_i64, "optin": {"ref": "x"}});
    let body = json!({"object": "page", "entry": [
        {"id": "1895382890692545", "time": 1, "messaging": [text("m1", "one"), text("m2", "two")]},
        {"id": "1895382890692545", "time": 2, "messaging": [optin.clone()], "standby": [text("m3", "three")]}
    ]});
    let evs = decode(&body.to_string());
    let ids: Vec<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids[..2], ["m1", "m2"]);
    assert!(ids[2].starts_with("optin:"));
    assert_eq!(ids[3], "m3");
    assert_eq!(evs[1].text(), Some("two"));
    let EventKind::Other(o) = &evs[2].kind else {
        panic!("{:?}", evs[2].kind)
    };
    assert_eq!(o.event_type, "optin");
    assert_eq!(evs[2].raw, optin);
    assert_eq!(evs[2].sender.id.as_str(), "222");
    assert_eq!(
        evs[3]
            .attributes
            .get("messenger.standby")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(evs[3].text(), Some("three"));
}

#[test]
fn message_edits_are_edited_events() {
    let item = json!({"sender": {"id": "111"}, "recipient": {"id": "1895382890692545"}, "timestamp": 1700000000000_i64,
        "message_edit": {"mid": "m_9", "text": "fixed typo", "num_edit": 1}});
    let ev = decode(&envelope(&[item])).remove(0);
    let EventKind::Edited(e) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(
        (e.message.as_str(), e.text.as_deref()),
        ("m_9", Some("fixed typo"))
    );
    assert_eq!(ev.text(), Some("fixed typo"));
}
