//! Issue 15, item 10: a send whose request is still running at the provider is not resent.
//!
//! What a SIGKILL mid-send leaves behind, made deterministic: the first attempt of each send
//! fails at once as `Ambiguous` (the connection is gone) while the provider carries it out
//! [`EFFECT_AFTER`] later (the request was already at the provider). Reconciliation right
//! away finds nothing. Before the in-flight rule the engine answered "not delivered" and sent
//! again, and the provider got the message twice; now the adapter's
//! [`Adapter::send_timeout`] ([`SEND_TIMEOUT`] here) holds the reconciliation until the
//! attempt can no longer be running, and the second look finds the first attempt's message.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::core::memory::MemoryInbound;
use switchboard::{
    Adapter, AdapterInfo, ChannelName, ConversationRef, Env, Error, ErrorKind, MemoryAdapter,
    OutboundMessage, OutboxKey, PendingSend, Reconciled, Registry, Result, Retry, Secret,
    SendReceipt, SwitchboardBuilder, WebhookOutcome, WebhookRequest,
};

const SECRET: &str = "in-flight-secret";
/// When the provider carries out a first attempt whose caller is already gone.
const EFFECT_AFTER: Duration = Duration::from_millis(400);
/// What the adapter declares: longer than [`EFFECT_AFTER`], as a real request timeout is.
const SEND_TIMEOUT: Duration = Duration::from_millis(1200);
const MESSAGES: usize = 5;

/// A memory provider whose first attempt of every send lands late (see the module docs).
#[derive(Debug)]
struct LateProvider {
    inner: Arc<MemoryAdapter>,
    attempted: Mutex<HashSet<String>>,
}

#[switchboard::async_trait]
impl Adapter for LateProvider {
    fn info(&self) -> &AdapterInfo {
        self.inner.info()
    }

    fn send_timeout(&self) -> Duration {
        SEND_TIMEOUT
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        let key = message.idempotency_key.clone().unwrap_or_default();
        if self.attempted.lock().unwrap().insert(key) {
            let (inner, to, message) = (self.inner.clone(), to.clone(), message.clone());
            tokio::spawn(async move {
                tokio::time::sleep(EFFECT_AFTER).await;
                let _ = inner.send(&to, &message).await;
            });
            return Err(
                Error::new(ErrorKind::Transport, "connection reset mid-request")
                    .with_retry(Retry::Ambiguous),
            );
        }
        self.inner.send(to, message).await
    }

    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        self.inner.reconcile(key, pending).await
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.inner.handle_webhook(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_still_in_flight_is_not_resent() {
    let channel = ChannelName::new("late").unwrap();
    let memory = Arc::new(MemoryAdapter::new(channel.clone(), Secret::new(SECRET)));
    let provider = Arc::new(LateProvider {
        inner: memory.clone(),
        attempted: Mutex::default(),
    });
    let mut registry = Registry::new();
    let p = provider.clone();
    registry.register("late", move |t| {
        t.finish()?;
        Ok(p.clone() as Arc<dyn Adapter>)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = format!(
        "[server]\npublic_url = \"{base}\"\n\n[store]\nurl = \"memory:\"\n\n\
         [engine]\npoll_interval = \"20ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\n\
         reconcile_window = \"300ms\"\n\n\
         [channels.late]\nprovider = \"late\"\ndelivery = \"at_least_once\"\n"
    );
    let sb = SwitchboardBuilder::from_config_str(&config, &Env::process())
        .unwrap()
        .registry(registry)
        .on_message(|ctx| async move {
            let text = ctx.event().text().unwrap_or_default().to_owned();
            ctx.reply_text(format!("reply {text}"))?;
            Ok(())
        })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener).unwrap();
    let url = format!("{base}/webhooks/late");
    let client = reqwest::Client::new();
    for n in 0..MESSAGES {
        let ev = MemoryInbound::message(&format!("ev-{n}"), &format!("C{n}"), "U1", "hi");
        let req = memory.signed_request(&url, std::slice::from_ref(&ev));
        let mut r = client.post(&url).body(req.body.clone());
        for (k, v) in &req.headers {
            r = r.header(k.as_str(), v.to_str().unwrap());
        }
        assert!(r.send().await.unwrap().status().is_success());
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let stats = sb.stats().await.unwrap();
        if stats.outbox_sent as usize == MESSAGES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Any late copy would have landed by now.
    tokio::time::sleep(EFFECT_AFTER * 2).await;
    let sent = memory.sent();
    let keys: HashSet<_> = sent.iter().map(|s| s.idempotency_key.clone()).collect();
    assert_eq!(
        keys.len(),
        MESSAGES,
        "every reply reached the provider: {sent:?}"
    );
    assert_eq!(
        sent.len(),
        MESSAGES,
        "no reply reached the provider twice: {} copies of {MESSAGES}",
        sent.len()
    );
    assert_eq!(sb.stats().await.unwrap().outbox_sent as usize, MESSAGES);
    running.shutdown().await.unwrap();
}
