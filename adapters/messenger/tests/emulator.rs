//! The adapter against the Graph API emulator on 127.0.0.1: wire details, limits, the 24 h
//! window, uploads, sender actions and faults. The webhook side is in `emulator_webhooks.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::time::Duration;

use serde_json::json;
use switchboard_core::model::{Attachment, AttachmentKind};
use switchboard_core::{Adapter, ChannelTable, ConversationRef, ErrorKind, OutboundMessage, Retry};
use switchboard_messenger::emulator::{Emulator, EmulatorOptions, Fault};
use switchboard_messenger::{MessengerAdapter, SendOptions, signature};

const PSID: &str = "5275811702471834";

async fn setup(options: EmulatorOptions, extra: &str) -> (Emulator, MessengerAdapter) {
    let emu = Emulator::start(options).await.unwrap();
    emu.add_user(PSID);
    let table =
        ChannelTable::from_toml_str("fb", &format!("{}{extra}", emu.channel_toml())).unwrap();
    let adapter = MessengerAdapter::from_table(table).unwrap();
    (emu, adapter)
}

fn to() -> ConversationRef {
    ConversationRef::parse("fb", PSID).unwrap()
}

#[tokio::test]
async fn text_send_carries_token_proof_and_response_type() {
    let (emu, a) = setup(EmulatorOptions::default(), "").await;
    let receipt = a
        .send(&to(), &OutboundMessage::text("Hello **there**").unwrap())
        .await
        .unwrap();
    let calls = emu.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.path, "/v25.0/1895382890692545/messages");
    assert_eq!(c.query["access_token"], emu.options().page_access_token);
    assert_eq!(
        c.query["appsecret_proof"],
        signature::appsecret_proof(&emu.options().app_secret, &emu.options().page_access_token)
    );
    assert_eq!(
        c.body,
        json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Hello there", "metadata": "switchboard:"}})
    );
    let sent = emu.messages();
    assert_eq!(
        receipt.first_id().map(|m| m.as_str()),
        Some(sent[0].message_id.as_str())
    );
    assert!(sent[0].message_id.starts_with("m_"));
    assert_eq!(c.response["recipient_id"], PSID);
}

#[tokio::test]
async fn buttons_and_quick_replies_arrive_natively() {
    let (emu, a) = setup(EmulatorOptions::default(), "").await;
    let msg = OutboundMessage::builder()
        .text("Pick one")
        .button("Yes", "YES")
        .link_button("Docs", "https://example.com/docs")
        .quick_reply("Later", "LATER")
        .idempotency_key("outbox-9")
        .build()
        .unwrap();
    let receipt = a.send(&to(), &msg).await.unwrap();
    assert!(
        receipt.degradations.is_empty(),
        "{:?}",
        receipt.degradations
    );
    let sent = emu.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text(), Some("Pick one"));
    assert_eq!(sent[0].buttons(), ["Yes", "Docs"]);
    assert_eq!(sent[0].quick_replies(), ["Later"]);
    // The outbox key and the part (1 of 1): the echo proves which part was sent.
    assert_eq!(sent[0].message["metadata"], "switchboard:outbox-9#1/1");
}

#[tokio::test]
async fn the_window_closes_after_24_hours_unless_tagged() {
    let (emu, a) = setup(EmulatorOptions::default(), "").await;
    emu.advance(Duration::from_secs(25 * 3600));
    let err = a
        .send(&to(), &OutboundMessage::text("late").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.retry()),
        (ErrorKind::PolicyViolation, Retry::Never),
        "{err}"
    );
    assert_eq!(err.provider_code(), Some("10/2018278"));
    assert!(err.to_string().contains("fbtrace_id Emu"), "{err}");

    let tagged = OutboundMessage::builder()
        .text("An agent answers")
        .extension(&SendOptions::tag("HUMAN_AGENT"))
        .build()
        .unwrap();
    a.send(&to(), &tagged).await.unwrap();
    let sent = emu.messages();
    assert_eq!(
        (sent[0].messaging_type.as_str(), sent[0].tag.as_deref()),
        ("MESSAGE_TAG", Some("HUMAN_AGENT"))
    );
    // HUMAN_AGENT lasts 7 days; other tags are not bound to the window.
    emu.advance(Duration::from_secs(6 * 24 * 3600));
    let err = a.send(&to(), &tagged).await.unwrap_err();
    assert_eq!(err.provider_code(), Some("10/2018278"));
    let update = OutboundMessage::builder()
        .text("Your order shipped")
        .extension(&SendOptions::tag("POST_PURCHASE_UPDATE"))
        .build()
        .unwrap();
    a.send(&to(), &update).await.unwrap();
    // A new user message reopens the window.
    emu.add_user(PSID);
    a.send(&to(), &OutboundMessage::text("back in").unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn byte_attachments_are_uploaded_then_sent_by_id() {
    let (emu, a) = setup(EmulatorOptions::default(), "").await;
    let msg = OutboundMessage::builder()
        .text("Your receipt")
        .attachment(Attachment::bytes(
            b"%PDF-1.7 fake".to_vec(),
            "application/pdf",
            "receipt.pdf",
        ))
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://example.com/cat.png",
        ))
        .build()
        .unwrap();
    let receipt = a.send(&to(), &msg).await.unwrap();
    assert_eq!(receipt.messages.len(), 3);
    let uploads = emu.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!((uploads[0].kind.as_str(), uploads[0].size), ("file", 13));
    assert_eq!(uploads[0].mime_type.as_deref(), Some("application/pdf"));
    let sent = emu.messages();
    assert_eq!(sent[0].text(), Some("Your receipt"));
    assert_eq!(
        sent[1].attachment().as_deref(),
        Some(uploads[0].attachment_id.as_str())
    );
    assert_eq!(sent[1].message["attachment"]["type"], "file");
    assert_eq!(
        sent[2].attachment().as_deref(),
        Some("https://example.com/cat.png")
    );
    assert_eq!(
        sent[2].message["attachment"]["payload"]["is_reusable"],
        true
    );
    assert!(emu.calls()[0].path.ends_with("/message_attachments"));
}

