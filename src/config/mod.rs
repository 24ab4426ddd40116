//! The engine's configuration: `[server]` ([`ServerConfig`]), `[store]` ([`StoreConfig`]),
//! `[engine]` ([`EngineConfig`]), `[rate_limits]` ([`RateLimitsConfig`]), and each channel's
//! `rate` table ([`RateConfig`]) and `delivery` policy ([`DeliveryPolicy`]).
//!
//! The reference of every key, its default and what it does is the crate documentation's
//! [configuration reference](crate#configuration-reference) (the README's), and only there: one
//! test keeps its keys equal to the keys the code reads (`cli/tests/readme.rs`), another its
//! values equal to the code's defaults (`the_reference_shows_the_defaults`). Each field's
//! documentation here says what the key means for the code.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use switchboard_core::{Env, Error, ErrorKind, Result};

use crate::store::Synchronous;

mod channel;
mod installs;
mod rate_limits;

pub use channel::{DeliveryPolicy, RateConfig, UncertainSends};
pub(crate) use channel::{delivery_from, rate_from};
pub use installs::InstallsConfig;
pub use rate_limits::RateLimitsConfig;

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"7d"` (a bare number is seconds).
///
/// # Errors
///
/// A message naming `s` when it is not a number followed by `ms`, `s`, `m`, `h`, `d` or nothing.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like \"30s\" or \"250ms\""))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m, h or d)"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Secs(u64),
    }
    match Raw::deserialize(d)? {
        Raw::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
        Raw::Secs(n) => Ok(Duration::from_secs(n)),
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The public base URL providers call (no trailing slash); webhook URLs are
    /// `{public_url}/webhooks/{channel}`.
    pub public_url: Option<String>,
    /// Largest accepted webhook body.
    pub max_body_bytes: usize,
    /// Longest a webhook may take, from when it gets its load-shedding permit, to be received
    /// (else 408, and the permit is released) and stored (else 503).
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Webhooks in progress at once; more are answered 503 at once.
    pub max_in_flight: usize,
    /// The backlog at which verified webhooks wait before they are stored: events
    /// acknowledged and not yet handled, plus the replies handlers queued and not yet through
    /// their first send attempt (an application's own sends do not count). One waiting webhook is admitted per event handled (or dead-lettered)
    /// and per row sent (or deferred by a rate limit); one still waiting when
    /// `request_timeout` passes is answered 503 with `Retry-After: 1`. Bounds how long a
    /// burst keeps the engine behind (about `max_backlog` ÷ the rate it gets through) and
    /// keeps acknowledging from taking the CPU handling and sending need. `0`: no bound. Counted only where this process is the store's one user (the
    /// memory store, SQLite); off on a store shared by several instances (PostgreSQL). See
    /// [`crate::docs`], "A bounded backlog".
    pub max_backlog: usize,
    /// After a shutdown signal: how long requests in flight may finish, then how long running
    /// handlers may finish.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// How long a connection may take to send a complete request head, from when the server
    /// starts waiting for one; so also how long an idle keep-alive connection stays open.
    #[serde(deserialize_with = "duration")]
    pub header_read_timeout: Duration,
    /// Connections open at once on each listener; `None`: three quarters of the process's
    /// open-file limit (see [`max_connections`](Self::max_connections)).
    pub max_connections: Option<usize>,
    /// Where to serve `/metrics` and `/readyz` (and `/healthz`) instead of `listen`, which
    /// then serves only webhooks and `/healthz`.
    pub admin_listen: Option<SocketAddr>,
}

impl ServerConfig {
    /// The connection cap in effect: `max_connections` if set, else three quarters of the
    /// process's soft open-file limit (keeping at least 32 descriptors for the store, the
    /// providers' clients and logs), or 1024 where that limit cannot be read.
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            crate::server::default_max_connections(crate::server::open_file_limit())
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_in_flight: 512,
            max_backlog: 10_000,
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_connections: None,
            admin_listen: None,
        }
    }
}

/// `[store]`.
///
/// ```toml
/// [store]
/// url = "postgres://switchboard@db.internal:5432/switchboard"  # or sqlite://PATH, memory:
/// pool_size = 8               # PostgreSQL: connections per instance
/// connect_timeout = "5s"      # PostgreSQL: a connection (new or from the pool) by then
/// statement_timeout = "30s"   # PostgreSQL: longest statement ("0s": no limit)
/// schema = "switchboard"      # PostgreSQL: the tables' schema (created if missing)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `sqlite://path.db`, `memory:` or `postgres://user@host:5432/db` (cargo feature
    /// `postgres`: one database shared by several instances).
    pub url: String,
    /// SQLite `synchronous`.
    pub synchronous: Synchronous,
    /// PostgreSQL: connections in each instance's pool (at least 2).
    pub pool_size: u32,
    /// PostgreSQL: longest wait for a connection; then the call fails (webhooks answer 503).
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// PostgreSQL: longest one statement may run (`0s`: no limit). The server cancels it then;
    /// the client gives up a second later even when the server never answers (a black-holed
    /// connection), so a silent database fails calls (webhooks: 503) instead of hanging.
    #[serde(deserialize_with = "duration")]
    pub statement_timeout: Duration,
    /// PostgreSQL: the schema the tables live in (created if missing); unset: the
    /// connection's default (`public`).
    pub schema: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://switchboard.db".to_owned(),
            synchronous: Synchronous::Full,
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            schema: None,
        }
    }
}

