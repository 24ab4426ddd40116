//! The adapter against the emulator, end to end: sends (SMS, MMS, WhatsApp, templates, long
//! texts), request bodies checked against the OpenAPI spec, errors and faults, status callbacks
//! and inbound messages delivered over HTTP to a webhook receiver that runs `handle_webhook`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;
use switchboard_core::model::{Attachment, AttachmentKind, DeliveryStatus, EventKind};
use switchboard_core::{
    Adapter, ChannelName, ConversationRef, ErrorKind, InboundEvent, OutboundMessage, Retry, Secret,
    WebhookOutcome, WebhookRequest,
};
use switchboard_twilio::emulator::{Emulator, EmulatorConfig, Fault, Inbound};
use switchboard_twilio::{TwilioAdapter, TwilioConfig, TwilioContent};

const SMS_USER: &str = "+15558675310";
const WA_USER: &str = "whatsapp:+886123456789";

type Events = Arc<Mutex<Vec<InboundEvent>>>;

/// A webhook receiver on 127.0.0.1 that hands every request to the adapter.
async fn receiver(adapter: Arc<TwilioAdapter>) -> (String, Events) {
    let events: Events = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = (adapter, events.clone(), base.clone());
    let app = axum::Router::new()
        .fallback(
            |State((adapter, events, base)): State<(Arc<TwilioAdapter>, Events, String)>,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let mut req = WebhookRequest::post(format!("{base}{uri}"), body);
                req.headers = headers;
                let outcome = adapter.handle_webhook(&req);
                if let WebhookOutcome::Accepted { events: got, .. } = &outcome {
                    events.lock().unwrap().extend(got.iter().cloned());
                }
                let resp = outcome.response();
                (resp.status, resp.body.to_vec())
            },
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("{base}/webhooks/sms"), events)
}

fn config(emu: &Emulator, callback: Option<&str>) -> TwilioConfig {
    let c = emu.config();
    let mut b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        c.account_sid.clone(),
        Secret::new(c.auth_token.clone()),
    )
    .from(c.numbers[0].clone())
    .api_base_url(emu.base_url());
    if let Some(cb) = callback {
        b = b.status_callback(cb);
    }
    b.build().unwrap()
}

fn whatsapp_adapter(emu: &Emulator) -> TwilioAdapter {
    let c = emu.config();
    let cfg = TwilioConfig::builder(
        ChannelName::new("wa").unwrap(),
        c.account_sid.clone(),
        Secret::new(c.auth_token.clone()),
    )
    .from("whatsapp:+14155238886")
    .api_base_url(emu.base_url())
    .build()
    .unwrap();
    TwilioAdapter::new(cfg).unwrap()
}