#[tokio::test]
async fn sender_actions() {
    let (emu, a) = setup(EmulatorOptions::default(), "").await;
    a.typing(&to()).await.unwrap();
    a.typing_off(&to()).await.unwrap();
    a.mark_seen(&to()).await.unwrap();
    let actions: Vec<_> = emu
        .calls()
        .iter()
        .map(|c| c.body["sender_action"].clone())
        .collect();
    assert_eq!(
        actions,
        [json!("typing_on"), json!("typing_off"), json!("mark_seen")]
    );
    assert!(emu.messages().is_empty());
    assert_eq!(emu.calls()[0].response, json!({"recipient_id": PSID}));
}

#[tokio::test]
async fn a_failure_after_the_first_part_reports_the_partial_send() {
    let (emu, a) = setup(EmulatorOptions::default(), "").await;
    let long = "word ".repeat(900); // 4,500 characters: 3 parts
    emu.stage(Fault::Delay(Duration::ZERO));
    emu.stage(Fault::ServerError);
    let err = a
        .send(&to(), &OutboundMessage::text(long).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.retry(), Retry::Ambiguous);
    assert_eq!(err.partial().len(), 1);
    assert_eq!(err.partial()[0].id.as_str(), emu.messages()[0].message_id);
    assert_eq!(
        emu.calls().len(),
        2,
        "nothing is retried inside the adapter"
    );
}

#[tokio::test]
async fn errors_map_from_the_emulator() {
    let (emu, a) = setup(
        EmulatorOptions {
            rate_limit_per_second: Some(1),
            ..EmulatorOptions::default()
        },
        "",
    )
    .await;
    let msg = OutboundMessage::text("hi").unwrap();
    a.send(&to(), &msg).await.unwrap();
    let err = a.send(&to(), &msg).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.retry(), err.provider_code()),
        (ErrorKind::RateLimited, Retry::Safe, Some("613"))
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));

    let stranger = ConversationRef::parse("fb", "999").unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = a.send(&stranger, &msg).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.provider_code()),
        (ErrorKind::NotFound, Some("100/2018001"))
    );

    emu.stage(Fault::Graph {
        status: 400,
        code: 100,
        subcode: Some(2_018_109),
        message: "Attachment size exceeds allowable limit".into(),
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = a.send(&to(), &msg).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.provider_code()),
        (ErrorKind::InvalidMessage, Some("100/2018109"))
    );

    let bad = ChannelTable::from_toml_str(
        "fb",
        &emu.channel_toml()
            .replace("EAAemulatorPageToken", "EAAwrong"),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = MessengerAdapter::from_table(bad)
        .unwrap()
        .send(&to(), &msg)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.provider_code()),
        (ErrorKind::Unauthenticated, Some("190"))
    );
    assert!(!err.to_string().contains("EAAwrong") && !format!("{err:?}").contains("EAAwrong"));
}

#[tokio::test]
async fn appsecret_proof_is_required_when_configured() {
    let (emu, a) = setup(EmulatorOptions::default(), "appsecret_proof = false\n").await;
    let err = a
        .send(&to(), &OutboundMessage::text("hi").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.provider_code(), Some("100"));
    assert!(err.message().contains("appsecret_proof"), "{err}");
    assert!(!emu.calls()[0].query.contains_key("appsecret_proof"));
}

#[tokio::test]
async fn the_emulator_enforces_documented_limits() {
    let emu = Emulator::start(EmulatorOptions {
        require_appsecret_proof: false,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    emu.add_user(PSID);
    let http = reqwest::Client::new();
    let token = emu.options().page_access_token.clone();
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}?access_token={token}", emu.base_url()))
            .json(&body)
            .send()
    };
    let r = post(
        "/v25.0/me/messages",
        json!({"recipient": {"id": PSID}, "message": {"text": "x".repeat(2001)}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].is_string());
    let r = post(
        "/v25.0/42/messages",
        json!({"recipient": {"id": PSID}, "message": {"text": "x"}}),
    )
    .await
    .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_i64(),
            body["error"]["error_subcode"].as_i64()
        ),
        (Some(100), Some(33))
    );
    assert_eq!(body["error"]["type"], "GraphMethodException");
    // Meta's reference form encoding: fields whose values are JSON.
    let r = http
        .post(format!("{}/v25.0/me/messages", emu.base_url()))
        .form(&[
            ("recipient", format!("{{\"id\":\"{PSID}\"}}")),
            ("messaging_type", "RESPONSE".into()),
            ("message", "{\"text\":\"hello, world\"}".into()),
            ("access_token", token.clone()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(emu.messages()[0].text(), Some("hello, world"));
}
