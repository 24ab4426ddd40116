//! Handler failures the engine must not let block a conversation: a handler that panics, and an
//! event whose earlier claims all ended without an outcome (a handler that crashes the process).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::*;
use switchboard::store::DeadLetterKind;
use switchboard::{
    Adapter, ChannelSettings, Config, MemoryStore, RateConfig, Switchboard, WebhookOutcome,
};

fn fast_config() -> Config {
    let mut c = Config::default();
    c.engine.poll_interval = Duration::from_millis(20);
    c.engine.backoff_base = Duration::from_millis(20);
    c.engine.backoff_max = Duration::from_millis(100);
    c.engine.handler_attempts = 3;
    c
}

fn unlimited() -> ChannelSettings {
    ChannelSettings::default().with_rate(RateConfig::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_retried_then_dead_lettered_and_the_conversation_moves_on() {
    let mem = memory("mem");
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let sb = Switchboard::builder()
        .config(fast_config())
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(mem.clone()), unlimited())
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
        .config(fast_config())
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
            .claim_inbox(
                long_ago + Duration::from_secs(10 * i),
                Duration::from_secs(1),
                1,
            )
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
