//! `Switchboard`: the engine value (here), its builder ([`builder`]), and the handles of
//! what it starts ([`running`]). It builds the engine's context ([`Engine`]) and starts the
//! rooms that take it; none of them reaches back in here.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use switchboard_core::{Adapter, ChannelName, ConversationRef, Env, Error, ErrorKind, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::claim_loop;
use crate::config::{Config, RateConfig, UncertainSends};
use crate::engine::Engine;
use crate::inbox::Inbox;
use crate::outbox::Outbox;
use crate::store::{DeadLetter, Store, StoreStats, conversation_key};

mod builder;
mod running;

pub use builder::{ChannelSettings, SwitchboardBuilder};
pub use running::{Running, Workers, shutdown_signal};

/// The engine: channels, a store, handlers, and the server, workers and sender that run them.
/// Cheap to clone.
#[derive(Clone)]
pub struct Switchboard {
    pub(crate) inner: Arc<Engine>,
}

impl std::fmt::Debug for Switchboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.inner.channels.keys().collect();
        names.sort();
        f.debug_struct("Switchboard")
            .field("channels", &names)
            .field("store", &self.inner.store)
            .finish()
    }
}

impl Switchboard {
    /// A builder.
    pub fn builder() -> SwitchboardBuilder {
        SwitchboardBuilder::new()
    }

