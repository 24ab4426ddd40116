//! Inbound webhooks through the public adapter: fixture payloads signed as Twilio signs them,
//! decoded to the events they stand for; bad signatures, malformed bodies and wrong methods
//! refused.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeMap;

use serde_json::Value;
use switchboard_core::model::{ActionSource, AttachmentKind, DeliveryStatus, EventKind};
use switchboard_core::{
    Adapter, ChannelName, ErrorKind, RejectReason, Secret, WebhookOutcome, WebhookRequest,
};
use switchboard_twilio::{EMPTY_TWIML, TwilioAdapter, TwilioConfig, signature};

const TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const URL: &str = "https://bot.example.com/webhooks/whatsapp?tenant=1";

fn adapter() -> TwilioAdapter {
    let config = TwilioConfig::builder(
        ChannelName::new("whatsapp").unwrap(),
        "ACf19dfb164f82b2c9d6178c6ada3aaaaa",
        Secret::new(TOKEN),
    )
    .from("whatsapp:+14155238886")
    .build()
    .unwrap();
    TwilioAdapter::new(config).unwrap()
}

fn signed(params: &[(String, String)]) -> WebhookRequest {
    let body = serde_urlencoded::to_string(params).unwrap();
    let sig = signature::sign(TOKEN, URL, params);
    WebhookRequest::post(URL, body)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("X-Twilio-Signature", &sig)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn fixture_examples() -> BTreeMap<String, Vec<(String, String)>> {
    let v: Value =
        serde_json::from_str(include_str!("fixtures/webhook_params_reference.json")).unwrap();
    v["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let params = e["params"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| match k.as_str() {
                    // The documented samples mask the account; they are this channel's.
                    "AccountSid" => (k.clone(), "ACf19dfb164f82b2c9d6178c6ada3aaaaa".to_owned()),
                    _ => (k.clone(), v.as_str().unwrap().to_owned()),
                })
                .collect();
            (e["id"].as_str().unwrap().to_owned(), params)
        })
        .collect()
}