async fn wait_for(events: &Events, n: usize) -> Vec<InboundEvent> {
    for _ in 0..200 {
        if events.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    events.lock().unwrap().clone()
}

fn to(channel: &str, who: &str) -> ConversationRef {
    ConversationRef::parse(channel, who).unwrap()
}

/// Every request body the adapter sent is a valid CreateMessageRequest of the OpenAPI spec.
fn assert_bodies_match_spec(emu: &Emulator) {
    let spec: Value = serde_json::from_str(include_str!(
        "fixtures/openapi/twilio_api_v2010_messages_subset.json"
    ))
    .unwrap();
    let op = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"];
    let schema = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let props = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let creates: Vec<_> = emu
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/Messages.json"))
        .collect();
    assert!(!creates.is_empty());
    for call in creates {
        for (name, value) in &call.params {
            let prop = props
                .get(name)
                .unwrap_or_else(|| panic!("unknown parameter {name}"));
            if prop["format"] == "uri" || prop["items"]["format"] == "uri" {
                assert!(
                    url::Url::parse(value).is_ok(),
                    "{name}={value} is not a URI"
                );
            }
            if prop["type"] == "boolean" {
                assert!(value == "true" || value == "false", "{name}={value}");
            }
            if prop["type"] != "array" {
                assert_eq!(call.params_named(name).len(), 1, "{name} repeated");
            }
        }
        for r in &required {
            assert!(
                call.param(r).is_some(),
                "required {r} missing: {:?}",
                call.params
            );
        }
        assert!(call.param("From").is_some() || call.param("MessagingServiceSid").is_some());
        assert!(
            call.param("Body").is_some()
                || call.param("MediaUrl").is_some()
                || call.param("ContentSid").is_some()
        );
    }
}

#[tokio::test]
async fn sms_mms_whatsapp_and_templates_reach_the_emulator_as_documented() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let sms =
        TwilioAdapter::new(config(&emu, Some("https://bot.example.com/webhooks/sms"))).unwrap();

    let r = sms
        .send(
            &to("sms", SMS_USER),
            &OutboundMessage::text("**Hello** €5 [ok]").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.messages.len(), 1);
    assert!(r.messages[0].id.as_str().starts_with("SM"));
    assert_eq!(r.messages[0].segments, Some(1));

    let mms = OutboundMessage::builder()
        .text("photos")
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://cdn.example.com/a.jpg",
        ))
        .attachment(Attachment::url(
            AttachmentKind::Video,
            "https://cdn.example.com/b.mp4",
        ))
        .build()
        .unwrap();
    let r = sms.send(&to("sms", SMS_USER), &mms).await.unwrap();
    assert!(r.messages[0].id.as_str().starts_with("MM"));

    let wa = whatsapp_adapter(&emu);
    let two = OutboundMessage::builder()
        .text("_look_")
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://cdn.example.com/a.jpg",
        ))
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://cdn.example.com/b.jpg",
        ))
        .build()
        .unwrap();
    let r = wa.send(&to("wa", WA_USER), &two).await.unwrap();
    assert_eq!(r.messages.len(), 1);
    assert_eq!(
        r.messages[0].segments,
        Some(1),
        "Twilio's num_segments for WhatsApp"
    );
    let template = OutboundMessage::builder()
        .extension(&TwilioContent {
            content_sid: "HXb5b62575e6e4ff6129ad7c8efe1f983e".into(),
            variables: [("1".to_owned(), "Ada".to_owned())].into(),
        })
        .build()
        .unwrap();
    wa.send(&to("wa", WA_USER), &template).await.unwrap();

    let calls = emu.calls();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.authorized && c.status == 201));
    assert_eq!(calls[0].param("Body"), Some("Hello €5 [ok]"));
    assert_eq!(calls[0].param("To"), Some(SMS_USER));
    assert_eq!(calls[0].param("From"), Some("+15005550006"));
    assert_eq!(
        calls[0].param("StatusCallback"),
        Some("https://bot.example.com/webhooks/sms")
    );
    assert_eq!(
        calls[1].params_named("MediaUrl"),
        [
            "https://cdn.example.com/a.jpg",
            "https://cdn.example.com/b.mp4"
        ]
    );
    assert_eq!(calls[2].param("To"), Some(WA_USER));
    assert_eq!(calls[2].param("From"), Some("whatsapp:+14155238886"));
    assert_eq!(
        calls[2].params_named("MediaUrl"),
        ["https://cdn.example.com/a.jpg"]
    );
    assert!(calls[2].param("Body").unwrap().starts_with("_look_"));
    assert!(
        calls[2]
            .param("Body")
            .unwrap()
            .contains("https://cdn.example.com/b.jpg")
    );
    assert_eq!(
        calls[3].param("ContentSid"),
        Some("HXb5b62575e6e4ff6129ad7c8efe1f983e")
    );
    assert_eq!(calls[3].param("ContentVariables"), Some(r#"{"1":"Ada"}"#));
    assert_eq!(calls[3].param("Body"), None);
    assert_bodies_match_spec(&emu);

    let fetched = sms.fetch_message(r.messages[0].id.as_str()).await.unwrap();
    assert_eq!(fetched.to.as_deref(), Some(WA_USER));
}

#[tokio::test]
async fn long_ucs2_text_splits_with_segments_and_partial_failure_is_ambiguous() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let text = "Grüße 😀 aus Köln. ".repeat(120);
    let r = sms
        .send(&to("sms", SMS_USER), &OutboundMessage::text(&text).unwrap())
        .await
        .unwrap();
    assert!(r.messages.len() >= 2);
    let created = emu.messages();
    assert_eq!(created.len(), r.messages.len());
    for (sent, res) in r.messages.iter().zip(&created) {
        assert_eq!(sent.id.as_str(), res.sid);
        // Our count and the emulator's (computed from the body it received) agree.
        assert_eq!(sent.segments, res.segments());
        assert!(res.body.as_ref().unwrap().encode_utf16().count() <= 1600);
    }
    // A full 1,600-unit UCS-2 part is 24 segments of 67 units.
    assert!(
        r.messages[0].segments.unwrap() >= 23,
        "{:?}",
        r.messages[0].segments
    );

    emu.stage(Fault::Delay(Duration::ZERO));
    emu.stage(Fault::ServerError);
    let err = sms
        .send(&to("sms", SMS_USER), &OutboundMessage::text(&text).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Ambiguous);
    assert_eq!(err.partial().len(), 1);
    assert_eq!(err.provider_code(), Some("20500"));
}

