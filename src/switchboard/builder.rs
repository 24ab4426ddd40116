//! [`SwitchboardBuilder`]: channels (from a config file or adapters), settings, a store and
//! handlers, built into a [`Switchboard`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use switchboard_core::{Adapter, ChannelTable, Env, Error, ErrorKind, Registry, Result};

use crate::backlog::Backlog;
use crate::config::{Config, DeliveryPolicy, RateConfig, delivery_from, rate_from};
use crate::handler::{Context, Handler, HandlerResult, Handlers};
use crate::install::StoreInstallations;
use crate::metrics::Metrics;
use crate::ratelimit::LimitsSource;
use crate::store::{MemoryStore, SqliteStore, Store};

use super::Switchboard;
use crate::engine::{ChannelEntry, Engine, Wake};

/// Engine-side settings of one channel (the adapter's own keys live in the adapter).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct ChannelSettings {
    /// Outbound rate limits; `None` (the default, and a channel without a `rate` table) takes
    /// them from the adapter's [`rate_hint`](Adapter::rate_hint) via
    /// [`RateConfig::from_hint`].
    pub rate: Option<RateConfig>,
    /// What to do with a send that may have reached the provider when it cannot tell
    /// (`[channels.NAME] delivery`); `None` is [`DeliveryPolicy::AtLeastOnce`] for adapters
    /// that reconcile, and the cautious dead letter for those that cannot (see
    /// [`DeliveryPolicy`]).
    pub delivery: Option<DeliveryPolicy>,
}

impl ChannelSettings {
    /// Settings with this delivery policy.
    pub fn with_delivery(mut self, delivery: DeliveryPolicy) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// Settings with these rate limits (instead of the adapter's hint).
    pub fn with_rate(mut self, rate: RateConfig) -> Self {
        self.rate = Some(rate);
        self
    }
}

/// Builds a [`Switchboard`]: channels (from a config file or adapters), a store, handlers and
/// plugins.
#[must_use]
pub struct SwitchboardBuilder {
    config: Config,
    registry: Registry,
    tables: Vec<(ChannelTable, ChannelSettings)>,
    adapters: Vec<(Arc<dyn Adapter>, ChannelSettings)>,
    store: Option<Arc<dyn Store>>,
    handlers: Handlers,
    plugins: Vec<Arc<dyn crate::plugin::Plugin>>,
}

impl std::fmt::Debug for SwitchboardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchboardBuilder")
            .field("config", &self.config)
            .field("registry", &self.registry)
            .field("channels", &(self.tables.len() + self.adapters.len()))
            .finish()
    }
}

impl Default for SwitchboardBuilder {
    fn default() -> Self {
        SwitchboardBuilder::new()
    }
}

impl SwitchboardBuilder {
    /// An empty builder: default config, the default registry, and the store `[store] url`
    /// names (by default `sqlite://switchboard.db`, a file in the working directory) unless
    /// [`store`](Self::store) sets one.
    pub fn new() -> Self {
        SwitchboardBuilder {
            config: Config::default(),
            registry: crate::registry(),
            tables: Vec::new(),
            adapters: Vec::new(),
            store: None,
            handlers: Handlers::default(),
            plugins: Vec::new(),
        }
    }