fn accepted(outcome: &WebhookOutcome) -> &[switchboard_core::InboundEvent] {
    match outcome {
        WebhookOutcome::Accepted { response, events } => {
            assert_eq!(response.status, 200);
            assert_eq!(response.content_type, Some("text/xml"));
            assert_eq!(response.body, EMPTY_TWIML.as_bytes());
            events
        }
        WebhookOutcome::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

#[test]
fn whatsapp_inbound_text_fixture_decodes() {
    let ex = fixture_examples();
    let outcome = adapter().handle_webhook(&signed(&ex["wa-inbound-text"]));
    let events = accepted(&outcome);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.id.as_str(), "SM7cd85aed706d25735d1c8019234572df");
    assert_eq!(ev.conversation.channel.as_str(), "whatsapp");
    assert_eq!(
        ev.conversation.conversation.as_str(),
        "whatsapp:+886123456789"
    );
    assert_eq!(ev.sender.id.as_str(), "whatsapp:+886123456789");
    assert!(!ev.sender.is_bot);
    assert_eq!(ev.text(), Some("hi"));
    match &ev.kind {
        EventKind::Message(m) => {
            assert_eq!(
                m.id.as_ref().map(|i| i.as_str()),
                Some("SM7cd85aed706d25735d1c8019234572df")
            );
            assert!(m.attachments.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ev.attributes["twilio.to"], "whatsapp:+14155238886");
    assert_eq!(ev.attributes["twilio.num_segments"], "1");
    assert_eq!(ev.raw["Body"], "hi");
    assert_eq!(ev.raw["ApiVersion"], "2010-04-01");
}

#[test]
fn whatsapp_status_fixtures_decode_to_deliveries() {
    let ex = fixture_examples();
    let cases = [
        ("wa-status-sent", DeliveryStatus::Sent, "sent"),
        (
            "wa-status-delivered",
            DeliveryStatus::Delivered,
            "delivered",
        ),
        ("wa-status-read", DeliveryStatus::Read, "read"),
    ];
    for (id, status, name) in cases {
        let outcome = adapter().handle_webhook(&signed(&ex[id]));
        let events = accepted(&outcome);
        let ev = &events[0];
        assert_eq!(
            ev.id.as_str(),
            format!("SM338ac551ecd04d698821b50ea5dXXXXX:{name}"),
            "{id}"
        );
        assert_eq!(
            ev.conversation.conversation.as_str(),
            "whatsapp:+886123456789",
            "{id}"
        );
        assert_eq!(ev.sender.id.as_str(), "whatsapp:+14155238886");
        assert!(ev.sender.is_bot);
        match &ev.kind {
            EventKind::Delivery(d) => {
                assert_eq!(d.status, status, "{id}");
                assert_eq!(d.messages[0].as_str(), "SM338ac551ecd04d698821b50ea5dXXXXX");
                assert_eq!(d.error, None);
            }
            other => panic!("{id}: {other:?}"),
        }
        assert_eq!(ev.attributes["twilio.channel_prefix"], "whatsapp");
        assert_eq!(ev.raw["MessageStatus"], name);
    }
}

#[test]
fn mms_inbound_keeps_media_in_order() {
    let p = pairs(&[
        ("MessageSid", "MMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("AccountSid", "ACf19dfb164f82b2c9d6178c6ada3aaaaa"),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("Body", "look"),
        ("NumMedia", "2"),
        ("MediaContentType0", "image/jpeg"),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME111",
        ),
        ("MediaContentType1", "video/mp4"),
        (
            "MediaUrl1",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME222",
        ),
        ("SmsStatus", "received"),
        ("FromCountry", "US"),
    ]);
    let outcome = adapter().handle_webhook(&signed(&p));
    let ev = &accepted(&outcome)[0];
    assert_eq!(ev.conversation.conversation.as_str(), "+14155550100");
    let EventKind::Message(m) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(m.text.as_deref(), Some("look"));
    assert_eq!(m.attachments.len(), 2);
    assert_eq!(m.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(m.attachments[0].mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(m.attachments[0].provider_id.as_deref(), Some("ME111"));
    assert_eq!(m.attachments[1].kind, AttachmentKind::Video);
    assert!(m.attachments[1].url.as_deref().unwrap().ends_with("/ME222"));
    assert_eq!(ev.attributes["twilio.from_country"], "US");
}

#[test]
fn whatsapp_button_location_and_profile() {
    let button = pairs(&[
        ("MessageSid", "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("From", "whatsapp:+886123456789"),
        ("To", "whatsapp:+14155238886"),
        ("Body", "Yes please"),
        ("ButtonText", "Yes please"),
        ("ButtonPayload", "confirm:42"),
        ("ProfileName", "Ada"),
        ("WaId", "886123456789"),
        (
            "OriginalRepliedMessageSid",
            "SMcccccccccccccccccccccccccccccccc",
        ),
        ("NumMedia", "0"),
    ]);
    let outcome = adapter().handle_webhook(&signed(&button));
    let ev = &accepted(&outcome)[0];
    assert_eq!(ev.sender.name.as_deref(), Some("Ada"));
    let EventKind::Action(a) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(a.payload, "confirm:42");
    assert_eq!(a.label.as_deref(), Some("Yes please"));
    assert_eq!(a.source, ActionSource::QuickReply);
    assert_eq!(
        a.message.as_ref().map(|m| m.as_str()),
        Some("SMcccccccccccccccccccccccccccccccc")
    );
    assert_eq!(ev.attributes["twilio.wa_id"], "886123456789");

    let location = pairs(&[
        ("MessageSid", "SMdddddddddddddddddddddddddddddddd"),
        ("From", "whatsapp:+886123456789"),
        ("To", "whatsapp:+14155238886"),
        ("Latitude", "25.0330"),
        ("Longitude", "121.5654"),
        ("Address", "Taipei 101"),
        ("MessageType", "location"),
        ("NumMedia", "0"),
    ]);
    let outcome = adapter().handle_webhook(&signed(&location));
    let ev = &accepted(&outcome)[0];
    assert!(matches!(&ev.kind, EventKind::Message(m) if m.text.is_none()));
    assert_eq!(ev.attributes["twilio.latitude"], "25.0330");
    assert_eq!(ev.attributes["twilio.longitude"], "121.5654");
    assert_eq!(ev.attributes["twilio.address"], "Taipei 101");
    assert_eq!(ev.attributes["twilio.message_type"], "location");
}

#[test]
fn failed_status_maps_error_code_and_unknown_status_is_other() {
    let failed = pairs(&[
        ("MessageSid", "SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "63016"),
        ("From", "whatsapp:+14155238886"),
        ("To", "whatsapp:+886123456789"),
    ]);
    let outcome = adapter().handle_webhook(&signed(&failed));
    let ev = &accepted(&outcome)[0];
    assert_eq!(
        ev.id.as_str(),
        "SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee:undelivered"
    );
    let EventKind::Delivery(d) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(d.status, DeliveryStatus::Failed);
    let err = d.error.as_ref().unwrap();
    assert_eq!(err.kind, ErrorKind::PolicyViolation);
    assert_eq!(err.code.as_deref(), Some("63016"));

    let odd = pairs(&[
        ("MessageSid", "SMeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"),
        ("MessageStatus", "teleported"),
        ("From", "+14155550199"),
        ("To", "+14155550100"),
    ]);
    let outcome = adapter().handle_webhook(&signed(&odd));
    let ev = &accepted(&outcome)[0];
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "status.teleported"));
    assert_eq!(ev.raw["MessageStatus"], "teleported");
}

#[test]
fn refusals_have_the_right_reason() {
    let a = adapter();
    let p = pairs(&[
        ("MessageSid", "SM1"),
        ("From", "+1555"),
        ("To", "+1666"),
        ("Body", "hi"),
    ]);
    let good = signed(&p);

    let mut tampered = good.clone();
    tampered.body = bytes::Bytes::from(
        String::from_utf8(good.body.to_vec())
            .unwrap()
            .replace("hi", "ho"),
    );
    let r = a.handle_webhook(&tampered);
    assert_eq!(
        r.rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );
    assert_eq!(r.response().status, 401);

    let mut unsigned = good.clone();
    unsigned.headers.remove("x-twilio-signature");
    let r = a.handle_webhook(&unsigned);
    assert_eq!(
        r.rejection().map(|r| r.reason),
        Some(RejectReason::MissingSignature)
    );

    let mut other_url = good.clone();
    other_url.url = "https://evil.example.com/webhooks/whatsapp?tenant=1".to_owned();
    assert_eq!(
        a.handle_webhook(&other_url).rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );

    let mut put = good.clone();
    put.method = http::Method::PUT;
    assert_eq!(
        a.handle_webhook(&put).rejection().map(|r| r.reason),
        Some(RejectReason::MethodNotAllowed)
    );

    let no_sid = signed(&pairs(&[
        ("From", "+1555"),
        ("To", "+1666"),
        ("Body", "hi"),
    ]));
    let r = a.handle_webhook(&no_sid);
    assert_eq!(
        r.rejection().map(|r| r.reason),
        Some(RejectReason::Malformed)
    );
    assert_eq!(r.response().status, 400);
    let bad_media = signed(&pairs(&[
        ("MessageSid", "SM1"),
        ("From", "+1555"),
        ("To", "+1666"),
        ("NumMedia", "two"),
    ]));
    assert_eq!(
        a.handle_webhook(&bad_media).rejection().map(|r| r.reason),
        Some(RejectReason::Malformed)
    );
}

#[test]
fn port_variants_and_get_webhooks_validate() {
    let a = adapter();
    let p = pairs(&[
        ("MessageSid", "SM9"),
        ("From", "+15550100"),
        ("To", "+15550199"),
        ("Body", "x"),
    ]);
    // Twilio signed the URL with :443; the engine reconstructed it without.
    let sig = signature::sign(
        TOKEN,
        "https://bot.example.com:443/webhooks/whatsapp?tenant=1",
        &p,
    );
    let req = WebhookRequest::post(URL, serde_urlencoded::to_string(&p).unwrap())
        .with_header("X-Twilio-Signature", &sig);
    assert_eq!(
        a.handle_webhook(&req).accepted_events().map(<[_]>::len),
        Some(1)
    );

    let get_url = format!("{URL}&MessageSid=SM10&From=%2B15550100&To=%2B15550199&Body=via+get");
    let sig = signature::sign(TOKEN, &get_url, &[]);
    let req = WebhookRequest::get(get_url).with_header("X-Twilio-Signature", &sig);
    let outcome = a.handle_webhook(&req);
    let ev = &accepted(&outcome)[0];
    assert_eq!(ev.text(), Some("via get"));
}

#[test]
fn json_webhooks_check_body_hash_and_stay_other() {
    let a = adapter();
    let body = br#"{"property": "value", "boolean": true}"#;
    let url = format!("{URL}&bodySHA256={}", signature::body_sha256(body));
    let sig = signature::sign(TOKEN, &url, &[]);
    let req = WebhookRequest::post(url.clone(), &body[..])
        .with_header("content-type", "application/json")
        .with_header("X-Twilio-Signature", &sig);
    let outcome = a.handle_webhook(&req);
    let events = outcome.accepted_events().unwrap();
    assert!(matches!(&events[0].kind, EventKind::Other(o) if o.event_type == "json"));
    assert_eq!(events[0].raw["property"], "value");
    let forged = WebhookRequest::post(url, &b"{}"[..])
        .with_header("content-type", "application/json")
        .with_header("X-Twilio-Signature", &sig);
    assert_eq!(
        a.handle_webhook(&forged).rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );
}
