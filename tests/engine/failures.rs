//! Failures the engine must not let block a conversation or lose silently: a handler that
//! panics, an event whose earlier claims all ended without an outcome (a handler that crashes
//! the process), and a delivery receipt the store could not record.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::common::faulty::FaultyStore;
use crate::common::*;
use switchboard::core::model::{DeliveryEvent, DeliveryStatus, EventKind, MessageId};
use switchboard::store::{Claim, DeadLetterKind, OutboxState};
use switchboard::{
    Adapter, Config, ConversationRef, MemoryStore, OutboundMessage, Switchboard, WebhookOutcome,
};

/// The engine's test timings, with three handler attempts before a dead letter.
fn three_attempts() -> Config {
    let mut c = fast_config();
    c.engine.handler_attempts = 3;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_retried_then_dead_lettered_and_the_conversation_moves_on() {
    let mem = memory("mem");
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let sb = builder(&mem)
        .config(three_attempts())
        .on_message(move |ctx| {
            let r = r.clone();
            async move {
                let text = ctx.event().text().unwrap_or_default().to_owned();
                if text == "boom" {
                    r.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    panic!("the handler blew up on {text}");
                }
                ctx.reply_text(format!("ok {text}"))?;
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/mem", running.url());
    let client = reqwest::Client::new();
    for (id, text) in [("e1", "boom"), ("e2", "after")] {
        let req = mem.signed_request(&url, &[inbound(id, "C1", text)]);
        assert_eq!(post(&client, &url, &req).await.status(), 200);
    }
    // The event after the panicking one is handled once the panicking one is dead-lettered.
    assert!(eventually(Duration::from_secs(20), || async { mem.sent().len() == 1 }).await);
    assert_eq!(mem.sent()[0].text, "ok after");
    assert_eq!(runs.load(Ordering::SeqCst), 3, "run handler_attempts times");
    let dead = sb.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].kind, DeadLetterKind::Inbound);
    assert_eq!(dead[0].key, "e1");
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0]
            .error
            .contains("handler panicked: the handler blew up on boom"),
        "{}",
        dead[0].error
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_whose_claims_never_finished_is_dead_lettered_without_running() {
    let mem = memory("mem");
    let store = Arc::new(MemoryStore::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let sb = Switchboard::builder()
        .config(three_attempts())
        .store(store.clone())
        .channel_with(Arc::new(mem.clone()), unlimited())
        .on_message(move |ctx| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                ctx.reply_text("handled")?;
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    // The event, and a later one of the same conversation.
    let req = mem.signed_request(
        "http://localhost/webhooks/mem",
        &[inbound("crasher", "C1", "x"), inbound("next", "C1", "y")],
    );
    let WebhookOutcome::Accepted { events, .. } = mem.handle_webhook(&req) else {
        panic!("not accepted");
    };
    sb.store().insert_inbound(&events).await.unwrap();
    // Three engines each claimed it and died before any outcome (leases long run out).
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..3 {
        let claimed = sb
            .store()
            .claim_inbox(Claim::new(
                long_ago + Duration::from_secs(10 * i),
                Duration::from_secs(1),
                1,
            ))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].event.id.as_str(), "crasher");
    }
    let workers = sb.start_workers();
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 1 }).await);
    // Only the later event ran; the crasher was given up without a fourth run.
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let dead = sb.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].key, "crasher");
    assert!(
        dead[0]
            .error
            .contains("gave up after 3 claims without an outcome"),
        "{}",
        dead[0].error
    );
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_store_could_not_record_is_retried_not_dropped() {
    let mem = memory("mem");
    let store = Arc::new(FaultyStore::new().without_facts());
    let sb = Switchboard::builder()
        .config(three_attempts())
        .store(store.clone())
        .channel_with(Arc::new(mem.clone()), unlimited())
        .build()
        .await
        .unwrap();
    let workers = sb.start_workers();
    let key = sb
        .send(
            ConversationRef::parse("mem", "C1").unwrap(),
            OutboundMessage::text("hello").unwrap(),
        )
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            sb.store()
                .outbox_status(&key)
                .await
                .unwrap()
                .is_some_and(|s| s.state == OutboxState::Sent)
        })
        .await
    );
    let id = sb
        .store()
        .outbox_status(&key)
        .await
        .unwrap()
        .unwrap()
        .message_ids[0]
        .clone();
    // The provider reports it delivered; the store fails the first two times.
    store.fail_receipts.store(2, Ordering::SeqCst);
    let req = mem.signed_request(
        "http://localhost/webhooks/mem",
        &[inbound("receipt", "C1", "x")],
    );
    let WebhookOutcome::Accepted { mut events, .. } = mem.handle_webhook(&req) else {
        panic!("not accepted");
    };
    events[0].kind = EventKind::Delivery(DeliveryEvent::new(
        DeliveryStatus::Delivered,
        vec![MessageId::new(id.as_str()).unwrap()],
    ));
    sb.store().insert_inbound(&events).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            sb.store()
                .outbox_status(&key)
                .await
                .unwrap()
                .unwrap()
                .delivery
                == Some(DeliveryStatus::Delivered)
        })
        .await,
        "the receipt was dropped"
    );
    assert_eq!(store.fail_receipts.load(Ordering::SeqCst), 0);
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(sb.stats().await.unwrap().inbox_pending, 0);
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_an_unavailable_store_without_its_error() {
    let store = Arc::new(FaultyStore::new().without_facts().failing_stats());
    let sb = Switchboard::builder()
        .config(three_attempts())
        .store(store)
        .build()
        .await
        .unwrap();
    let running = sb.start(listener().await).unwrap();
    let resp = reqwest::get(format!("{}/readyz", running.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert_eq!(body, "store unavailable");
    running.shutdown().await.unwrap();
}
