//! Backpressure from the inbox backlog (`server.max_backlog`), over real HTTP: at the bound a
//! verified webhook waits for an event to be handled before it is stored, is answered 503 with
//! `Retry-After: 1` when the backlog stays full for `request_timeout`, and what was pending
//! when the engine started counts against the bound.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use switchboard::{
    Adapter, AdapterInfo, Config, ConversationRef, MemoryAdapter, MemoryStore, OutboundMessage,
    SendReceipt, Store, WebhookOutcome, WebhookRequest,
};
use tokio::sync::Semaphore;

/// Handlers that wait for a permit of `gate` each, counting the events they handled.
struct Gate {
    permits: Arc<Semaphore>,
    handled: Arc<AtomicUsize>,
}

impl Gate {
    fn new() -> Self {
        Gate {
            permits: Arc::new(Semaphore::new(0)),
            handled: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn handled(&self) -> usize {
        self.handled.load(Ordering::SeqCst)
    }
}

async fn serve(
    config: Config,
    store: Arc<MemoryStore>,
    gate: &Gate,
) -> (Served, switchboard::MemoryAdapter) {
    let mem = memory("mem");
    let (permits, handled) = (gate.permits.clone(), gate.handled.clone());
    let builder = switchboard::Switchboard::builder()
        .config(config)
        .store(store)
        .channel(Arc::new(mem.clone()))
        .on_message(move |_ctx| {
            let (permits, handled) = (permits.clone(), handled.clone());
            async move {
                permits.acquire().await.unwrap().forget();
                handled.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
    (Served::start(builder, "mem").await, mem)
}

/// Delivers one message webhook in a task of its own (it may wait for room): its status.
fn deliver_later(
    served: &Arc<Served>,
    mem: &MemoryAdapter,
    id: &'static str,
    conv: &'static str,
) -> tokio::task::JoinHandle<reqwest::StatusCode> {
    let (served, mem) = (served.clone(), mem.clone());
    tokio::spawn(async move {
        served
            .deliver(&mem, &[inbound(id, conv, "hi")])
            .await
            .status()
    })
}

fn bounded(max_backlog: usize, request_timeout: Duration) -> Config {
    let mut config = Config::default();
    config.server.max_backlog = max_backlog;
    config.server.request_timeout = request_timeout;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_bound_a_webhook_waits_until_an_event_is_handled() {
    let gate = Gate::new();
    let store = Arc::new(MemoryStore::new());
    let (served, mem) = serve(bounded(2, Duration::from_secs(20)), store.clone(), &gate).await;
    let served = Arc::new(served);

    for (id, conv) in [("e1", "C1"), ("e2", "C2")] {
        let r = served.deliver(&mem, &[inbound(id, conv, "hi")]).await;
        assert_eq!(r.status(), 200, "below the bound: stored at once");
    }
    let third = deliver_later(&served, &mem, "e3", "C3");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !third.is_finished(),
        "answered although the backlog was full"
    );
    assert_eq!(
        store.stats().await.unwrap().inbox_pending,
        2,
        "the third was stored"
    );

    // One handled event makes room for the waiting webhook.
    let released = Instant::now();
    gate.permits.add_permits(1);
    let status = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("the waiting webhook was not admitted after an event was handled")
        .unwrap();
    assert_eq!(status, 200);
    assert!(released.elapsed() < Duration::from_secs(5));

    gate.permits.add_permits(100);
    assert!(
        eventually(Duration::from_secs(5), || async { gate.handled() == 3 }).await,
        "every acknowledged event is handled: {}",
        gate.handled()
    );
    let served = Arc::into_inner(served).unwrap();
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_full_for_the_whole_request_timeout_is_answered_503_and_nothing_is_stored() {
    let gate = Gate::new();
    let store = Arc::new(MemoryStore::new());
    let timeout = Duration::from_secs(1);
    let (served, mem) = serve(bounded(1, timeout), store.clone(), &gate).await;

    let r = served.deliver(&mem, &[inbound("e1", "C1", "hi")]).await;
    assert_eq!(r.status(), 200);
    let started = Instant::now();
    let req = mem.signed_request(&served.url, &[inbound("e2", "C2", "hi")]);
    let r = served.post(&req).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("1")
    );
    assert!(
        started.elapsed() >= timeout - Duration::from_millis(100),
        "answered before request_timeout: {:?}",
        started.elapsed()
    );
    let stats = store.stats().await.unwrap();
    assert_eq!(
        stats.inbox_pending, 1,
        "the refused webhook was stored: {stats:?}"
    );
    let metrics = served.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("reason=\"backlog_full\""),
        "no backlog_full rejection counted:\n{metrics}"
    );

    // The provider's retry, once the handlers caught up, is stored and handled once.
    gate.permits.add_permits(100);
    assert!(eventually(Duration::from_secs(5), || async { gate.handled() == 1 }).await);
    assert_eq!(served.post(&req).await.status(), 200);
    assert!(eventually(Duration::from_secs(5), || async { gate.handled() == 2 }).await);
    assert_eq!(
        served.post(&req).await.status(),
        200,
        "a duplicate is acknowledged"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gate.handled(), 2, "the duplicate ran again");
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_backlog_zero_does_not_bound_it() {
    let gate = Gate::new();
    let store = Arc::new(MemoryStore::new());
    let (served, mem) = serve(bounded(0, Duration::from_secs(20)), store.clone(), &gate).await;
    for i in 0..20 {
        let r = tokio::time::timeout(
            Duration::from_secs(5),
            served.deliver(&mem, &[inbound(&format!("e{i}"), &format!("C{i}"), "hi")]),
        )
        .await
        .expect("held back without a bound");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(store.stats().await.unwrap().inbox_pending, 20);
    gate.permits.add_permits(100);
    assert!(eventually(Duration::from_secs(5), || async { gate.handled() == 20 }).await);
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pending_at_start_count_against_the_bound() {
    let gate = Gate::new();
    let store = Arc::new(MemoryStore::new());
    // Two events stored before this engine started (an earlier run's backlog).
    let mem = memory("mem");
    let earlier = mem.signed_request(
        "http://localhost/webhooks/mem",
        &[inbound("old1", "C1", "hi"), inbound("old2", "C2", "hi")],
    );
    let WebhookOutcome::Accepted { events, .. } = mem.handle_webhook(&earlier) else {
        panic!("the earlier webhook was refused");
    };
    store.insert_inbound(&events).await.unwrap();

    let (served, mem) = serve(bounded(2, Duration::from_secs(1)), store.clone(), &gate).await;
    let r = served.deliver(&mem, &[inbound("new", "C3", "hi")]).await;
    assert_eq!(r.status(), 503, "the earlier backlog was not counted");
    gate.permits.add_permits(100);
    assert!(eventually(Duration::from_secs(5), || async { gate.handled() == 2 }).await);
    let r = served.deliver(&mem, &[inbound("new", "C3", "hi")]).await;
    assert_eq!(r.status(), 200);
    assert!(eventually(Duration::from_secs(5), || async { gate.handled() == 3 }).await);
    served.shutdown().await;
}

/// The memory adapter, whose sends wait for a permit of `gate` each.
#[derive(Debug, Clone)]
struct GatedSends {
    inner: MemoryAdapter,
    gate: Arc<Semaphore>,
}

#[switchboard::async_trait]
impl Adapter for GatedSends {
    fn info(&self) -> &AdapterInfo {
        self.inner.info()
    }

    async fn send(
        &self,
        to: &ConversationRef,
        message: &OutboundMessage,
    ) -> switchboard::Result<SendReceipt> {
        self.gate.acquire().await.unwrap().forget();
        self.inner.send(to, message).await
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.inner.handle_webhook(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_not_yet_sent_count_against_the_bound() {
    let mem = memory("mem");
    let sends = Arc::new(Semaphore::new(0));
    let adapter = GatedSends {
        inner: mem.clone(),
        gate: sends.clone(),
    };
    let mut config = fast_config();
    config.server.max_backlog = 1;
    let builder = switchboard::Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(adapter), unlimited())
        .on_message(|ctx| async move {
            ctx.reply_text("ok")?;
            Ok(())
        });
    let served = Arc::new(Served::start(builder, "mem").await);

    assert_eq!(
        served
            .deliver(&mem, &[inbound("e1", "C1", "hi")])
            .await
            .status(),
        200
    );
    // e1 is handled at once; its reply waits for the provider.
    let second = deliver_later(&served, &mem, "e2", "C2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "admitted while the only reply in the backlog was unsent"
    );
    assert!(mem.sent().is_empty());

    sends.add_permits(100);
    let status = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("not admitted once the reply was sent")
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        eventually(Duration::from_secs(5), || async { mem.sent().len() == 2 }).await,
        "both replies sent: {}",
        mem.sent().len()
    );
    let served = Arc::into_inner(served).unwrap();
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_waiting_for_a_rate_limit_does_not_hold_webhooks_back() {
    let mem = memory("mem");
    let mut config = fast_config();
    config.server.max_backlog = 1;
    // One send per conversation every 20 s: the second reply waits for its turn.
    let rate = switchboard::RateConfig::new(None, Some(0.05));
    let builder = switchboard::Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(
            Arc::new(mem.clone()),
            switchboard::ChannelSettings::default().with_rate(rate),
        )
        .on_message(|ctx| async move {
            ctx.reply_text("one")?;
            ctx.reply_text("two")?;
            Ok(())
        });
    let served = Served::start(builder, "mem").await;

    assert_eq!(
        served
            .deliver(&mem, &[inbound("e1", "C1", "hi")])
            .await
            .status(),
        200
    );
    assert!(
        eventually(Duration::from_secs(5), || async { mem.sent().len() == 1 }).await,
        "the first reply was not sent"
    );
    // The second reply is deferred to its rate limit's time, 20 s away: out of the backlog.
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        served.deliver(&mem, &[inbound("e2", "C2", "hi")]),
    )
    .await
    .expect("a reply deferred by its rate limit held the next webhook back");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_event_and_a_duplicate_leave_room() {
    let mem = memory("mem");
    let mut config = fast_config();
    config.server.max_backlog = 1;
    config.server.request_timeout = Duration::from_secs(3);
    config.engine.handler_attempts = 1;
    let builder = builder(&mem)
        .config(config)
        .on_message(|_ctx| async move { Err("always fails".into()) });
    let served = Served::start(builder, "mem").await;
    for i in 0..3 {
        let started = Instant::now();
        let r = served
            .deliver(&mem, &[inbound(&format!("e{i}"), &format!("C{i}"), "hi")])
            .await;
        assert_eq!(r.status(), 200, "event {i}: a dead letter left no room");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "event {i} waited"
        );
        // The same webhook again: a duplicate, acknowledged, and it counts nothing.
        let r = served
            .deliver(&mem, &[inbound(&format!("e{i}"), &format!("C{i}"), "hi")])
            .await;
        assert!(matches!(r.status().as_u16(), 200 | 503), "{}", r.status());
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            served.sb.dead_letters(10).await.unwrap().len() == 3
        })
        .await
    );
    served.shutdown().await;
}
