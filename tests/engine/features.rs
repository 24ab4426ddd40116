//! Engine features beyond the webhook → handler → reply loop, over real HTTP on 127.0.0.1:
//! `Switchboard::send` from outside a handler, lease renewal for long handlers and slow sends,
//! and pruning's dedupe horizon.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use switchboard::store::{OutboxState, Synchronous};
use switchboard::{
    Adapter, AdapterInfo, ConversationRef, ErrorKind, MemoryStore, OutboundMessage, Result,
    SendReceipt, SqliteStore, Switchboard, WebhookOutcome, WebhookRequest,
};

/// The lease of the renewal tests: renewed every `LEASE / 3`, so only a stall of two thirds of
/// it (1.6 s) on a loaded machine could lose it.
const LEASE: Duration = Duration::from_millis(2400);
/// How long the slow handler and the slow provider take: two and a half leases.
const WORK: Duration = Duration::from_millis(6000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_from_outside_a_handler_is_durable_and_idempotent() {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-send-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/engine.db", dir.display());
    let mem = memory("mem");
    let to = ConversationRef::parse("mem", "C9").unwrap();
    let key;
    {
        // Queued while no workers run: committed to the outbox, not sent.
        let store = SqliteStore::connect_with(&url, Synchronous::Normal)
            .await
            .unwrap();
        let sb = Switchboard::builder()
            .config(fast_config())
            .store(Arc::new(store))
            .channel_with(Arc::new(mem.clone()), unlimited())
            .build()
            .await
            .unwrap();
        key = sb
            .send(to.clone(), OutboundMessage::text("scheduled").unwrap())
            .await
            .unwrap();
        assert!(key.starts_with("mem/app/"), "{key}");
        let mut keyed = OutboundMessage::text("keyed").unwrap();
        keyed.idempotency_key = Some("job-42".to_owned());
        assert_eq!(
            sb.send(to.clone(), keyed.clone()).await.unwrap(),
            "mem/app/job-42"
        );
        // The same key again (a retried job) is not queued twice.
        assert_eq!(sb.send(to.clone(), keyed).await.unwrap(), "mem/app/job-42");
        // Unknown channel.
        let err = sb
            .send(
                ConversationRef::parse("nope", "C1").unwrap(),
                OutboundMessage::text("x").unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(sb.stats().await.unwrap().outbox_pending, 2);
        assert!(mem.sent().is_empty());
    }
    // A new engine on the same file sends them, in order, once.
    let store = SqliteStore::connect_with(&url, Synchronous::Normal)
        .await
        .unwrap();
    let sb = Switchboard::builder()
        .config(fast_config())
        .store(Arc::new(store))
        .channel_with(Arc::new(mem.clone()), unlimited())
        .build()
        .await
        .unwrap();
    let workers = sb.start_workers();
    assert!(eventually(Duration::from_secs(5), || async { mem.sent().len() == 2 }).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = mem.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].text, "scheduled");
    assert_eq!(sent[0].to, to);
    assert_eq!(sent[0].idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(sent[1].text, "keyed");
    let st = sb.store().outbox_status(&key).await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Sent);
    workers.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_longer_than_the_lease_keeps_it_and_runs_once() {
    let mem = memory("mem");
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let mut config = fast_config();
    // Renewed every 800 ms: only a stall of over 1.6 s on a loaded machine loses it.
    config.engine.lease = LEASE;
    config.engine.handler_timeout = Duration::from_secs(30);
    let sb = Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(mem.clone()), unlimited())
        .on_message(move |ctx| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                // Two and a half leases long: without renewal the row would be claimed again.
                tokio::time::sleep(WORK).await;
                ctx.reply_text("done")?;
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/mem", running.url());
    let req = mem.signed_request(&url, &[inbound("slow", "C1", "hi")]);
    assert_eq!(
        post(&reqwest::Client::new(), &url, &req).await.status(),
        200
    );
    assert!(eventually(Duration::from_secs(30), || async { mem.sent().len() == 1 }).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(mem.sent().len(), 1);
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    running.shutdown().await.unwrap();
}

/// A provider that takes [`WORK`] to accept each message.
#[derive(Debug, Clone)]
struct Slow(Timed);

#[switchboard::async_trait]
impl Adapter for Slow {
    fn info(&self) -> &AdapterInfo {
        self.0.info()
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        tokio::time::sleep(WORK).await;
        self.0.send(to, message).await
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.0.handle_webhook(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_longer_than_the_lease_is_not_claimed_twice() {
    let timed = Timed::new(memory("mem"));
    let mut config = fast_config();
    config.engine.lease = LEASE;
    let sb = Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(Slow(timed.clone())), unlimited())
        .build()
        .await
        .unwrap();
    let workers = sb.start_workers();
    let key = sb
        .send(
            ConversationRef::parse("mem", "C1").unwrap(),
            OutboundMessage::text("slow").unwrap(),
        )
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(30), || async {
            timed.inner.sent().len() == 1
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Attempts reaching the provider, and the row's attempts: one each.
    assert_eq!(timed.times.lock().unwrap().len(), 1);
    let st = sb.store().outbox_status(&key).await.unwrap().unwrap();
    assert_eq!((st.state, st.attempts), (OutboxState::Sent, 1));
    workers.stop().await;
}
