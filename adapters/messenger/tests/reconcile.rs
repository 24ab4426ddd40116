//! `reconcile` against the Graph API emulator: echoes prove sends (delivered, every part, in
//! order), their absence is `Unknown` after `echo_wait` (Messenger has no lookup, so never
//! `NotDelivered`), lost answers, half-sent messages, and echoes pushed to a webhook URL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use switchboard_core::reconcile::OUTBOX_KEY_ATTRIBUTE;
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, ErrorKind, EventKind, OutboundMessage, OutboxKey,
    PendingSend, Reconciled, Retry, WebhookRequest,
};
use switchboard_messenger::MessengerAdapter;
use switchboard_messenger::emulator::{Emulator, EmulatorOptions, Fault};

const PSID: &str = "5275811702471834";
const URL: &str = "https://bot.example/webhooks/fb";

/// An emulator (subscribing the app to echoes when `echoes`) and an adapter that declares them,
/// waiting `wait` (e.g. `'200ms'`) for them.
async fn setup(echoes: bool, wait: &str) -> (Emulator, Arc<MessengerAdapter>) {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    emu.add_user(PSID);
    if echoes {
        emu.subscribe(&["messages", "message_echoes"]);
    }
    let table = ChannelTable::from_toml_str(
        "fb",
        &format!(
            "{}message_echoes = true\necho_wait = {wait}\n",
            emu.channel_toml()
        ),
    )
    .unwrap();
    (emu, Arc::new(MessengerAdapter::from_table(table).unwrap()))
}

fn to() -> ConversationRef {
    ConversationRef::parse("fb", PSID).unwrap()
}

/// Hands the emulator's waiting webhooks to the adapter, as the engine's route would.
fn settle(emu: &Emulator, a: &MessengerAdapter) -> Vec<switchboard_core::InboundEvent> {
    let items = emu.take_webhooks();
    let body = emu.webhook_body(&items);
    let out = a.handle_webhook(&emu.signed_request(URL, &body));
    out.accepted_events().expect("accepted").to_vec()
}

fn keyed(text: &str, key: &str) -> OutboundMessage {
    OutboundMessage::builder()
        .text(text)
        .idempotency_key(key)
        .build()
        .unwrap()
}

async fn reconcile(a: &MessengerAdapter, msg: &OutboundMessage, since: SystemTime) -> Reconciled {
    let key = OutboxKey::new(msg.idempotency_key.clone().unwrap()).unwrap();
    a.reconcile(&key, &PendingSend::new(to(), msg.clone(), since))
        .await
        .unwrap()
}

/// Two paragraphs of 1,500 characters: two Messenger messages.
fn two_parts() -> String {
    format!("{}\n\n{}", "a".repeat(1500), "b".repeat(1500))
}

