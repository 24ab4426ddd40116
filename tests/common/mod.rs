//! Shared helpers for the engine's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::core::memory::MemoryInbound;
use switchboard::{
    Adapter, AdapterInfo, ChannelName, ConversationRef, MemoryAdapter, OutboundMessage, Result,
    Secret, SendReceipt, WebhookOutcome, WebhookRequest,
};

pub const SECRET: &str = "test-secret";

pub fn memory(channel: &str) -> MemoryAdapter {
    MemoryAdapter::new(ChannelName::new(channel).unwrap(), Secret::new(SECRET))
}

pub async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// Sends a core `WebhookRequest` over real HTTP to `url`.
pub async fn post(client: &reqwest::Client, url: &str, req: &WebhookRequest) -> reqwest::Response {
    let mut r = client.post(url).body(req.body.clone());
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.to_str().unwrap());
    }
    r.send().await.unwrap()
}

pub fn inbound(id: &str, conv: &str, text: &str) -> MemoryInbound {
    MemoryInbound::message(id, conv, "U1", text)
}

/// Polls `f` until it is true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f().await
}

/// A MemoryAdapter that also records when each send reached the "provider", and when each
/// answer came back (with whether it was a 429, `RateLimited`).
#[derive(Debug, Clone)]
pub struct Timed {
    pub inner: MemoryAdapter,
    pub times: Arc<Mutex<Vec<Instant>>>,
    pub answers: Arc<Mutex<Vec<(Instant, bool)>>>,
}

impl Timed {
    pub fn new(inner: MemoryAdapter) -> Self {
        Timed {
            inner,
            times: Arc::default(),
            answers: Arc::default(),
        }
    }
}

#[switchboard::async_trait]
impl Adapter for Timed {
    fn info(&self) -> &AdapterInfo {
        self.inner.info()
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        self.times.lock().unwrap().push(Instant::now());
        let result = self.inner.send(to, message).await;
        let limited = matches!(&result, Err(e) if e.kind() == switchboard::ErrorKind::RateLimited);
        self.answers.lock().unwrap().push((Instant::now(), limited));
        result
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.inner.handle_webhook(request)
    }
}
