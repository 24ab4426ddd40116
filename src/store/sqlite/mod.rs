//! `SqliteStore`: the embedded default store, one SQLite file in WAL mode via sqlx.
//!
//! One engine per file, enforced across processes: the store holds an exclusive lock on
//! `{file}.lock` and a store in another process fails at connect. Every write goes through
//! one writer task that owns the write connection and *group commits* whatever is waiting
//! (inserts, claims, completions, sends marked sent, attempts, releases, renewals, receipts)
//! as one transaction, so one fsync carries many events ([`writer`]); reads go through a small
//! pool. Migrations are embedded in the binary and applied at connect.
//!
//! Each queue is a table of rows plus a table of conversation heads ([`heads`]): a claim is a
//! range scan of the heads' `ready_at` index (LIMIT n), a finish moves the head to its
//! conversation's next row through a (conversation, seq) index. Handled events leave the inbox
//! (their dedupe keys stay in `inbox_keys` until pruned). Every hot statement is checked with
//! `EXPLAIN QUERY PLAN` for full scans (the `plans` test).
//!
//! By concept: [`lock`] (one engine per file), [`migrate`], [`writer`] (group commit,
//! checkpoints), [`inbox`], [`outbox`] (inserting, claiming, status), [`update`] (attempts,
//! sends, releases, dead letters), [`heads`], [`receipts`] (proofs, delivery receipts),
//! [`state`] (conversation state, numbered options) and [`maintenance`] (recovery, pruning,
//! dead letters, counts).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};
use switchboard_core::render::TextOption;
use switchboard_core::{InboundEvent, Result};

use super::{
    Claim, DeadLetter, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome,
    InboxFinish, InboxItem, InboxOutcome, Inserted, Lease, NewForward, NewOutbound, OutboxItem,
    OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, Store, StoreStats,
    conversation_key, millis, store_error, to_json,
};

mod forward;
mod heads;
mod inbox;
mod lock;
mod maintenance;
mod migrate;
mod outbox;
#[cfg(test)]
mod plans;
mod receipts;
mod state;
#[cfg(test)]
pub(crate) mod tests;
mod update;
mod writer;

use inbox::{PreparedEvent, PreparedFinish};
use lock::lock_file;
use maintenance::{PRUNE_CHUNK, PruneStep};
use outbox::PreparedOutbound;
use writer::{Answer, Job, Writer, checkpointer};

/// SQLite's `synchronous` setting: how hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// fsync at every commit: an acknowledged webhook survives power loss (the default).
    #[default]
    Full,
    /// WAL + NORMAL: survives a process crash (SIGKILL); the last commits may be lost on power loss.
    Normal,
}

/// The SQLite store.
pub struct SqliteStore {
    writer: Writer,
    pool: SqlitePool,
    url: String,
    /// The checkpointer runs while this lives.
    _alive: Arc<()>,
    /// The exclusive lock on `{file}.lock` (none for an in-memory database), shared with the
    /// other stores of this process on the file: one engine per file, since `recover` releases
    /// every lease.
    _lock: Option<Arc<std::fs::File>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.url)
            .finish()
    }
}

fn db(context: &'static str) -> impl Fn(sqlx::Error) -> switchboard_core::Error {
    move |e| store_error(context, e)
}

impl SqliteStore {
    /// Opens (creating if missing) `url` (`sqlite://switchboard.db`, `sqlite:///abs/path.db`)
    /// with `synchronous = FULL`, and applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        SqliteStore::connect_with(url, Synchronous::Full).await
    }

    /// Like [`connect`](Self::connect) with an explicit `synchronous` setting.
    pub async fn connect_with(url: &str, synchronous: Synchronous) -> Result<Self> {
        let sync = match synchronous {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(db("open"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            // The dedupe keys and heads are random-access B-trees: keep their pages cached.
            .pragma("cache_size", "-65536")
            // Checkpoints run beside the writer (see `checkpointer`), not inside its commits.
            .pragma("wal_autocheckpoint", "0");
        let lock = lock_file(&opts)?;
        let mut writer = opts.clone().connect().await.map_err(db("open"))?;
        migrate::migrate(&mut writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db("open pool"))?;
        let last_seq: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'inbox'")
                .fetch_one(&mut writer)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db("open"))?;
        let writer = Writer::start(writer, last_seq);
        let alive = Arc::new(());
        tokio::spawn(checkpointer(pool.clone(), Arc::downgrade(&alive)));
        Ok(SqliteStore {
            writer,
            pool,
            url: url.to_owned(),
            _alive: alive,
            _lock: lock,
        })
    }

    /// The schema version in the file.
    pub async fn schema_version(&self) -> Result<i64> {
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM sb_migrations")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .map_err(db("schema version"))
    }
}

/// A claim's `now` and lease end, in milliseconds.
fn lease_span(claim: &Claim) -> (i64, i64) {
    let now = millis(claim.now);
    let lease = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX);
    (now, now.saturating_add(lease))
}