impl StoreConfig {
    /// Checks the URL (a malformed one is an error naming `store.url`) and the pool.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the key: a URL of no known store (or `postgres://` without the
    /// `postgres` feature), a malformed one, a pool under 2, a zero connect timeout.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(Error::new(ErrorKind::InvalidConfig, msg));
        let url = self.url.as_str();
        if url == "memory:" || url.starts_with("sqlite:") {
            return Ok(());
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return invalid(format!(
                "store.url: {url:?} is not supported (use sqlite://PATH, postgres://USER@HOST:PORT/DB or memory:)"
            ));
        }
        #[cfg(feature = "postgres")]
        {
            crate::store::postgres::parse_url(url)?;
            if self.pool_size < 2 {
                return invalid("store.pool_size: at least 2".to_owned());
            }
            if self.connect_timeout.is_zero() {
                return invalid("store.connect_timeout: must be above zero".to_owned());
            }
            Ok(())
        }
        #[cfg(not(feature = "postgres"))]
        invalid(
            "store.url: postgres:// needs switchboard built with cargo feature `postgres`"
                .to_owned(),
        )
    }

    /// The PostgreSQL connection options these settings give.
    #[cfg(feature = "postgres")]
    pub fn pg_options(&self) -> crate::store::PgOptions {
        let mut o = crate::store::PgOptions::default()
            .with_pool_size(self.pool_size)
            .with_connect_timeout(self.connect_timeout);
        o.statement_timeout = (!self.statement_timeout.is_zero()).then_some(self.statement_timeout);
        o.schema = self.schema.clone();
        o
    }
}