    /// Parses a whole config document (`[server]`, `[store]`, `[engine]`, `[channels.*]`),
    /// substituting `${ENV}` from `env`. Adapters are built by [`build`](Self::build), so a
    /// custom [`registry`](Self::registry) set afterwards still applies.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the section and key: not TOML, an unknown key or section, a missing
    /// `${ENV}` variable, a value no engine can run with.
    pub fn from_config_str(text: &str, env: &Env) -> Result<Self> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::new(ErrorKind::InvalidConfig, format!("config: {}", e.message()))
        })?;
        let config = Config::from_document_with_env(&doc, env)?;
        let mut b = SwitchboardBuilder::new().config(config);
        for mut table in ChannelTable::parse_all(&doc, env)? {
            let rate_table = table.take("rate");
            let rate = rate_from(table.channel().as_str(), rate_table)?;
            let delivery_key = table.take("delivery");
            let delivery = delivery_from(table.channel().as_str(), delivery_key)?;
            if let Some(base) = &b.config.server.public_url {
                let url = format!(
                    "{}/webhooks/{}",
                    base.trim_end_matches('/'),
                    table.channel()
                );
                table = table.with_public_webhook_url(url);
            }
            b.tables.push((table, ChannelSettings { rate, delivery }));
        }
        Ok(b)
    }

    /// Replaces the engine configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Replaces the registry used to build channels from config tables.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Adds a channel served by an adapter built in code, with default settings.
    pub fn channel(self, adapter: Arc<dyn Adapter>) -> Self {
        self.channel_with(adapter, ChannelSettings::default())
    }

    /// Adds a channel served by an adapter built in code.
    pub fn channel_with(mut self, adapter: Arc<dyn Adapter>, settings: ChannelSettings) -> Self {
        self.adapters.push((adapter, settings));
        self
    }

    /// Uses this store instead of the one `[store] url` names.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The handler for `Message` events.
    pub fn on_message<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.handlers.message = Some(Handler::new(f));
        self
    }

    /// The handler for `Action` events (buttons, quick replies, and numbered text options
    /// answered by number or label).
    pub fn on_action<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.handlers.action = Some(Handler::new(f));
        self
    }

    /// The handler for every other event (and for messages/actions without their own handler).
    pub fn on_event<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.handlers.event = Some(Handler::new(f));
        self
    }

    /// Runs gateway mode beside the handlers: every inbound event is forwarded to the
    /// configured endpoints, and the REST API (`/v1/…`) is served on `server.listen` (see
    /// [`gateway`](crate::gateway)). [`build`](Self::build) fails when the config names unknown
    /// channels or the store has no forwarding queue.
    pub fn gateway(self, config: crate::gateway::GatewayConfig) -> Self {
        self.plugin(crate::gateway::Gateway::new(config))
    }

    /// Adds a plugin: its hooks run beside the handlers and the other plugins (see
    /// [`plugin`](crate::plugin)), in the order plugins are added. [`build`](Self::build)
    /// fails when two plugins have the same [`name`](crate::plugin::Plugin::name) or one's
    /// [`attach`](crate::plugin::Plugin::attach) fails.
    pub fn plugin(mut self, plugin: impl crate::plugin::Plugin) -> Self {
        self.plugins.push(Arc::new(plugin));
        self
    }

    /// Checks the configuration ([`Config::validate`], also for a `Config` given with
    /// [`config`](Self::config)), builds the adapters, opens the store and recovers it.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for a configuration [`Config::validate`] refuses (a malformed
    /// `rate_limits.url` included), a channel defined twice or a channel table its adapter
    /// refuses; the store's error when it cannot be opened or recovered.
    pub async fn build(self) -> Result<Switchboard> {
        self.config.validate()?;
        crate::plugin::check_names(&self.plugins)?;
        let metrics = Metrics::new();
        let limits =
            LimitsSource::new(self.config.rate_limits.as_ref(), metrics.rate_limits()).await?;
        let mut channels = HashMap::new();
        let mut add = |adapter: Arc<dyn Adapter>, settings: ChannelSettings| -> Result<()> {
            let name = adapter.info().channel.as_str().to_owned();
            if channels.contains_key(&name) {
                return Err(Error::config(&name, "channel defined twice"));
            }
            let rate = settings
                .rate
                .unwrap_or_else(|| RateConfig::from_hint(&adapter.rate_hint()));
            let limits = limits.channel(&name, &rate);
            channels.insert(
                name,
                ChannelEntry {
                    adapter,
                    rate,
                    limits,
                    delivery: settings.delivery,
                },
            );
            Ok(())
        };
        // The store first: web chat channels keep their logs and token keys in it.
        let store: Arc<dyn Store> = match self.store {
            Some(s) => s,
            None => open_store(&self.config).await?,
        };
        #[cfg(feature = "webchat")]
        let mut webchat = crate::webchat::Channels::new(&store);
        for (table, settings) in self.tables {
            #[cfg(feature = "webchat")]
            if table.provider() == switchboard_webchat::PROVIDER {
                let public_url = self.config.server.public_url.as_deref();
                add(webchat.build(table, &store, public_url).await?, settings)?;
                continue;
            }
            add(self.registry.build(table)?, settings)?;
        }
        for (adapter, settings) in self.adapters {
            add(adapter, settings)?;
        }
        let installations = attach_installations(&self.config, &store, &channels).await?;
        store.recover().await?;
        let backlog = backlog(&self.config, &store).await;
        let engine = Arc::new(Engine {
            config: self.config,
            channels,
            store,
            handlers: self.handlers,
            metrics,
            inbox_ready: Wake::default(),
            outbox_ready: Wake::default(),
            backlog,
            #[cfg(feature = "webchat")]
            webchat,
            plugins: self.plugins,
            installations,
        });
        let switchboard = Switchboard { inner: engine };
        for plugin in &switchboard.inner.plugins {
            plugin.attach(&switchboard).await?;
        }
        Ok(switchboard)
    }
}

