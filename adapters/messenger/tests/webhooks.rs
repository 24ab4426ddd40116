//! The other webhook items of `fixtures/webhook_payloads.json` through `handle_webhook`: reads
//! and deliveries, reactions, edits, App Dashboard changes, Graph's generic sample, batches and
//! standby (`message` items are in `webhook_messages.rs`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod signed;

use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use signed::{SECRET, adapter, case, decode, envelope, ms};
use switchboard_core::model::{ActionSource, DeliveryStatus};
use switchboard_core::{Adapter, EventKind, RejectReason, WebhookRequest};
use switchboard_messenger::signature;

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
    // The entry is addressed to the channel's Page by `decode` (see `signed`).
    assert_eq!(ev.conversation.conversation.as_str(), "1895382890692545");
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

/// A reaction or an edit naming no usable message (an empty `mid`) is kept as `Other` with its
/// raw item, never dropped.
#[test]
fn reactions_and_edits_without_a_message_are_other() {
    let base = json!({"sender": {"id": "111"}, "recipient": {"id": "1895382890692545"}, "timestamp": 1700000000000_i64});
    for (key, value) in [
        (
            "reaction",
            json!({"reaction": "like", "action": "react", "mid": ""}),
        ),
        (
            "message_edit",
            json!({"mid": "", "text": "x", "num_edit": 1}),
        ),
    ] {
        let mut item = base.clone();
        item[key] = value;
        let evs = decode(&envelope(std::slice::from_ref(&item)));
        assert_eq!(evs.len(), 1, "{key}");
        let EventKind::Other(o) = &evs[0].kind else {
            panic!("{key}: {:?}", evs[0].kind)
        };
        assert_eq!(o.event_type, key);
        assert_eq!(evs[0].raw, item);
    }
}