#[tokio::test]
async fn documented_errors_map_to_kinds() {
    let emu = Emulator::start(EmulatorConfig {
        rate_limit: Some((1, Duration::from_secs(60))),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let hi = OutboundMessage::text("hi").unwrap();
    sms.send(&to("sms", SMS_USER), &hi).await.unwrap();
    let e = sms.send(&to("sms", SMS_USER), &hi).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider_code()),
        (ErrorKind::RateLimited, Retry::Safe, Some("20429"))
    );
    assert!(e.retry_after().unwrap() >= Duration::from_secs(1));

    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let bad_to = sms.send(&to("sms", "555-1234"), &hi).await.unwrap_err();
    assert_eq!(
        (bad_to.kind(), bad_to.provider_code()),
        (ErrorKind::NotFound, Some("21211"))
    );
    emu.stage(Fault::Error {
        status: 400,
        code: 21610,
        message: "Attempt to send to unsubscribed recipient".into(),
    });
    let stop = sms.send(&to("sms", SMS_USER), &hi).await.unwrap_err();
    assert_eq!(stop.kind(), ErrorKind::PolicyViolation);
    emu.stage(Fault::Error {
        status: 400,
        code: 63016,
        message: "outside the window".into(),
    });
    let window = whatsapp_adapter(&emu)
        .send(&to("wa", WA_USER), &hi)
        .await
        .unwrap_err();
    assert_eq!(window.kind(), ErrorKind::PolicyViolation);

    let c = emu.config();
    let wrong = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        c.account_sid.clone(),
        Secret::new("wrong"),
    )
    .from("+15005550006")
    .api_base_url(emu.base_url())
    .build()
    .unwrap();
    let e = TwilioAdapter::new(wrong)
        .unwrap()
        .send(&to("sms", SMS_USER), &hi)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider_code()),
        (ErrorKind::Unauthenticated, Retry::Never, Some("20003"))
    );
    assert!(!emu.calls().last().unwrap().authorized);

    let bytes = OutboundMessage::builder()
        .attachment(Attachment::bytes(vec![1_u8, 2], "image/png", "a.png"))
        .build()
        .unwrap();
    let before = emu.request_count();
    let e = sms.send(&to("sms", SMS_USER), &bytes).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(emu.request_count(), before, "nothing sent");
}

#[tokio::test]
async fn api_keys_timeouts_and_unreachable_hosts() {
    let emu = Emulator::start(EmulatorConfig {
        api_keys: vec![(
            "SK0123456789abcdef0123456789abcdef".into(),
            "key-secret".into(),
        )],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let c = emu.config();
    let keyed = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        c.account_sid.clone(),
        Secret::new("unused-for-api"),
    )
    .api_key(
        "SK0123456789abcdef0123456789abcdef",
        Secret::new("key-secret"),
    )
    .from("+15005550006")
    .api_base_url(emu.base_url())
    .timeout(Duration::from_millis(300))
    .build()
    .unwrap();
    let sms = TwilioAdapter::new(keyed).unwrap();
    let hi = OutboundMessage::text("hi").unwrap();
    sms.send(&to("sms", SMS_USER), &hi).await.unwrap();
    emu.stage(Fault::Delay(Duration::from_secs(2)));
    let e = sms.send(&to("sms", SMS_USER), &hi).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::Timeout, Retry::Ambiguous)
    );

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cfg = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        c.account_sid.clone(),
        Secret::new("t"),
    )
    .from("+15005550006")
    .api_base_url(format!("http://{closed}"))
    .build()
    .unwrap();
    let e = TwilioAdapter::new(cfg)
        .unwrap()
        .send(&to("sms", SMS_USER), &hi)
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.retry()), (ErrorKind::Transport, Retry::Safe));
}

