//! Shared helpers for the engine's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::core::memory::MemoryInbound;

pub mod faulty;
#[cfg(all(feature = "postgres", feature = "testkit"))]
pub mod postgres;
use switchboard::{
    Adapter, AdapterInfo, ChannelName, ChannelSettings, Config, ConversationRef, MemoryAdapter,
    MemoryStore, OutboundMessage, RateConfig, Result, Running, Secret, SendReceipt, Switchboard,
    SwitchboardBuilder, WebhookOutcome, WebhookRequest,
};

pub const SECRET: &str = "test-secret";

pub fn memory(channel: &str) -> MemoryAdapter {
    MemoryAdapter::new(ChannelName::new(channel).unwrap(), Secret::new(SECRET))
}

/// The engine's timings shortened for tests: polling every 20 ms, retries backing off from 20 ms
/// to 100 ms; every other setting is the default.
pub fn fast_config() -> Config {
    let mut c = Config::default();
    c.engine.poll_interval = Duration::from_millis(20);
    c.engine.backoff_base = Duration::from_millis(20);
    c.engine.backoff_max = Duration::from_millis(100);
    c
}

/// A channel's settings without rate limits.
pub fn unlimited() -> ChannelSettings {
    ChannelSettings::default().with_rate(RateConfig::default())
}

/// The usual engine under test: [`fast_config`], a memory store, and `mem` as a channel without
/// rate limits. Add handlers, or override any of those, on the builder it returns.
pub fn builder(mem: &MemoryAdapter) -> SwitchboardBuilder {
    Switchboard::builder()
        .config(fast_config())
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(mem.clone()), unlimited())
}

/// An engine serving HTTP on 127.0.0.1, with a client and the URL of one channel's webhooks.
pub struct Served {
    pub sb: Switchboard,
    pub running: Running,
    pub client: reqwest::Client,
    /// `{base}/webhooks/{channel}`.
    pub url: String,
}

impl Served {
    /// Builds the engine and serves it; `channel` names the webhook URL kept in [`Served::url`].
    pub async fn start(builder: SwitchboardBuilder, channel: &str) -> Served {
        let sb = builder.build().await.unwrap();
        let running = sb.start(listener().await).unwrap();
        let url = format!("{}/webhooks/{channel}", running.url());
        Served {
            sb,
            running,
            client: reqwest::Client::new(),
            url,
        }
    }

    /// With a client that gives up on a request after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Served {
        self.client = reqwest::Client::builder().timeout(timeout).build().unwrap();
        self
    }

    /// Whether `/readyz` says ready within `timeout`.
    pub async fn ready_within(&self, timeout: Duration) -> bool {
        let url = format!("{}/readyz", self.running.url());
        eventually(timeout, || async {
            let r = self.client.get(&url).send().await;
            r.is_ok_and(|r| r.status().is_success())
        })
        .await
    }

    /// Posts `events` signed by `mem` to the webhook URL.
    pub async fn deliver(
        &self,
        mem: &MemoryAdapter,
        events: &[MemoryInbound],
    ) -> reqwest::Response {
        let req = mem.signed_request(&self.url, events);
        post(&self.client, &self.url, &req).await
    }

    /// Posts a prepared request to the webhook URL.
    pub async fn post(&self, req: &WebhookRequest) -> reqwest::Response {
        post(&self.client, &self.url, req).await
    }

    /// `GET {base}{path}`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.running.url()))
            .send()
            .await
            .unwrap()
    }

    /// Stops serving and the engine's loops.
    pub async fn shutdown(self) {
        self.running.shutdown().await.unwrap();
    }
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
