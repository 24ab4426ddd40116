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
//!   whatever is waiting as one transaction (`writer`), as the SQLite writer does.
//! - **Wake-ups** cross instances with `LISTEN/NOTIFY` (`notify`): a transaction that made
//!   rows ready notifies, and every instance's claim loops wake; polling stays the safety net.
//! - **Migrations** are embedded and applied at connect under an advisory lock; a database
//!   whose schema is newer than this binary is refused (`migrate`).
//! - **Recovery** releases nothing: the store is shared by live instances, so a crashed
//!   instance's rows come back when their leases run out. Pruning deletes in chunks of rows it
//!   locks with `SKIP LOCKED`, so any number of instances may prune at once (`maintenance`).
//!
//! By concept: `migrate`, `writer`, `inbox`, `outbox`, `update` (outbox changes),
//! `heads`, `receipts`, `state`, `maintenance`, `notify`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use switchboard_core::render::TextOption;
use switchboard_core::{Error, ErrorKind, InboundEvent, Result};
use tokio::sync::broadcast;

use super::{
    Claim, DeadLetter, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome,
    InboxFinish, InboxItem, InboxOutcome, Inserted, Lease, NewForward, NewOutbound, OutboxItem,
    OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, Store, StoreStats,
    conversation_key, millis, store_error, to_json,
};

mod forward;
mod heads;
mod inbox;
mod maintenance;
mod migrate;
mod notify;
mod outbox;
mod receipts;
mod state;
#[cfg(test)]
mod tests;
mod update;
mod writer;

use inbox::{PreparedEvent, PreparedFinish};
use outbox::PreparedOutbound;
use writer::{Answer, Job, Writer};

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
    /// Longest one statement may run (`statement_timeout`); `None`: no limit.
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

    /// Sets the connect (and pool acquire) timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// Parses a `postgres://` (or `postgresql://`) store URL; a malformed one is a configuration
/// error naming `store.url`.
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

/// The PostgreSQL store.
pub struct PgStore {
    writer: Writer,
    pool: PgPool,
    schema: String,
    wakes: broadcast::Sender<Queue>,
    /// The listener runs while this lives.
    _alive: Arc<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish()
    }
}

