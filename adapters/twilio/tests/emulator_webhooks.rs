//! Status callbacks and inbound messages delivered by the emulator over HTTP to a webhook
//! receiver that runs the adapter's `handle_webhook`; inbound media fetched back.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use switchboard_core::model::{DeliveryStatus, EventKind};
use switchboard_core::{Adapter, ErrorKind, OutboundMessage};
use switchboard_twilio::TwilioAdapter;
use switchboard_twilio::emulator::{Emulator, EmulatorOptions, Inbound};

#[tokio::test]
async fn status_callbacks_arrive_signed_and_decode_in_order() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
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
async fn messaging_service_sends_get_a_sender_and_signed_callbacks() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let probe = Arc::new(TwilioAdapter::new(config(&emu, None)).unwrap());
    let (url, events) = receiver(probe).await;
    let c = emu.options();
    let service = TwilioAdapter::new(service_config(&emu, Some(&url))).unwrap();
    let sent = service
        .send(&to("sms", SMS_USER), &OutboundMessage::text("hi").unwrap())
        .await
        .unwrap();
    let sid = sent.messages[0].id.clone();
    assert_eq!(emu.calls()[0].param("From"), None);
    assert_eq!(emu.messages()[0].status, "accepted");

    // accepted → queued → sent → delivered; a callback for each step after the first.
    let got = wait_for(&events, 3).await;
    let statuses: Vec<DeliveryStatus> = got
        .iter()
        .map(|e| match &e.kind {
            EventKind::Delivery(d) => d.status,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered
        ]
    );
    assert!(got.iter().all(|e| e.sender.id.as_str() == c.numbers[0]));
    assert!(emu.callbacks().iter().all(|cb| cb.status == 200));
    let fetched = service.fetch_message(sid.as_str()).await.unwrap();
    assert_eq!(fetched.from.as_deref(), Some(c.numbers[0].as_str()));
    assert_eq!(fetched.num_segments.as_deref(), Some("1"));
    assert_eq!(fetched.status, "delivered");
}

#[tokio::test]
async fn inbound_sms_mms_and_whatsapp_are_delivered_and_media_fetched() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let adapter = Arc::new(TwilioAdapter::new(config(&emu, None)).unwrap());
    let (url, events) = receiver(adapter.clone()).await;

    let delivery = emu
        .deliver(
            &url,
            &Inbound::text(SMS_USER, "+15005550006", "hello there"),
        )
        .await;
    assert_eq!(delivery.status, StatusCode::OK.as_u16());
    assert_eq!(delivery.answer, switchboard_twilio::EMPTY_TWIML);

    let media_url = emu.add_media(&b"\x89PNG fake"[..], "image/png");
    let mms = Inbound {
        media: vec![(media_url.clone(), "image/png".into())],
        ..Inbound::text(SMS_USER, "+15005550006", "see")
    };
    emu.deliver(&url, &mms).await;
    let wa = Inbound {
        profile_name: Some("Ada".into()),
        button: Some(("Yes".into(), "YES_PAYLOAD".into())),
        ..Inbound::text(WA_USER, "whatsapp:+14155238886", "Yes")
    };
    emu.deliver(&url, &wa).await;

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
    let other = Emulator::start(EmulatorOptions {
        auth_token: "another-token".into(),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let delivery = other
        .deliver(&url, &Inbound::text(SMS_USER, "+15005550006", "forged"))
        .await;
    assert_eq!(delivery.status, 401);
    assert_eq!(events.lock().unwrap().len(), 3);
}