/// `[engine]`: workers, leases, retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Conversations handled in parallel: the rows one claim loop keeps in flight (tasks, not
    /// threads). Every claim and completion of them shares the store's group commits (a
    /// completion and the claim that takes its place share one), so with
    /// `synchronous = "full"` the drain rate is at most about `workers / fsync time`.
    pub workers: usize,
    /// Conversations sent to in parallel (the same bound for sends: the attempt is a commit of
    /// its own, the outcome shares one with the next claim).
    pub senders: usize,
    /// Lease on a claimed row; renewed every `lease / 3` while its handler or send runs, so
    /// it bounds how long a crashed engine's work waits, not how long a handler may take.
    #[serde(deserialize_with = "duration")]
    pub lease: Duration,
    /// Longest a handler may run; then the run counts as failed.
    #[serde(deserialize_with = "duration")]
    pub handler_timeout: Duration,
    /// Handler runs before an event is dead-lettered.
    pub handler_attempts: u32,
    /// Send attempts before a message is dead-lettered.
    pub send_attempts: u32,
    /// First retry delay.
    #[serde(deserialize_with = "duration")]
    pub backoff_base: Duration,
    /// Longest retry delay.
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// How long degraded numbered options stay answerable.
    #[serde(deserialize_with = "duration")]
    pub options_ttl: Duration,
    /// How often idle workers look for due retries and expired leases.
    #[serde(deserialize_with = "duration")]
    pub poll_interval: Duration,
    /// How long handled inbox rows and sent outbox rows are kept. This is the *dedupe
    /// horizon*: a provider redelivering an event received longer ago than this is not
    /// recognised as a duplicate. Keep it well above every provider's retry window (Slack
    /// retries for minutes, Meta for hours, Twilio within seconds).
    #[serde(deserialize_with = "duration")]
    pub retention: Duration,
    /// How often the engine prunes rows older than `retention` (and expired numbered options).
    #[serde(deserialize_with = "duration")]
    pub prune_interval: Duration,
    /// How long after a send's last attempt began an `Unknown` answer of the adapter's
    /// `reconcile` is asked again (with the retry backoff) before the channel's
    /// [`DeliveryPolicy`] decides. Covers providers whose lookups lag (a Twilio create still in
    /// flight) and late proofs (a Messenger echo). Asking again does not use up send attempts;
    /// it happens about 8 times across the window (never sooner than the retry backoff). Keep it
    /// above the adapters' request timeouts (Twilio's lookup answers `Unknown` for a missing
    /// message until its 30 s timeout has passed since the last attempt).
    #[serde(deserialize_with = "duration")]
    pub reconcile_window: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 256,
            senders: 256,
            lease: Duration::from_secs(30),
            handler_timeout: Duration::from_secs(20),
            handler_attempts: 5,
            send_attempts: 8,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            options_ttl: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_millis(200),
            retention: Duration::from_secs(7 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
            reconcile_window: Duration::from_secs(60),
        }
    }
}

/// The whole engine configuration (everything but the channels).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[engine]`.
    pub engine: EngineConfig,
    /// `[rate_limits]`: limits shared by every instance through Redis; `None` (no table): each
    /// engine limits its own sends.
    pub rate_limits: Option<RateLimitsConfig>,
    /// `[installs]`: the keys that encrypt installation tokens at rest; `None` (no table): no
    /// channel may keep installations (an OAuth channel is refused at startup). Read by
    /// [`Config::from_document`] (its `${ENV}` substituted), never deserialized whole.
    #[serde(skip)]
    pub installs: Option<InstallsConfig>,
}

impl Config {
    /// Reads `[server]`, `[store]`, `[engine]` and `[rate_limits]` from a parsed document
    /// (`${ENV}` in `rate_limits.url` from the process environment); other top-level tables
    /// except `[channels]` are errors.
    ///
    /// # Errors
    ///
    /// As [`from_document_with_env`](Self::from_document_with_env).
    pub fn from_document(doc: &toml::Table) -> Result<Self> {
        Config::from_document_with_env(doc, &Env::process())
    }

    /// [`from_document`](Self::from_document) with `${ENV}` values taken from `env`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the section and key: an unknown section or key, a value of the
    /// wrong type, a missing `${ENV}` variable, or a value [`validate`](Self::validate) refuses.
    pub fn from_document_with_env(doc: &toml::Table, env: &Env) -> Result<Self> {
        for key in doc.keys() {
            if !matches!(
                key.as_str(),
                "server" | "store" | "engine" | "rate_limits" | "installs" | "channels"
            ) {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "unknown top-level table '{key}' (known: server, store, engine, rate_limits, installs, channels)"
                    ),
                ));
            }
        }
        let mut config = Config::default();
        if let Some(v) = doc.get("server") {
            check_addresses(v)?;
            config.server = section("server", v)?;
        }
        if let Some(v) = doc.get("store") {
            config.store = section("store", v)?;
        }
        if let Some(v) = doc.get("engine") {
            config.engine = section("engine", v)?;
        }
        if let Some(v) = doc.get("rate_limits") {
            config.rate_limits = Some(rate_limits::rate_limits_from(v, env)?);
        }
        if let Some(v) = doc.get("installs") {
            config.installs = Some(installs::installs_from(v, env)?);
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the values no engine can run with. [`Config::from_document`] and
    /// [`SwitchboardBuilder::build`](crate::SwitchboardBuilder::build) (for a `Config` given
    /// directly) both call it.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the first key whose value no engine can run with.
    pub fn validate(&self) -> Result<()> {
        let e = &self.engine;
        let invalid = |msg: &str| Err(Error::new(ErrorKind::InvalidConfig, msg.to_owned()));
        if e.lease < Duration::from_millis(300) {
            return invalid("engine: lease must be at least 300ms (it is renewed every lease/3)");
        }
        if e.retention < Duration::from_secs(60) {
            return invalid("engine: retention must be at least 1m (it is the dedupe horizon)");
        }
        if e.workers == 0 || e.senders == 0 {
            return invalid("engine: workers and senders must be at least 1");
        }
        if e.handler_attempts == 0 || e.send_attempts == 0 {
            return invalid("engine: handler_attempts and send_attempts must be at least 1");
        }
        if e.poll_interval.is_zero() || e.prune_interval.is_zero() {
            return invalid("engine: poll_interval and prune_interval must be above zero");
        }
        if self.server.request_timeout.is_zero() || self.server.max_body_bytes == 0 {
            return invalid("server: request_timeout and max_body_bytes must be above zero");
        }
        self.validate_connections()?;
        if let Some(r) = &self.rate_limits {
            r.validate()?;
        }
        self.store.validate()
    }
}