fn db(context: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |e| store_error(context, e)
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:5432/db`) with the default options and applies
    /// the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        PgStore::connect_with(url, PgOptions::default()).await
    }

    /// Like [`connect`](Self::connect) with explicit options.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<Self> {
        let mut opts = parse_url(url)?;
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "store.schema: {schema:?} is not a plain identifier ([a-z_][a-z0-9_]*)"
                    ),
                ));
            }
            opts = opts.options([("search_path", schema.as_str())]);
        }
        if let Some(t) = options.statement_timeout {
            opts = opts.options([("statement_timeout", format!("{}", t.as_millis()).as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(2))
            .min_connections(0)
            .acquire_timeout(options.connect_timeout)
            .connect_with(opts)
            .await
            .map_err(db("connect"))?;
        let schema = migrate::migrate(&pool, options.schema.as_deref()).await?;
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
        Ok(PgStore {
            writer: Writer::start(pool.clone(), channel),
            pool,
            schema,
            wakes,
            _alive: alive,
        })
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64> {
        migrate::version(&self.pool).await
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

/// A claim's `now` and lease end, in milliseconds.
fn lease_span(claim: &Claim) -> (i64, i64) {
    let now = millis(claim.now);
    let lease = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX);
    (now, now.saturating_add(lease))
}

fn time_col(row: &PgRow, col: &str) -> Result<Option<SystemTime>> {
    let t: Option<i64> = row.try_get(col).map_err(db("row"))?;
    Ok(t.map(switchboard_core::model::time::from_millis))
}

fn attempts(row: &PgRow, col: &str) -> Result<u32> {
    let n: i64 = row.try_get(col).map_err(db("row"))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unexpected() -> Error {
    store_error("write", "the writer answered another job")
}

#[async_trait]
impl Store for PgStore {
    async fn recover(&self) -> Result<()> {
        // Shared by live instances: no lease is known to be dead. A crashed instance's rows
        // come back when their leases run out (claims take expired leases).
        Ok(())
    }

    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = millis(SystemTime::now());
        let rows = events
            .iter()
            .map(|ev| {
                Ok(PreparedEvent {
                    channel: ev.conversation.channel.as_str().to_owned(),
                    event_id: ev.id.as_str().to_owned(),
                    conversation: conversation_key(&ev.conversation),
                    json: to_json("event", ev)?,
                    received_at: now,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match self.writer.run(Job::Insert(rows)).await? {
            Answer::Inserted(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn claim_inbox(&self, claim: Claim) -> Result<Vec<InboxItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        match self.writer.run(Job::ClaimInbox(claim)).await? {
            Answer::Inbox(items) => Ok(items),
            _ => Err(unexpected()),
        }
    }

    async fn finish_inbox(&self, finishes: Vec<InboxFinish>) -> Result<Vec<Result<bool>>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let now = millis(SystemTime::now());
        let prepared = finishes
            .into_iter()
            .map(|f| {
                let outcome = match f.outcome {
                    InboxOutcome::Done(c) => inbox::Prepared::Done {
                        outbox: c
                            .outbox
                            .iter()
                            .map(PreparedOutbound::new)
                            .collect::<Result<_>>()?,
                        state: c
                            .state
                            .into_iter()
                            .map(|(k, v)| Ok((k, v.map(|v| to_json("state", &v)).transpose()?)))
                            .collect::<Result<_>>()?,
                        now,
                    },
                    InboxOutcome::Retry { at, error } => inbox::Prepared::Retry {
                        at: millis(at),
                        error,
                    },
                    InboxOutcome::DeadLetter { error } => inbox::Prepared::Dead { error },
                };
                Ok(PreparedFinish {
                    lease: f.lease,
                    outcome,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match self.writer.run(Job::FinishInbox(prepared)).await? {
            Answer::Finished(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = rows
            .iter()
            .map(PreparedOutbound::new)
            .collect::<Result<Vec<_>>>()?;
        let now = millis(SystemTime::now());
        match self.writer.run(Job::Enqueue(prepared, now)).await? {
            Answer::Enqueued(r) => r,
            _ => Err(unexpected()),
        }
    }

    async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        match self.writer.run(Job::ClaimOutbox(claim)).await? {
            Answer::Outbox(items) => Ok(items),
            _ => Err(unexpected()),
        }
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        match self.writer.run(Job::UpdateOutbox(updates)).await? {
            Answer::Flags(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn renew(&self, queue: Queue, leases: &[Lease], until: SystemTime) -> Result<Vec<bool>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let job = Job::Renew(queue, leases.to_vec(), millis(until));
        match self.writer.run(job).await? {
            Answer::Flags(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn record_receipts(&self, receipts: &[Receipt], now: SystemTime) -> Result<Vec<u64>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .writer
            .run(Job::Receipts(receipts.to_vec(), millis(now)))
            .await?
        {
            Answer::Counts(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        let mut conn = self.pool.acquire().await.map_err(db("proofs"))?;
        receipts::select_proofs(&mut conn, key).await
    }

    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        outbox::status(&self.pool, key).await
    }

    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        state::get_state(&self.pool, conversation).await
    }

    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        let value = value.map(|v| to_json("state", &v)).transpose()?;
        let now = millis(SystemTime::now());
        match self
            .writer
            .run(Job::SetState(conversation.to_owned(), value, now))
            .await?
        {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>> {
        state::get_options(&self.pool, conversation, now).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        maintenance::dead_letters(&self.pool, limit).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        maintenance::stats(&self.pool).await
    }

    async fn prune(&self, prune: Prune) -> Result<Pruned> {
        maintenance::prune(&self.pool, prune).await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db("ping"))
    }

    fn wake_ups(&self) -> Option<broadcast::Receiver<Queue>> {
        Some(self.wakes.subscribe())
    }

    async fn enqueue_forwards(&self, rows: &[NewForward], now: SystemTime) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        forward::enqueue(&self.pool, rows, millis(now)).await
    }

    async fn claim_forwards(&self, claim: Claim) -> Result<Vec<ForwardItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        forward::claim(&self.pool, &claim).await
    }

    async fn finish_forwards(
        &self,
        finishes: Vec<ForwardFinish>,
        now: SystemTime,
    ) -> Result<Vec<Result<bool>>> {
        let mut answers = Vec::with_capacity(finishes.len());
        for f in finishes {
            let outcome = match f.outcome {
                ForwardOutcome::Delivered { replies } => forward::Prepared::Delivered(
                    replies
                        .iter()
                        .map(PreparedOutbound::new)
                        .collect::<Result<_>>()?,
                ),
                ForwardOutcome::Retry { at, error } => forward::Prepared::Retry {
                    at: millis(at),
                    error,
                },
                ForwardOutcome::Disable { reason } => forward::Prepared::Disable { reason },
                ForwardOutcome::DeadLetter { error } => forward::Prepared::Dead { error },
            };
            answers.push(forward::finish(&self.pool, f.lease, &outcome, millis(now)).await?);
        }
        Ok(answers)
    }

    async fn set_forward_disabled(
        &self,
        endpoint: &str,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        forward::set_disabled(&self.pool, endpoint, reason, millis(now)).await
    }

    async fn forward_endpoints(&self) -> Result<Vec<ForwardEndpoint>> {
        forward::endpoints(&self.pool).await
    }

    async fn forward_dead_letters(
        &self,
        endpoint: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ForwardDead>> {
        forward::dead(&self.pool, endpoint, limit).await
    }

    async fn replay_forwards(&self, endpoint: &str, now: SystemTime) -> Result<u64> {
        forward::replay(&self.pool, endpoint, millis(now)).await
    }

    async fn prune_forwards(&self, before: SystemTime) -> Result<u64> {
        forward::prune(&self.pool, millis(before)).await
    }
}
