//! `PgStore`: the store several engine instances share, on PostgreSQL via sqlx (cargo feature
//! `postgres`).
//!
//! The model is the SQLite store's: each queue is a table of rows plus a table of conversation
//! heads, a claim reads the heads' `ready_at` index, a finish moves the head to the
//! conversation's next row. What changes with several writers:
//!
//! - **Claims** lock ready heads with `FOR UPDATE SKIP LOCKED` (batched: one statement leases
//!   up to `limit` heads and returns their rows), so instances claiming together never wait
//!   on each other nor hand out one head twice.
//! - **Finishes** lock the heads they finish (`FOR UPDATE`, in conversation order) before
//!   checking the fencing token, so a lease that ran out and was claimed again elsewhere is
//!   refused, and inserting a conversation's next row waits for a finish of its head (an
//!   upsert of the head), so no row is ever left without a head.
//! - **Group commit**: every write of one instance goes through its writer task, which commits
//!   whatever is waiting as one transaction (`writer`), as the SQLite writer does. The busy
//!   drain's batch (plain completions and the next claim) is one round trip (`drain`).
//! - **Wake-ups** cross instances with `LISTEN/NOTIFY` (`notify`): a transaction that made
//!   rows ready notifies, and every instance's claim loops wake; polling stays the safety net.
//! - **Migrations** are embedded and applied at connect under an advisory lock; a database
//!   whose schema is newer than this binary is refused (`migrate`).
//! - **Recovery** releases nothing: the store is shared by live instances, so a crashed
//!   instance's rows come back when their leases run out. Pruning deletes in chunks of rows it
//!   locks with `SKIP LOCKED`, so any number of instances may prune at once (`maintenance`).
//!
//! The logic (group commit, dedupe, finishing, updates, receipts, the `Store` contract) is
//! shared with the SQLite store in `crate::store::sql`; this module holds what is
//! PostgreSQL's: `migrate`, `writer` (pool transactions, notifications), `drain` (the drain's
//! commit in one round trip), `tx` (binding batches as arrays), `notify`, and the statements
//! by concept: `inbox`, `outbox`, `update` (outbox changes), `heads`, `receipts`, `state`,
//! `maintenance` (pruning).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use switchboard_core::{Error, ErrorKind, Result};
use tokio::sync::broadcast;

use super::Queue;
use super::sql::{Dialect, Param, PruneStep, SqlStore, Tx, Writer, db, forward_store};

mod bounds;
mod contacts;
mod drain;
#[cfg(test)]
mod drain_tests;
mod forward;
mod heads;
mod inbox;
mod inspect;
mod maintenance;
mod media;
mod migrate;
mod notify;
mod outbox;
mod pending;
#[cfg(test)]
mod raw_tests;
mod receipts;
mod state;
#[cfg(test)]
mod tests;
mod tx;
mod update;
mod webchat;
mod writer;

use tx::PgTx;
use writer::PgCommitter;

pub use inspect::Inspection;
pub use migrate::SCHEMA_VERSION;

/// How a [`PgStore`] connects: pool size, timeouts, schema.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// Connections in the pool (the writer takes one per group commit; reads, pruning and the
    /// listener share the rest). At least 2.
    pub pool_size: u32,
    /// Longest a connection (new, or from the pool) may take; then the call fails (a webhook
    /// answers 503, `/readyz` says not ready).
    pub connect_timeout: Duration,
    /// Longest one statement may run: the server's `statement_timeout`, and on the client
    /// (which gives up a second later, for a database that stopped answering at all);
    /// `None`: no limit.
    pub statement_timeout: Option<Duration>,
    /// The schema the tables live in (created if missing); `None`: the connection's default
    /// (`public`, or the URL's `options=-c search_path=…`).
    pub schema: Option<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
            schema: None,
        }
    }
}

impl PgOptions {
    /// Sets the schema the tables live in.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Sets the pool size.
    pub fn with_pool_size(mut self, size: u32) -> Self {
        self.pool_size = size;
        self
    }

    /// Sets the statement timeout (`None`: no limit, on the server nor on the client).
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Sets the connect (and pool acquire) timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// Parses a `postgres://` (or `postgresql://`) store URL; a malformed one is a configuration
/// error naming `store.url`.
///
/// # Errors
///
/// `InvalidConfig` naming `store.url` when `url` is not a PostgreSQL URL.
pub fn parse_url(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(|e| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("store.url: not a valid PostgreSQL URL ({e})"),
        )
    })
}

/// Whether `schema` is a plain identifier (letters, digits, `_`, not starting with a digit).
fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() < 64
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The connection options of `url` with `options`' schema and statement timeout; a malformed
/// URL or schema is a configuration error naming its key.
fn connect_options(url: &str, options: &PgOptions) -> Result<PgConnectOptions> {
    let mut opts = parse_url(url)?;
    if let Some(schema) = &options.schema {
        if !valid_schema(schema) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("store.schema: {schema:?} is not a plain identifier ([a-z_][a-z0-9_]*)"),
            ));
        }
        opts = opts.options([("search_path", schema.as_str())]);
    }
    if let Some(t) = options.statement_timeout {
        opts = opts.options([("statement_timeout", format!("{}", t.as_millis()).as_str())]);
    }
    Ok(opts)
}

