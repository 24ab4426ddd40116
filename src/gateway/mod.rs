//! Gateway mode: applications in any language use Switchboard over HTTP. Every inbound event
//! is forwarded to the app's endpoints as a signed [Standard Webhooks] request, from a durable
//! queue per endpoint; the app answers with replies, or sends through the REST API.
//!
//! ```toml
//! [gateway]
//! api_keys = ["${SWITCHBOARD_API_KEY}"]
//! [[gateway.forward]]
//! url = "https://app.example/switchboard/events"
//! secrets = ["${FORWARD_SECRET}"]                   # whsec_… ; several at once for rotation
//! channels = ["sms", "site"]                        # default: all
//! ```
//!
//! **How an event travels.** A worker claims the event (in order per conversation) and the
//! gateway's hook queues it for each endpoint that wants its channel: one row per (endpoint,
//! event), deduplicated, so the hook running again after a crash queues nothing twice. The
//! handlers run after the hook, so an application's own handlers, the bridge and the gateway
//! run together. The forwarder claims the head of each (endpoint, conversation) queue, POSTs it
//! ([`event`] has the JSON) with the headers
//! - `webhook-id`: `{channel}:{event id}` (the provider's event id is unique per channel only),
//!   the same at every attempt, for the receiver's deduplication;
//! - `webhook-timestamp`: Unix seconds of this attempt;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per
//!   secret, space separated ([`signature`]);
//!
//! and records the outcome:
//! - **2xx**: delivered. An answer `{"messages": [ … ]}` queues those replies in the same
//!   transaction ([`reply`]): a crash before it commits delivers the event again (same
//!   `webhook-id`) and the replies are queued once, by whichever delivery commits.
//! - **410**: the endpoint is disabled (logged, `switchboard_gateway_endpoint_disabled` in
//!   `/metrics`); its events stay queued, in order, until `switchboard gateway enable NAME`.
//! - **anything else** (another status, a timeout (15 s), a refused connection, a redirect):
//!   tried again after the next delay of the schedule (immediately, 5 s, 5 min, 30 min, 2 h,
//!   5 h, 10 h, 14 h, 20 h, 24 h; ±10 % jitter), never before the endpoint's `Retry-After`;
//!   after the last, a dead letter that `switchboard gateway replay NAME` queues again.
//!
//! Delivery is at least once, in order per conversation and endpoint: an endpoint sees a
//! conversation's next event only after the previous one was delivered or dead-lettered.
//!
//! **Targets**: `https` to public addresses only, unless `allow_private_targets`:
//! IP literals and `localhost` are refused when the config is read, and host names at every
//! connection by a resolver that drops internal addresses (the media fetcher's list). No proxy,
//! no redirects.
//!
//! **Decisions.**
//! - The gateway is a plugin on the engine's public hooks ([`crate::plugin`]): it takes no
//!   handler slot, so `on_message`/`on_action`/`on_event` handlers, the bridge and the
//!   application's own plugins run beside it. Its hook queues the event for its endpoints in a
//!   store write of its own (deduplicated per endpoint and event), not through the event's
//!   context: forwarding does not wait for the handler, and a handler that keeps failing does
//!   not hold back the endpoints.
//! - The forwarding queue is its own table per store (schema version 8), not the outbox: its
//!   rows are keyed per endpoint, carry a body signed again at each attempt, and are retried on
//!   the webhook schedule, not the provider's. Both SQL stores run its writes through their
//!   writer, in its group commits (`store::sql::forward`), bounded like every other write.
//! - An invalid synchronous reply fails the attempt (and ends as a dead letter naming what was
//!   wrong) rather than being dropped: nothing an endpoint sends is lost silently.
//! - API keys are kept as SHA-256 digests (the config may hold only the digest) and compared
//!   in constant time against every configured key.
//!
//! **Edits and deletes** (`PATCH`/`DELETE /v1/messages/{id}`) are outbox rows of their own,
//! keyed after the message's key and queued into its conversation (`crate::sender::ops`): as
//! durable as sends, made after the send, and made again (not reconciled) when interrupted,
//! since both are idempotent at the provider.
//!
//! **Where the API listens**: `server.listen` by default; `api_on = "admin_listen"` serves it
//! on `server.admin_listen` instead, beside `/metrics` and `/readyz` (the webhooks stay on
//! `server.listen`), for deployments that keep the API off the address providers reach.
//!
//! **Left out, for now.** A retrievable reference to a raw payload left out of a large event
//! (the inbox does not keep handled events: `raw_omitted` gives its size and SHA-256).
//!
//! **Sends given up on.** The gateway's dead-letter hook
//! ([`Plugin::on_dead_letter`](crate::plugin::Plugin::on_dead_letter)) queues a
//! `message.failed` ([`event::failed_body`]) for the endpoints that want the message's
//! channel, with `webhook-id` `{channel}/failed/{outbox key}`, in order with that
//! conversation's events, delivered like any event. At most once: a crash between the dead
//! letter's commit and the queuing loses it (`GET /v1/messages/{id}` still says `failed`).
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

pub mod api;
pub mod config;
pub mod event;
mod forwarder;
pub mod reply;
mod schedule;
pub mod signature;
mod target;

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::{Error, ErrorKind, InboundEvent, Result};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::{ApiKey, ApiOn, ForwardTarget, GatewayConfig};
pub use signature::WebhookSecret;

use crate::Switchboard;
use crate::engine::Engine;
use crate::metrics::GatewayMetrics;
use crate::plugin::{EventContext, FailedSend, Stop};
use crate::store::{NewForward, conversation_key};