/// A batch as one JSON array, bound to one statement parameter.
fn json<T: serde::Serialize + ?Sized>(what: &str, v: &T) -> Result<String> {
    to_json(what, v)
}

fn count(row: &SqliteRow, i: usize) -> Result<u64> {
    let n: i64 = row.try_get(i).map_err(db("stats"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn time_col(row: &SqliteRow, col: &str) -> Result<Option<SystemTime>> {
    let t: Option<i64> = row.try_get(col).map_err(db("row"))?;
    Ok(t.map(switchboard_core::model::time::from_millis))
}

fn attempts(row: &SqliteRow, col: &str) -> Result<u32> {
    let n: i64 = row.try_get(col).map_err(db("row"))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn unexpected() -> switchboard_core::Error {
    store_error("write", "the writer answered another job")
}

impl SqliteStore {
    async fn prune_all(&self, step: PruneStep, cutoff: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = match self.writer.run(Job::Prune(step, cutoff)).await? {
                Answer::Count(n) => n,
                _ => return Err(unexpected()),
            };
            total += n;
            if n < u64::try_from(PRUNE_CHUNK).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn recover(&self) -> Result<()> {
        let now = millis(SystemTime::now());
        match self.writer.run(Job::Recover(now)).await? {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
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
        let before = millis(prune.done_before);
        Ok(Pruned {
            inbox: self.prune_all(PruneStep::Keys, before).await?,
            outbox: self.prune_all(PruneStep::Sent, before).await?,
            proofs: self.prune_all(PruneStep::Proofs, before).await?,
            options: self
                .prune_all(PruneStep::Options, millis(prune.now))
                .await?,
        })
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db("ping"))
    }

    async fn enqueue_forwards(&self, rows: &[NewForward], now: SystemTime) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .forward(forward::Job::Enqueue(rows.to_vec(), millis(now)))
            .await?
        {
            forward::Answer::Flags(f) => Ok(f),
            _ => Err(unexpected()),
        }
    }

    async fn claim_forwards(&self, claim: Claim) -> Result<Vec<ForwardItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        match self.forward(forward::Job::Claim(claim)).await? {
            forward::Answer::Items(items) => Ok(items),
            _ => Err(unexpected()),
        }
    }

    async fn finish_forwards(
        &self,
        finishes: Vec<ForwardFinish>,
        now: SystemTime,
    ) -> Result<Vec<Result<bool>>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = finishes
            .into_iter()
            .map(|f| {
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
                Ok((f.lease, outcome))
            })
            .collect::<Result<Vec<_>>>()?;
        match self
            .forward(forward::Job::Finish(prepared, millis(now)))
            .await?
        {
            forward::Answer::Finished(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    async fn set_forward_disabled(
        &self,
        endpoint: &str,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        let job =
            forward::Job::SetDisabled(endpoint.to_owned(), reason.map(str::to_owned), millis(now));
        self.forward(job).await.map(|_| ())
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
        match self
            .forward(forward::Job::Replay(endpoint.to_owned(), millis(now)))
            .await?
        {
            forward::Answer::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn prune_forwards(&self, before: SystemTime) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = match self.forward(forward::Job::Prune(millis(before))).await? {
                forward::Answer::Count(n) => n,
                _ => return Err(unexpected()),
            };
            total += n;
            if n < forward::PRUNE_CHUNK {
                return Ok(total);
            }
        }
    }
}

impl SqliteStore {
    async fn forward(&self, job: forward::Job) -> Result<forward::Answer> {
        match self.writer.run(Job::Forward(job)).await? {
            Answer::Forward(a) => Ok(a),
            _ => Err(unexpected()),
        }
    }
}
