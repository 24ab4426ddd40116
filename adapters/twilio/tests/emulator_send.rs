//! The adapter against the emulator: sends (SMS, MMS, WhatsApp, templates, long texts), request
//! bodies checked against the OpenAPI spec, errors, faults, API keys, timeouts.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::*;
use switchboard_core::model::{Attachment, AttachmentKind};
use switchboard_core::{Adapter, ChannelName, ErrorKind, OutboundMessage, Retry, Secret};
use switchboard_twilio::emulator::{Emulator, EmulatorOptions, Fault};
use switchboard_twilio::{TwilioAdapter, TwilioConfig, TwilioContent};

#[tokio::test]
async fn sms_mms_whatsapp_and_templates_reach_the_emulator_as_documented() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
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
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
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
async fn smart_encoding_that_lengthens_text_still_fits_twilios_limit() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let mut cfg = config(&emu, None);
    cfg.smart_encoding = true;
    let sms = TwilioAdapter::new(cfg).unwrap();
    // 1,399 characters as written; 2,799 once every "…" is "...".
    let text = "\u{2026} ".repeat(700);
    let r = sms
        .send(&to("sms", SMS_USER), &OutboundMessage::text(&text).unwrap())
        .await
        .unwrap();
    assert_eq!(r.messages.len(), 2);
    let calls = emu.calls();
    assert!(calls.iter().all(|c| c.status == 201));
    assert!(
        calls
            .iter()
            .all(|c| c.param("SmartEncoded") == Some("true"))
    );
    for (sent, res) in r.messages.iter().zip(emu.messages()) {
        assert!(!res.body.as_ref().unwrap().contains('\u{2026}'));
        assert_eq!(sent.segments, res.segments());
    }
    assert_bodies_match_spec(&emu);
}

#[tokio::test]
async fn documented_errors_map_to_kinds() {
    let emu = Emulator::start(EmulatorOptions {
        rate_limit: Some((1, Duration::from_secs(60))),
        ..EmulatorOptions::default()
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

    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
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
    assert_eq!(stop.kind(), ErrorKind::OptedOut);
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

    let c = emu.options();
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
    let emu = Emulator::start(EmulatorOptions {
        api_keys: vec![(
            "SK0123456789abcdef0123456789abcdef".into(),
            "key-secret".into(),
        )],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let c = emu.options();
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

/// The emulator applies Twilio's default opt-out handling (issue 15 item 12): after an inbound
/// `STOP` to our number, a create to that customer from it is refused with 21610 (`OptedOut`)
/// until they text `START`; another customer is not affected.
#[tokio::test]
async fn the_emulator_refuses_an_opted_out_recipient_until_start() {
    use switchboard_twilio::emulator::Inbound;
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let ours = emu.options().numbers[0].clone();
    let hi = OutboundMessage::text("hi").unwrap();
    let _ = emu.signed_request(
        "https://bot.example.com/webhooks/sms",
        &Inbound::text(SMS_USER, &ours, " stop "),
    );
    let e = sms.send(&to("sms", SMS_USER), &hi).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider_code()),
        (ErrorKind::OptedOut, Retry::Never, Some("21610"))
    );
    assert!(sms.send(&to("sms", "+15557770000"), &hi).await.is_ok());
    let _ = emu.signed_request(
        "https://bot.example.com/webhooks/sms",
        &Inbound::text(SMS_USER, &ours, "START"),
    );
    assert!(sms.send(&to("sms", SMS_USER), &hi).await.is_ok());
}