/// The backlog the engine counts and bounds (see [`crate::backlog`]): bounded by
/// `server.max_backlog` when this process is the store's one user ([`Store::exclusive`]),
/// counted from the store's pending events.
async fn backlog(config: &Config, store: &Arc<dyn Store>) -> Backlog {
    let limit = config.server.max_backlog;
    if limit == 0 || !store.exclusive() {
        return Backlog::unbounded();
    }
    match store.stats().await {
        Ok(stats) => Backlog::new(limit, stats.inbox_pending),
        Err(e) => {
            // Counted from zero: events stored before this start are not held against the
            // bound (it is only looser until they are handled).
            tracing::warn!(error = %e, "could not count the pending events; the backlog is counted from zero");
            Backlog::new(limit, 0)
        }
    }
}

/// Builds the installations when `[installs]` is configured and hands them to every channel's
/// adapter; a channel offering an OAuth install flow without them, or on a store that keeps
/// none, is a startup error naming it.
async fn attach_installations(
    config: &Config,
    store: &Arc<dyn Store>,
    channels: &HashMap<String, ChannelEntry>,
) -> Result<Option<Arc<StoreInstallations>>> {
    let mut oauth: Vec<&str> = channels
        .iter()
        .filter(|(_, e)| e.adapter.oauth().is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    oauth.sort_unstable();
    let Some(installs) = &config.installs else {
        return match oauth.first() {
            Some(name) => Err(Error::config(
                name,
                "a channel with an OAuth install flow (client_id) keeps installations: \
                 configure [installs] keys = [\"${SWITCHBOARD_INSTALL_KEY}\"]",
            )),
            None => Ok(None),
        };
    };
    let keys = Arc::new(installs.key_ring()?);
    if let (Some(name), Err(e)) = (oauth.first(), store.list_installs(None).await) {
        return Err(Error::config(
            name,
            format_args!("the store cannot keep installations: {e}"),
        ));
    }
    let installations = Arc::new(StoreInstallations::new(store.clone(), keys));
    if !oauth.is_empty() {
        // A wrong or missing key is a startup error, not a failure at the first send.
        installations.check_keys().await?;
    }
    for entry in channels.values() {
        entry.adapter.attach_installations(installations.clone());
    }
    Ok(Some(installations))
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let url = config.store.url.as_str();
    if url == "memory:" {
        Ok(Arc::new(MemoryStore::new()))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect_with(url, config.store.synchronous).await?,
        ))
    } else {
        open_other(config).await
    }
}

#[cfg(feature = "postgres")]
async fn open_other(config: &Config) -> Result<Arc<dyn Store>> {
    let url = config.store.url.as_str();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = config.store.pg_options();
        return Ok(Arc::new(
            crate::store::PgStore::connect_with(url, options).await?,
        ));
    }
    Err(unsupported(url))
}

#[cfg(not(feature = "postgres"))]
async fn open_other(config: &Config) -> Result<Arc<dyn Store>> {
    Err(unsupported(&config.store.url))
}

fn unsupported(url: &str) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!(
            "store.url: {url:?} is not supported (use sqlite://PATH, postgres://USER@HOST:PORT/DB or memory:)"
        ),
    )
}