#[tokio::test]
async fn every_part_is_marked_and_found_in_order() {
    let (emu, a) = setup(true, "'200ms'").await;
    let since = SystemTime::now();
    let msg = keyed(&two_parts(), "fb:m_in1:0");
    let receipt = a.send(&to(), &msg).await.unwrap();
    assert_eq!(receipt.messages.len(), 2);
    let metadata: Vec<_> = emu
        .messages()
        .iter()
        .map(|s| s.message["metadata"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        metadata,
        ["switchboard:fb:m_in1:0#1/2", "switchboard:fb:m_in1:0#2/2"]
    );

    let proofs = settle(&emu, &a);
    assert_eq!(proofs.len(), 2);
    for (p, sent) in proofs.iter().zip(&receipt.messages) {
        let EventKind::Delivery(d) = &p.kind else {
            panic!("{:?}", p.kind)
        };
        assert_eq!(d.messages, std::slice::from_ref(&sent.id));
        assert_eq!(
            p.attributes.get(OUTBOX_KEY_ATTRIBUTE).map(String::as_str),
            Some("fb:m_in1:0")
        );
    }
    match reconcile(&a, &msg, since).await {
        Reconciled::Delivered(found) => {
            let ids: Vec<_> = found.iter().map(|m| &m.id).collect();
            let sent: Vec<_> = receipt.messages.iter().map(|m| &m.id).collect();
            assert_eq!(ids, sent);
            assert!(found.iter().all(|m| m.conversation == to()));
        }
        other => panic!("{other:?}"),
    }
    // Meta redelivers webhooks: the same echoes again change nothing.
    let again = emu.webhook_body(
        &emu.messages()
            .iter()
            .map(|s| emu.echo_item(s))
            .collect::<Vec<_>>(),
    );
    a.handle_webhook(&emu.signed_request(URL, &again));
    assert!(matches!(reconcile(&a, &msg, since).await, Reconciled::Delivered(f) if f.len() == 2));
}

#[tokio::test]
async fn a_key_never_sent_is_unknown_after_the_wait_never_not_delivered() {
    let (emu, a) = setup(true, "'200ms'").await;
    let since = SystemTime::now();
    a.send(&to(), &keyed("someone else's", "fb:m_in1:0"))
        .await
        .unwrap();
    settle(&emu, &a);
    let started = Instant::now();
    match reconcile(&a, &keyed("never sent", "fb:m_in2:0"), since).await {
        Reconciled::Unknown(why) => assert!(why.starts_with("no message_echoes webhook"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(200));
    // An echo of the key to another user, or from before the first attempt, proves nothing.
    let late = SystemTime::now() + Duration::from_secs(120);
    assert!(matches!(
        reconcile(&a, &keyed("someone else's", "fb:m_in1:0"), late).await,
        Reconciled::Unknown(_)
    ));
}

#[tokio::test]
async fn without_echoes_a_delivered_send_is_unknown() {
    // The channel says echoes arrive, but the Page does not send them: nothing is proven.
    let (emu, a) = setup(false, "'200ms'").await;
    let since = SystemTime::now();
    let msg = keyed("hello", "fb:m_in3:0");
    a.send(&to(), &msg).await.unwrap();
    assert_eq!(emu.pending_webhooks(), 0);
    assert!(matches!(
        reconcile(&a, &msg, since).await,
        Reconciled::Unknown(_)
    ));
}

#[tokio::test]
async fn a_lost_answer_is_ambiguous_and_reconciles_as_delivered() {
    let (emu, a) = setup(true, "'200ms'").await;
    let since = SystemTime::now();
    let msg = keyed("answer lost", "fb:m_in4:0");
    emu.stage(Fault::LostAnswer);
    let err = a.send(&to(), &msg).await.unwrap_err();
    assert_eq!(err.retry(), Retry::Ambiguous, "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Transport, "{err:?}");
    // Meta has it all the same.
    let sent = emu.messages();
    assert_eq!(sent.len(), 1);
    settle(&emu, &a);
    match reconcile(&a, &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(found[0].id.as_str(), sent[0].message_id),
        other => panic!("{other:?}"),
    }
    // The next call on the emulator is answered normally.
    a.send(&to(), &keyed("next", "fb:m_in4:1")).await.unwrap();
}

#[tokio::test]
async fn a_half_sent_message_is_unknown_and_names_the_echoed_part() {
    let (emu, a) = setup(true, "'200ms'").await;
    let since = SystemTime::now();
    let msg = keyed(&two_parts(), "fb:m_in5:0");
    emu.stage(Fault::Delay(Duration::ZERO)); // part 1: accepted
    emu.stage(Fault::ServerError); // part 2: refused (code 2)
    let err = a.send(&to(), &msg).await.unwrap_err();
    assert_eq!(err.partial().len(), 1);
    settle(&emu, &a);
    match reconcile(&a, &msg, since).await {
        Reconciled::Unknown(why) => {
            let first = &emu.messages()[0].message_id;
            assert!(
                why.starts_with(&format!("1 of 2 parts echoed (part 1 ({first}))")),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Resending the missing part (as the engine would, marked as part 2) completes it.
    emu.stage(Fault::Delay(Duration::ZERO));
    emu.stage(Fault::LostAnswer);
    a.send(&to(), &msg).await.unwrap_err();
    settle(&emu, &a);
    match reconcile(&a, &msg, since).await {
        Reconciled::Delivered(found) => {
            let sent = emu.messages();
            let ids: Vec<_> = found.iter().map(|m| m.id.as_str()).collect();
            // The first echo of each part counts.
            assert_eq!(
                ids,
                [sent[0].message_id.as_str(), sent[2].message_id.as_str()]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn reconcile_is_declared_only_with_message_echoes() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let table = ChannelTable::from_toml_str("fb", &emu.channel_toml()).unwrap();
    let a = MessengerAdapter::from_table(table).unwrap();
    assert!(!a.info().capabilities.reconcile);
    let msg = keyed("x", "fb:m_in6:0");
    let key = OutboxKey::new("fb:m_in6:0").unwrap();
    let err = a
        .reconcile(&key, &PendingSend::new(to(), msg, SystemTime::now()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let (_emu, a) = setup(true, "'200ms'").await;
    assert!(a.info().capabilities.reconcile);
}

/// A webhook endpoint on 127.0.0.1 that hands every POST to the adapter, refusing the first
/// `refuse` requests with 500.
async fn receiver(a: Arc<MessengerAdapter>, refuse: usize) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/webhooks/fb",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let a = a.clone();
                let counter = counter.clone();
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) < refuse {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let mut req = WebhookRequest::post(URL, body);
                    for (k, v) in &headers {
                        req = req.with_header(k.as_str(), v.to_str().unwrap());
                    }
                    a.handle_webhook(&req).response().status
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/webhooks/fb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test]
async fn echoes_pushed_to_the_callback_url_are_awaited_and_retried() {
    let (emu, a) = setup(true, "'5s'").await;
    let (url, hits) = receiver(a.clone(), 2).await;
    emu.set_callback_url(Some(&url));
    let since = SystemTime::now();
    let msg = keyed("pushed", "fb:m_in7:0");
    emu.stage(Fault::LostAnswer);
    assert_eq!(
        a.send(&to(), &msg).await.unwrap_err().retry(),
        Retry::Ambiguous
    );
    // The echo is on its way (refused twice, then accepted): reconcile waits for it.
    let started = Instant::now();
    match reconcile(&a, &msg, since).await {
        Reconciled::Delivered(found) => {
            assert_eq!(found[0].id.as_str(), emu.messages()[0].message_id);
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // The sender drops the item once its POST is answered 2xx.
    for _ in 0..100 {
        if emu.pending_webhooks() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(emu.pending_webhooks(), 0);
}

#[tokio::test]
async fn latency_slows_every_call() {
    let emu = Emulator::start(EmulatorOptions {
        latency: Duration::from_millis(60),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    emu.add_user(PSID);
    let table = ChannelTable::from_toml_str("fb", &emu.channel_toml()).unwrap();
    let a = MessengerAdapter::from_table(table).unwrap();
    let started = Instant::now();
    a.send(&to(), &keyed(&two_parts(), "fb:m_in8:0"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(120));
}
