//! Failures the engine must not let block a conversation or lose silently: a handler that
//! panics, an event whose earlier claims all ended without an outcome (a handler that crashes
//! the process), and a delivery receipt the store could not record.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::common::*;
use switchboard::core::model::{DeliveryEvent, DeliveryStatus, EventKind, MessageId};
use switchboard::core::render::TextOption;
use switchboard::store::{
    Claim, DeadLetterKind, InboxFinish, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxState, OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, StoreStats,
};
use switchboard::{
    Adapter, Config, ConversationRef, DeadLetter, InboundEvent, MemoryStore, OutboundMessage,
    Result, Store, Switchboard, WebhookOutcome,
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

/// A MemoryStore whose `record_receipts` fails the first `fail_receipts` times (a full disk, a
/// locked file), and whose `stats` and `ping` fail when `fail_stats` is set.
#[derive(Debug)]
struct FlakyStore {
    inner: MemoryStore,
    fail_receipts: AtomicUsize,
    fail_stats: bool,
}

fn disk_full() -> switchboard::Error {
    switchboard::Error::new(switchboard::ErrorKind::Transport, "store: disk full")
}

fn unavailable() -> switchboard::Error {
    switchboard::Error::new(
        switchboard::ErrorKind::Transport,
        "store: unable to open /srv/secret/engine.db: disk I/O error",
    )
}

#[switchboard::async_trait]
impl Store for FlakyStore {
    async fn recover(&self) -> Result<()> {
        self.inner.recover().await
    }

    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        self.inner.insert_inbound(events).await
    }

    async fn claim_inbox(&self, claim: Claim) -> Result<Vec<InboxItem>> {
        self.inner.claim_inbox(claim).await
    }

    async fn finish_inbox(&self, finishes: Vec<InboxFinish>) -> Result<Vec<Result<bool>>> {
        self.inner.finish_inbox(finishes).await
    }

    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        self.inner.enqueue_outbound(rows).await
    }

    async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>> {
        self.inner.claim_outbox(claim).await
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>> {
        self.inner.update_outbox(updates).await
    }

    async fn renew(&self, queue: Queue, leases: &[Lease], until: SystemTime) -> Result<Vec<bool>> {
        self.inner.renew(queue, leases, until).await
    }

    async fn record_receipts(&self, receipts: &[Receipt], now: SystemTime) -> Result<Vec<u64>> {
        if self.fail_receipts.load(Ordering::SeqCst) > 0 {
            self.fail_receipts.fetch_sub(1, Ordering::SeqCst);
            return Err(disk_full());
        }
        self.inner.record_receipts(receipts, now).await
    }

    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        self.inner.proofs(key).await
    }

    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        self.inner.outbox_status(key).await
    }

    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        self.inner.get_state(conversation).await
    }

    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        self.inner.set_state(conversation, value).await
    }

    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>> {
        self.inner.get_options(conversation, now).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.inner.dead_letters(limit).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        if self.fail_stats {
            return Err(unavailable());
        }
        self.inner.stats().await
    }

    async fn prune(&self, prune: Prune) -> Result<Pruned> {
        self.inner.prune(prune).await
    }

    async fn ping(&self) -> Result<()> {
        if self.fail_stats {
            return Err(unavailable());
        }
        self.inner.ping().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_store_could_not_record_is_retried_not_dropped() {
    let mem = memory("mem");
    let store = Arc::new(FlakyStore {
        inner: MemoryStore::new(),
        fail_receipts: AtomicUsize::new(0),
        fail_stats: false,
    });
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
    let store = Arc::new(FlakyStore {
        inner: MemoryStore::new(),
        fail_receipts: AtomicUsize::new(0),
        fail_stats: true,
    });
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