/// What the hook, the forwarder and the API share.
pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    /// Wakes the forwarder when events were queued.
    pub(crate) wake: Notify,
    client: OnceLock<reqwest::Client>,
    metrics: OnceLock<GatewayMetrics>,
}

impl Shared {
    pub(crate) fn client(&self) -> Result<&reqwest::Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = target::client(self.config.allow_private_targets, self.config.timeout)?;
        Ok(self.client.get_or_init(|| c))
    }

    pub(crate) fn metrics(&self) -> GatewayMetrics {
        self.metrics.get().cloned().unwrap_or_default()
    }
}

/// The gateway as a plugin of the engine (see [`SwitchboardBuilder::gateway`](crate::SwitchboardBuilder::gateway)).
pub(crate) struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    pub(crate) fn new(config: GatewayConfig) -> Self {
        Gateway {
            shared: Arc::new(Shared {
                config,
                wake: Notify::new(),
                client: OnceLock::new(),
                metrics: OnceLock::new(),
            }),
        }
    }
}

impl Gateway {
    /// Whether the REST API is served on the admin listener (`admin`) or on `server.listen`.
    fn api_on(&self, engine: &Engine, admin: bool) -> bool {
        let config = &self.shared.config;
        let on_admin =
            config.api_on == ApiOn::AdminListen && engine.config.server.admin_listen.is_some();
        !config.api_keys.is_empty() && on_admin == admin
    }
}

/// `{channel}:{event id}`: the `webhook-id` of an event.
pub fn webhook_id(event: &InboundEvent) -> String {
    format!("{}:{}", event.conversation.channel, event.id)
}

#[async_trait]
impl crate::plugin::Plugin for Gateway {
    fn name(&self) -> &str {
        "gateway"
    }

    async fn attach(&self, switchboard: &Switchboard) -> Result<()> {
        let engine = &switchboard.inner;
        let config = &self.shared.config;
        if config.api_on == ApiOn::AdminListen && engine.config.server.admin_listen.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "gateway: key 'api_on': \"admin_listen\" needs [server] admin_listen",
            ));
        }
        if let Some(first) = config
            .check_channels(engine.channels.keys().map(String::as_str))
            .into_iter()
            .next()
        {
            return Err(first);
        }
        let _ = self.shared.metrics.set(engine.metrics.gateway());
        self.shared.client()?;
        if config.forward.is_empty() {
            return Ok(());
        }
        let endpoints = engine.store.forward_endpoints().await.map_err(|e| {
            if e.kind() == ErrorKind::Unsupported {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "gateway: the store ({:?}) has no forwarding queue",
                        engine.store
                    ),
                )
            } else {
                e
            }
        })?;
        for e in endpoints {
            let Some(reason) = e.disabled else { continue };
            if reason == forwarder::NOT_CONFIGURED && config.target(&e.name).is_some() {
                // Back in the config: enabled again.
                engine
                    .store
                    .set_forward_disabled(&e.name, None, SystemTime::now())
                    .await?;
                continue;
            }
            tracing::warn!(endpoint = %e.name, %reason, "gateway: endpoint disabled; `switchboard gateway enable` turns it back on");
            self.shared.metrics().set_disabled(&e.name, true);
        }
        Ok(())
    }

    async fn on_event(&self, ctx: &EventContext) -> Result<()> {
        let (engine, event) = (&ctx.switchboard().inner, ctx.event());
        let channel = event.conversation.channel.as_str();
        let targets: Vec<&ForwardTarget> = self
            .shared
            .config
            .forward
            .iter()
            .filter(|t| t.wants(channel))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let body = event::body(event)?;
        let id = webhook_id(event);
        let conversation = conversation_key(&event.conversation);
        let rows: Vec<NewForward> = targets
            .iter()
            .map(|t| NewForward::new(&t.name, &id, &conversation, &body))
            .collect();
        engine
            .store
            .enqueue_forwards(&rows, SystemTime::now())
            .await?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// A send given up on: `message.failed` to the endpoints that want its channel
    /// ([`event::failed_body`]).
    async fn on_dead_letter(&self, switchboard: &Switchboard, failed: &FailedSend) -> Result<()> {
        let channel = failed.to.channel.as_str();
        let targets: Vec<&ForwardTarget> = self
            .shared
            .config
            .forward
            .iter()
            .filter(|t| t.wants(channel))
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        let body = event::failed_body(failed, SystemTime::now())?;
        let id = event::failed_webhook_id(failed);
        let conversation = conversation_key(&failed.to);
        let rows: Vec<NewForward> = targets
            .iter()
            .map(|t| NewForward::new(&t.name, &id, &conversation, &body))
            .collect();
        switchboard
            .inner
            .store
            .enqueue_forwards(&rows, SystemTime::now())
            .await?;
        self.shared.wake.notify_one();
        Ok(())
    }

    fn start(&self, switchboard: Switchboard, stop: Stop) -> Vec<JoinHandle<()>> {
        if self.shared.config.forward.is_empty() {
            return Vec::new();
        }
        vec![tokio::spawn(forwarder::run(
            switchboard.inner,
            self.shared.clone(),
            stop,
        ))]
    }

    fn routes(&self, switchboard: Switchboard) -> Option<axum::Router> {
        let engine = switchboard.inner;
        self.api_on(&engine, false)
            .then(|| api::routes(engine, self.shared.clone()))
    }

    fn admin_routes(&self, switchboard: Switchboard) -> Option<axum::Router> {
        let engine = switchboard.inner;
        self.api_on(&engine, true)
            .then(|| api::routes(engine, self.shared.clone()))
    }
}