#[tokio::test]
async fn status_callbacks_arrive_signed_and_decode_in_order() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    // The adapter that receives needs the same token; its callback URL is the receiver's.
    let probe = Arc::new(TwilioAdapter::new(config(&emu, None)).unwrap());
    let (url, events) = receiver(probe).await;
    let sms = TwilioAdapter::new(config(&emu, Some(&url))).unwrap();
    emu.fail_deliveries_to("+15558675399", 30003);

    let ok = sms
        .send(
            &to("sms", SMS_USER),
            &OutboundMessage::text("track me").unwrap(),
        )
        .await
        .unwrap();
    let got = wait_for(&events, 2).await;
    let sid = ok.messages[0].id.clone();
    let statuses: Vec<DeliveryStatus> = got
        .iter()
        .map(|e| match &e.kind {
            EventKind::Delivery(d) => {
                assert_eq!(d.messages, std::slice::from_ref(&sid));
                d.status
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(statuses, [DeliveryStatus::Sent, DeliveryStatus::Delivered]);
    assert_eq!(got[0].id.as_str(), format!("{sid}:sent"));
    assert_eq!(got[1].conversation.conversation.as_str(), SMS_USER);
    assert!(emu.callbacks().iter().all(|c| c.status == 200));
    assert_eq!(
        sms.fetch_message(sid.as_str()).await.unwrap().status,
        "delivered"
    );

    let bad = sms
        .send(
            &to("sms", "+15558675399"),
            &OutboundMessage::text("x").unwrap(),
        )
        .await
        .unwrap();
    let got = wait_for(&events, 4).await;
    let EventKind::Delivery(d) = &got[3].kind else {
        panic!("{:?}", got[3].kind)
    };
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.messages, [bad.messages[0].id.clone()]);
    let err = d.error.as_ref().unwrap();
    assert_eq!(
        (err.kind, err.code.as_deref()),
        (ErrorKind::NotFound, Some("30003"))
    );
}

#[tokio::test]
async fn inbound_sms_mms_and_whatsapp_are_delivered_and_media_fetched() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let adapter = Arc::new(TwilioAdapter::new(config(&emu, None)).unwrap());
    let (url, events) = receiver(adapter.clone()).await;

    let (status, body) = emu
        .deliver_inbound(
            &url,
            &Inbound::text(SMS_USER, "+15005550006", "hello there"),
        )
        .await;
    assert_eq!(status, StatusCode::OK.as_u16());
    assert_eq!(body, switchboard_twilio::EMPTY_TWIML);

    let media_url = emu.add_media(&b"\x89PNG fake"[..], "image/png");
    let mms = Inbound {
        media: vec![(media_url.clone(), "image/png".into())],
        ..Inbound::text(SMS_USER, "+15005550006", "see")
    };
    emu.deliver_inbound(&url, &mms).await;
    let wa = Inbound {
        profile_name: Some("Ada".into()),
        button: Some(("Yes".into(), "YES_PAYLOAD".into())),
        ..Inbound::text(WA_USER, "whatsapp:+14155238886", "Yes")
    };
    emu.deliver_inbound(&url, &wa).await;

    let got = wait_for(&events, 3).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].text(), Some("hello there"));
    assert_eq!(got[0].sender.id.as_str(), SMS_USER);
    assert!(got[0].id.as_str().starts_with("SM"));
    let EventKind::Message(m) = &got[1].kind else {
        panic!("{:?}", got[1].kind)
    };
    assert!(got[1].id.as_str().starts_with("MM"));
    assert_eq!(m.attachments[0].url.as_deref(), Some(media_url.as_str()));
    let fetched = adapter.fetch_attachment(&m.attachments[0]).await.unwrap();
    assert_eq!(&fetched.bytes[..], b"\x89PNG fake");
    assert_eq!(fetched.mime_type.as_deref(), Some("image/png"));
    assert!(
        emu.calls().last().unwrap().authorized,
        "media fetched with Basic auth"
    );
    assert_eq!(got[2].action_payload(), Some("YES_PAYLOAD"));
    assert_eq!(got[2].sender.name.as_deref(), Some("Ada"));
    assert_eq!(got[2].conversation.conversation.as_str(), WA_USER);

    // A request not signed by the emulator's token is refused with 401.
    let other = Emulator::start(EmulatorConfig {
        auth_token: "another-token".into(),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let (status, _) = other
        .deliver_inbound(&url, &Inbound::text(SMS_USER, "+15005550006", "forged"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(events.lock().unwrap().len(), 3);
}