impl Config {
    /// `[server]`'s connection keys: each error names its key.
    fn validate_connections(&self) -> Result<()> {
        let s = &self.server;
        let invalid = |msg: String| Err(Error::new(ErrorKind::InvalidConfig, msg));
        if s.header_read_timeout.is_zero() {
            return invalid("server: key 'header_read_timeout' must be above zero".to_owned());
        }
        if s.max_in_flight == 0 {
            return invalid("server: key 'max_in_flight' must be at least 1".to_owned());
        }
        if let Some(n) = s.max_connections {
            if n == 0 {
                return invalid("server: key 'max_connections' must be at least 1".to_owned());
            }
            if let Some(limit) = crate::server::open_file_limit()
                && n as u64 >= limit
            {
                return invalid(format!(
                    "server: key 'max_connections': {n} is not below the process's open-file \
                     limit ({limit}); leave it unset for {} or raise `ulimit -n`",
                    crate::server::default_max_connections(Some(limit))
                ));
            }
        }
        if s.admin_listen == Some(s.listen) && s.listen.port() != 0 {
            return invalid(format!(
                "server: key 'admin_listen': {} is also 'listen'; use another address or \
                 leave it unset",
                s.listen
            ));
        }
        Ok(())
    }
}

/// `[server]`'s socket addresses, checked first so that the error names the key.
fn check_addresses(server: &toml::Value) -> Result<()> {
    for key in ["listen", "admin_listen"] {
        if let Some(toml::Value::String(addr)) = server.get(key)
            && addr.parse::<SocketAddr>().is_err()
        {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("server: key '{key}': {addr:?} is not an address like \"127.0.0.1:8080\""),
            ));
        }
    }
    Ok(())
}