/// The PostgreSQL store.
pub struct PgStore {
    core: SqlStore<Postgres>,
    /// The listener runs while this lives.
    _alive: Arc<()>,
}

/// The PostgreSQL dialect: reads and pruning on the pool, wake-ups from the listener.
#[derive(Debug)]
pub(crate) struct Postgres {
    pool: PgPool,
    schema: String,
    wakes: broadcast::Sender<Queue>,
    /// Conversation keys whose web chat logs got records (any instance).
    log_wakes: broadcast::Sender<String>,
    /// The pool's acquire timeout; also the bound on a readiness check as a whole.
    connect_timeout: Duration,
    /// The client's bound on each statement ([`bounds`]).
    limit: Option<Duration>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.core.dialect().schema)
            .finish()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:5432/db`) with the default options and applies
    /// the embedded migrations.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<Self> {
        PgStore::connect_with(url, PgOptions::default()).await
    }

    /// Like [`connect`](Self::connect) with explicit options.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for a malformed URL or schema name, or a database whose schema is newer than
    /// this binary; `Transport` when PostgreSQL cannot be reached in `connect_timeout` or a
    /// migration fails.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self> {
        let opts = connect_options(url, &options)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(2))
            .min_connections(0)
            .acquire_timeout(options.connect_timeout)
            .connect_with(opts)
            .await
            .map_err(db("connect"))?;
        // Bounded too: a database that accepts the connection and then goes silent fails the
        // start instead of hanging it (the migrations run a handful of statements).
        let limit = bounds::statement_limit(options.statement_timeout);
        let migrating = migrate::migrate(&pool, options.schema.as_deref());
        let schema = match limit {
            None => migrating.await?,
            Some(limit) => {
                let bound = options.connect_timeout + limit * 8;
                tokio::time::timeout(bound, migrating)
                    .await
                    .map_err(|_| bounds::Fault::Silent(bound).error("migrate"))??
            }
        };
        let channel = notify::channel(&schema);
        let (wakes, _) = broadcast::channel(64);
        let alive = Arc::new(());
        notify::listen(
            pool.clone(),
            channel.clone(),
            wakes.clone(),
            Arc::downgrade(&alive),
        )
        .await;
        let log_channel = webchat::channel(&schema);
        let (log_wakes, _) = broadcast::channel(1024);
        webchat::listen(
            pool.clone(),
            log_channel.clone(),
            log_wakes.clone(),
            Arc::downgrade(&alive),
        );
        let writer = Writer::start(PgCommitter {
            pool: pool.clone(),
            channel,
            log_channel: log_channel.clone(),
            limit,
            conn: None,
            prepared: false,
        });
        let dialect = Postgres {
            pool,
            schema,
            wakes,
            log_wakes,
            connect_timeout: options.connect_timeout,
            limit,
        };
        Ok(PgStore {
            core: SqlStore::new(writer, dialect),
            _alive: alive,
        })
    }

    /// The schema version of the database.
    ///
    /// # Errors
    ///
    /// `Transport` when PostgreSQL cannot be reached or the query fails.
    pub async fn schema_version(&self) -> Result<i64> {
        migrate::version(&self.core.dialect().pool).await
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.core.dialect().schema
    }
}

impl Postgres {
    /// A pooled connection (bounded by the pool's acquire timeout).
    async fn acquire(&self, what: &str) -> Result<PoolConnection<sqlx::Postgres>> {
        self.pool
            .acquire()
            .await
            .map_err(|e| bounds::Fault::Db(e).error(what))
    }
}

impl Dialect for Postgres {
    type Row = PgRow;

    const RETENTION: &'static crate::store::sql::webchat::RetentionSql = &webchat::RETENTION;

    async fn read(&self, sql: &'static str, params: &[Param<'_>]) -> Result<Vec<PgRow>> {
        let mut conn = self.acquire("read").await?;
        let rows = PgTx::new(&mut conn, self.limit).fetch(sql, params).await;
        if rows.is_err() {
            conn.close_on_drop();
        }
        rows
    }

    /// Beside the writer, on a pool connection: the chunk locks its rows with `SKIP LOCKED`,
    /// so instances pruning at once delete different rows, and no group commit waits for it.
    async fn prune_chunk(&self, _writer: &Writer, step: PruneStep, cutoff: i64) -> Result<u64> {
        let mut conn = self.acquire("prune").await?;
        let n = PgTx::new(&mut conn, self.limit).prune(step, cutoff).await;
        if n.is_err() {
            conn.close_on_drop();
        }
        n
    }

    /// Bounded by `connect_timeout` as a whole, so `/readyz` says "not ready" quickly when
    /// the database is slow or silent.
    async fn ping(&self) -> Result<()> {
        match tokio::time::timeout(self.connect_timeout, self.read("SELECT 1", &[])).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(bounds::Fault::Silent(self.connect_timeout).error("ping")),
        }
    }

    fn wake_ups(&self) -> Option<broadcast::Receiver<Queue>> {
        Some(self.wakes.subscribe())
    }

    fn log_wake_ups(&self) -> Option<broadcast::Receiver<String>> {
        Some(self.log_wakes.subscribe())
    }
}

forward_store!(PgStore, core);
