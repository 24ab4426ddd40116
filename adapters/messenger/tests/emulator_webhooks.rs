//! The webhook side of the Graph API emulator on 127.0.0.1 against the adapter: signed delivery
//! with retries, Meta's escaped-unicode bodies, and echoes of the Page's own sends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::sync::{Arc, Mutex};

use serde_json::Value;
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, EventKind, InboundEvent, OutboundMessage, RejectReason,
    WebhookRequest,
};
use switchboard_messenger::MessengerAdapter;
use switchboard_messenger::emulator::{Emulator, EmulatorOptions};

const PSID: &str = "5275811702471834";
const URL: &str = "https://bot.example/webhooks/fb";

async fn setup(extra: &str) -> (Emulator, MessengerAdapter) {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    emu.add_user(PSID);
    let table =
        ChannelTable::from_toml_str("fb", &format!("{}{extra}", emu.channel_toml())).unwrap();
    (emu, MessengerAdapter::from_table(table).unwrap())
}

fn decode(emu: &Emulator, a: &MessengerAdapter, items: &[Value]) -> Vec<InboundEvent> {
    let body = emu.webhook_body(items);
    let out = a.handle_webhook(&emu.signed_request(URL, &body));
    out.accepted_events().expect("accepted").to_vec()
}

#[tokio::test]
async fn bodies_escape_non_ascii_like_meta() {
    let (emu, a) = setup("").await;
    let body = emu.webhook_body(&[emu.text_item(PSID, "äöå 😀")]);
    assert!(body.is_ascii(), "{body}");
    assert!(body.contains(r"\u00e4\u00f6\u00e5 \ud83d\ude00"), "{body}");
    let events = a
        .handle_webhook(&emu.signed_request(URL, &body))
        .accepted_events()
        .unwrap()
        .to_vec();
    assert_eq!(events[0].text(), Some("äöå 😀"));
    // A receiver that re-serialises before verifying sees other bytes: 401.
    let mut reserialised = emu.signed_request(URL, &body);
    reserialised.body = serde_json::from_str::<Value>(&body)
        .unwrap()
        .to_string()
        .into();
    let out = a.handle_webhook(&reserialised);
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );
}

#[tokio::test]
async fn own_echoes_are_dropped_without_app_id_and_inbox_echoes_kept() {
    let (emu, a) = setup("").await;
    let to = ConversationRef::parse("fb", PSID).unwrap();
    a.send(&to, &OutboundMessage::text("Hi from the bot").unwrap())
        .await
        .unwrap();
    let sent = emu.messages().remove(0);
    let echo = emu.echo_item(&sent);
    assert_eq!(echo["message"]["metadata"], "switchboard:");
    assert_eq!(echo["message"]["app_id"], 1_517_776_481_860_111_u64);
    assert!(decode(&emu, &a, std::slice::from_ref(&echo)).is_empty());

    // A person answering in the Page inbox: no metadata, the Page's inbox app id.
    let mut inbox = echo.clone();
    inbox["message"].as_object_mut().unwrap().remove("metadata");
    inbox["message"]["app_id"] = 263_902_037_430_900_u64.into();
    let events = decode(&emu, &a, &[inbox]);
    let EventKind::Message(m) = &events[0].kind else {
        panic!("{:?}", events[0].kind)
    };
    assert!(m.from_business && events[0].sender.is_bot);
    assert_eq!(m.text.as_deref(), Some("Hi from the bot"));
    assert_eq!(events[0].conversation.conversation.as_str(), PSID);

    // With `app_id` configured, the app id alone identifies our echoes.
    let (emu, a) = setup("app_id = \"1517776481860111\"\n").await;
    let mut ours = echo;
    ours["message"].as_object_mut().unwrap().remove("metadata");
    assert!(decode(&emu, &a, &[ours]).is_empty());
}

/// A receiver on 127.0.0.1 that fails its first request, then hands bodies to the adapter.
#[tokio::test]
async fn deliver_posts_signed_batches_and_retries() {
    let (emu, a) = setup("").await;
    let a = Arc::new(a);
    let seen: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let (a2, seen2) = (a.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/webhooks/fb",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: bytes::Bytes| {
            let (a, seen) = (a2.clone(), seen2.clone());
            async move {
                let first = seen.lock().unwrap().is_empty();
                let mut req = WebhookRequest::post("https://bot.example/webhooks/fb", body.clone());
                req.headers = headers;
                let status = if first {
                    503
                } else {
                    a.handle_webhook(&req).response().status.as_u16()
                };
                seen.lock()
                    .unwrap()
                    .push((String::from_utf8_lossy(&body).into_owned(), status));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/fb", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let items = vec![
        emu.text_item(PSID, "one"),
        emu.quick_reply_item(PSID, "Red", "COLOR_RED"),
        emu.postback_item(PSID, "Start", "GET_STARTED"),
    ];
    let report = emu.deliver(&url, &items, 2).await;
    assert_eq!(report.len(), 2);
    assert_eq!((report[0].attempts, report[0].status), (2, 200));
    assert_eq!((report[1].attempts, report[1].status), (1, 200));
    assert!(report.iter().all(|d| d.delivered()));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.1).collect::<Vec<_>>(),
        [503, 200, 200]
    );
    let events: Vec<_> = report
        .iter()
        .flat_map(|d| {
            a.handle_webhook(&emu.signed_request("https://bot.example/webhooks/fb", &d.body))
                .accepted_events()
                .unwrap()
                .to_vec()
        })
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].text(), Some("one"));
    assert_eq!(events[1].action_payload(), Some("COLOR_RED"));
    assert!(
        matches!(&events[2].kind, EventKind::Action(x) if x.payload == "GET_STARTED" && x.label.as_deref() == Some("Start"))
    );
    server.abort();
}