    /// A builder from a TOML config file, with `${ENV}` from the process environment.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the file cannot be read, then as
    /// [`SwitchboardBuilder::from_config_str`].
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<SwitchboardBuilder> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("config {}: {e}", path.display()),
            )
        })?;
        SwitchboardBuilder::from_config_str(&text, &Env::process())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The adapter serving a channel.
    pub fn adapter(&self, channel: &ChannelName) -> Option<&Arc<dyn Adapter>> {
        self.inner
            .channels
            .get(channel.as_str())
            .map(|c| &c.adapter)
    }

    /// The outbound rate limits a channel runs with: its `rate` table, or the adapter's hint.
    pub fn channel_rate(&self, channel: &ChannelName) -> Option<RateConfig> {
        self.inner.channels.get(channel.as_str()).map(|c| c.rate)
    }

    /// Whether the rate limits are shared through the Redis of `[rate_limits]` right now:
    /// `None` without `[rate_limits]`, `Some(false)` while Redis is unreachable (each instance
    /// sends within its local share meanwhile, and reconnects in the background).
    pub fn rate_limits_shared(&self) -> Option<bool> {
        self.inner
            .config
            .rate_limits
            .as_ref()
            .map(|_| self.inner.metrics.rate_limits().is_shared())
    }

    /// What the sender does on a channel with a send that may have reached the provider: from
    /// the adapter's capabilities and the channel's `delivery` key (see [`UncertainSends`];
    /// an unset key on an adapter that can neither reconcile nor deduplicate is
    /// [`UncertainSends::DeadLettered`]). `None` for an unknown channel. Reads the channel's
    /// capabilities; an adapter whose conversations differ
    /// ([`capabilities_for`](Adapter::capabilities_for)) is decided per conversation.
    pub fn channel_delivery(&self, channel: &ChannelName) -> Option<UncertainSends> {
        self.inner
            .channels
            .get(channel.as_str())
            .map(|c| UncertainSends::of(&c.adapter.info().capabilities, c.delivery))
    }

    /// Events and messages the engine gave up on, oldest first.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.inner.store.dead_letters(limit).await
    }

    /// Row counts of the store.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read.
    pub async fn stats(&self) -> Result<StoreStats> {
        self.inner.store.stats().await
    }

    /// A conversation's application state, outside a handler.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read.
    pub async fn state(&self, conversation: &ConversationRef) -> Result<Option<serde_json::Value>> {
        self.inner
            .store
            .get_state(&conversation_key(conversation))
            .await
    }

    /// The metrics in the Prometheus text format (what `GET /metrics` serves).
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.encode()
    }

    /// The HTTP routes (webhooks, health, metrics) without workers: for embedding into an
    /// existing axum application. Events are stored; call [`start_workers`](Self::start_workers)
    /// somewhere to handle them (until they are handled, at most `server.max_backlog` are
    /// acknowledged: see [`crate::docs`], "A bounded backlog").
    pub fn router(&self) -> axum::Router {
        crate::server::router(self.inner.clone())
    }

    /// Starts workers, the sender and the pruner (rows past `engine.retention`; web chat
    /// history past its channel's `history_ttl` or `history_max_records`) without a server;
    /// stop them with the returned handle.
    pub fn start_workers(&self) -> Workers {
        let (tx, rx) = watch::channel(false);
        let worker = tokio::spawn(claim_loop::run::<Inbox>(self.inner.clone(), rx.clone()));
        let sender = tokio::spawn(claim_loop::run::<Outbox>(self.inner.clone(), rx.clone()));
        let mut tasks = vec![worker, sender];
        if let Some(wake_ups) = self.inner.store.wake_ups() {
            tasks.push(tokio::spawn(crate::engine::forward_wake_ups(
                self.inner.clone(),
                wake_ups,
                rx.clone(),
            )));
        }
        for plugin in &self.inner.plugins {
            tasks.extend(plugin.start(self.clone(), rx.clone()));
        }
        let log_policies = crate::pruner::log_policies(&self.inner);
        if !log_policies.is_empty() {
            tasks.push(tokio::spawn(crate::pruner::run_logs(
                self.inner.clone(),
                log_policies,
                rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(crate::pruner::run(self.inner.clone(), rx)));
        Workers { stop: tx, tasks }
    }

    /// Sends `message` to `to` from outside a handler (a scheduled job, another service, a
    /// bridge), durably: the message is written to the outbox and this returns once it is
    /// committed; the sender then delivers it like a handler's reply (in order per
    /// conversation, rate-limited, retried, dead-lettered on permanent failure). Returns the
    /// outbox key, for [`Store::outbox_status`].
    ///
    /// The key is `"{channel}/app/{k}"` where `k` is `message.idempotency_key` if set, else
    /// random: a namespace of its own (handler replies are `"{channel}:{event id}:{index}"`,
    /// and a channel name holds neither `/` nor `:`), so no app key can take a reply's. With
    /// your own key, calling again with the same key, conversation and message (after a crash,
    /// a retry) sends once: the outbox keeps the row it already holds. The same key with
    /// another conversation or message is an error (`InvalidMessage`), not ignored. Needs running workers
    /// ([`start_workers`](Self::start_workers), [`run`](Self::run), [`serve`](Self::serve),
    /// [`start`](Self::start)) to actually go out.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when `message` does not validate or its idempotency key is taken by another
    /// conversation or message; `NotFound` when no channel has `to`'s name; the store's error when
    /// the row cannot be written (then nothing was queued).
    pub async fn send(
        &self,
        to: ConversationRef,
        message: switchboard_core::OutboundMessage,
    ) -> Result<String> {
        crate::outbox::enqueue(&self.inner, to, message).await
    }

    /// The admin routes (`/readyz`, `/metrics`, `/healthz`): what `server.admin_listen` serves.
    /// For embedding: when `admin_listen` is set, [`router`](Self::router) leaves `/readyz` and
    /// `/metrics` out.
    pub fn admin_router(&self) -> axum::Router {
        crate::server::admin_router(self.inner.clone())
    }

    /// Serves on `listener` with workers and the sender until `shutdown` completes, then stops
    /// gracefully: no new connections; in-flight requests get up to `server.shutdown_grace` to
    /// finish (each is also bounded by `server.request_timeout`), after which `run` stops
    /// waiting for them; then running handlers get `server.shutdown_grace`, the rest stays in
    /// the inbox. With `server.admin_listen` set, that address is bound and served too.
    ///
    /// # Errors
    ///
    /// `Transport` when `server.admin_listen` cannot be bound.
    pub async fn run(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let admin = match self.inner.config.server.admin_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        self.run_with(listener, admin, shutdown).await
    }

    async fn run_with(
        &self,
        listener: TcpListener,
        admin: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let workers = self.start_workers();
        let server = &self.inner.config.server;
        let limits = crate::server::ConnLimits {
            max_connections: server.max_connections(),
            header_read_timeout: server.header_read_timeout,
        };
        let (fired, signalled) = watch::channel(false);
        #[cfg(feature = "webchat")]
        let engine = self.inner.clone();
        let shutdown = async move {
            shutdown.await;
            // Open event streams end, so connections drain (clients reconnect with their
            // cursors).
            #[cfg(feature = "webchat")]
            engine.webchat.close();
            let _ = fired.send(true);
        };
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let grace = server.shutdown_grace;
        let main =
            crate::server::serve(listener, self.router(), limits, stopped(signalled.clone()));
        let admin = async {
            if let Some(admin) = admin {
                crate::server::serve(
                    admin,
                    self.admin_router(),
                    limits,
                    stopped(signalled.clone()),
                )
                .await;
            }
        };
        let mut deadline_rx = signalled.clone();
        let drain_deadline = async move {
            if deadline_rx.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            ((), (), ()) = async { tokio::join!(main, admin, shutdown) } => {}
            () = drain_deadline => {
                tracing::warn!(
                    grace = ?grace,
                    "requests still in flight after shutdown_grace; no longer waiting for them"
                );
            }
        }
        workers.stop().await;
        Ok(())
    }

    /// Binds `server.listen` (and `server.admin_listen`) and serves until SIGINT or SIGTERM.
    ///
    /// # Errors
    ///
    /// `Transport` when `server.listen` or `server.admin_listen` cannot be bound.
    pub async fn serve(&self) -> Result<()> {
        let listen = self.inner.config.server.listen;
        let listener = bind(listen).await?;
        tracing::info!(%listen, "switchboard listening");
        if let Some(admin) = self.inner.config.server.admin_listen {
            tracing::info!(%admin, "admin endpoints (/metrics, /readyz) listening");
        }
        self.run(listener, shutdown_signal()).await
    }

    /// Serves on `listener` in a background task (binding `server.admin_listen` first, when it
    /// is set); the handle stops it.
    ///
    /// # Errors
    ///
    /// `Transport` when `listener` has no local address or `server.admin_listen` cannot be bound.
    pub fn start(&self, listener: TcpListener) -> Result<Running> {
        let addr = listener.local_addr().map_err(|e| {
            Error::new(ErrorKind::Transport, format!("listener: {e}")).with_source(e)
        })?;
        let admin = match self.inner.config.server.admin_listen {
            Some(at) => Some(bind_now(at)?),
            None => None,
        };
        let admin_addr = match &admin {
            Some(l) => Some(l.local_addr().map_err(|e| {
                Error::new(ErrorKind::Transport, format!("admin listener: {e}")).with_source(e)
            })?),
            None => None,
        };
        let (tx, mut rx) = watch::channel(false);
        let me = self.clone();
        let task = tokio::spawn(async move {
            me.run_with(listener, admin, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
        });
        Ok(Running {
            addr,
            admin_addr,
            stop: tx,
            task,
        })
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::new(ErrorKind::Transport, format!("bind {addr}: {e}")).with_source(e))
}

/// Binds `addr` without awaiting (for [`Switchboard::start`], which is not async).
fn bind_now(addr: std::net::SocketAddr) -> Result<TcpListener> {
    let err = |e: std::io::Error| {
        Error::new(ErrorKind::Transport, format!("bind {addr}: {e}")).with_source(e)
    };
    let std = std::net::TcpListener::bind(addr).map_err(err)?;
    std.set_nonblocking(true).map_err(err)?;
    TcpListener::from_std(std).map_err(err)
}