fn section<T: serde::de::DeserializeOwned>(name: &str, v: &toml::Value) -> Result<T> {
    T::deserialize(v.clone())
        .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("{name}: {}", e.message())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate documentation's (the README's) reference shows each key of `[server]`,
    /// `[store]` and `[engine]` with its default value, except the keys that have none or whose
    /// default depends on the machine, which it shows with an example.
    #[test]
    fn the_reference_shows_the_defaults() {
        let readme = include_str!("../../README.md");
        let block = readme
            .split("```toml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap_or_default())
            .find(|b| b.contains("[engine]"))
            .expect("the README has a ```toml block with [engine]");
        let mut doc: toml::Table = block.parse().unwrap();
        doc.retain(|section, _| matches!(section, "server" | "store" | "engine"));
        let documented = Config::from_document(&doc).unwrap();
        let default = Config::default();
        let mut server = documented.server.clone();
        // Examples: no default (public_url, admin_listen) or the machine's (max_connections).
        server.public_url = default.server.public_url.clone();
        server.admin_listen = default.server.admin_listen;
        server.max_connections = default.server.max_connections;
        let mut store = documented.store.clone();
        store.schema = default.store.schema.clone(); // an example: the default is none
        for (section, documented, default) in [
            (
                "server",
                format!("{server:?}"),
                format!("{:?}", default.server),
            ),
            (
                "store",
                format!("{store:?}"),
                format!("{:?}", default.store),
            ),
            (
                "engine",
                format!("{:?}", documented.engine),
                format!("{:?}", default.engine),
            ),
        ] {
            assert_eq!(
                documented, default,
                "README.md's [{section}] shows values other than the defaults"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5 weeks").is_err());
    }

    #[test]
    fn sections_and_unknown_keys() {
        let doc: toml::Table = "[server]\nlisten = '127.0.0.1:9000'\nmax_body_bytes = 10\n[engine]\nlease = '5s'\nhandler_timeout = '1s'"
            .parse()
            .unwrap();
        let c = Config::from_document(&doc).unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.server.max_body_bytes, 10);
        assert_eq!(c.engine.lease, Duration::from_secs(5));
        let bad: toml::Table = "[server]\nlistn = 'x'".parse().unwrap();
        for (toml, key) in [
            ("header_read_timeout = '0s'", "header_read_timeout"),
            ("max_connections = 0", "max_connections"),
            ("max_connections = 1000000000", "max_connections"),
            (
                "listen = '127.0.0.1:9000'\nadmin_listen = '127.0.0.1:9000'",
                "admin_listen",
            ),
            ("admin_listen = 'nowhere'", "admin_listen"),
        ] {
            let doc: toml::Table = format!("[server]\n{toml}").parse().unwrap();
            let err = Config::from_document(&doc)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(key), "{toml}: {err}");
        }
        let doc: toml::Table =
            "[server]\nheader_read_timeout = '2s'\nmax_connections = 100\nadmin_listen = '127.0.0.1:9090'"
                .parse()
                .unwrap();
        let c = Config::from_document(&doc).unwrap();
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.server.max_connections(), 100);
        assert_eq!(c.server.admin_listen.map(|a| a.port()), Some(9090));
        assert!(Config::default().server.max_connections() >= 1);
        let err = Config::from_document(&bad).unwrap_err().to_string();
        assert!(err.contains("server: unknown field `listn`"), "{err}");
        // Leases are renewed, so a handler may run longer than the lease.
        let long: toml::Table = "[engine]\nlease = '1s'\nhandler_timeout = '2s'\nretention = '2d'"
            .parse()
            .unwrap();
        let c = Config::from_document(&long).unwrap();
        assert_eq!(c.engine.retention, Duration::from_secs(2 * 86400));
        let bad: toml::Table = "[engine]\nlease = '100ms'".parse().unwrap();
        assert!(Config::from_document(&bad).is_err());
        let bad: toml::Table = "[engine]\nretention = '10s'".parse().unwrap();
        assert!(Config::from_document(&bad).is_err());
        let bad: toml::Table = "[srever]\n".parse().unwrap();
        assert!(Config::from_document(&bad).is_err());
    }

    #[test]
    fn store_urls() {
        let parse = |url: &str| {
            let doc: toml::Table = format!("[store]\nurl = '{url}'").parse().unwrap();
            Config::from_document(&doc).map_err(|e| e.to_string())
        };
        assert!(parse("memory:").is_ok());
        assert!(parse("sqlite://x.db").is_ok());
        let err = parse("mysql://x").unwrap_err();
        assert!(err.contains("store.url"), "{err}");
        #[cfg(feature = "postgres")]
        {
            let c = parse("postgres://sb@127.0.0.1:5432/sb").unwrap();
            assert_eq!(c.store.pool_size, 8);
            let err = parse("postgres://sb@127.0.0.1:notaport/sb").unwrap_err();
            assert!(err.contains("store.url"), "{err}");
            let doc: toml::Table = "[store]\nurl = 'postgres://h/db'\npool_size = 1"
                .parse()
                .unwrap();
            let err = Config::from_document(&doc).unwrap_err().to_string();
            assert!(err.contains("store.pool_size"), "{err}");
        }
        #[cfg(not(feature = "postgres"))]
        assert!(parse("postgres://h/db").unwrap_err().contains("postgres"));
    }
}
