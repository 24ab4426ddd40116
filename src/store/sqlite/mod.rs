//! `SqliteStore`: the embedded default store, one SQLite file in WAL mode via sqlx.
//!
//! One engine per file, enforced across processes: the store holds an exclusive lock on
//! `{file}.lock` and a store in another process fails at connect. Writes go through a single
//! connection (no `SQLITE_BUSY` between our own writers), reads through a small pool. Inbox
//! inserts from concurrent webhook requests are *group committed*: a writer task takes every
//! insert waiting in its queue and commits them in one transaction, then answers each request.
//! Migrations are embedded in the binary and applied at connect.
//!
//! This module opens the store and maps the [`Store`] trait onto the modules that implement
//! it, one concept each: [`lock`] (one engine per file), [`migrate`], [`writer`] (group commit,
//! checkpoints), [`inbox`], [`outbox`] (inserting, claiming, sending), [`release`] (letting a
//! claimed outbox row go unsent), [`receipts`] (proofs, delivery receipts), [`state`]
//! (conversation state, numbered options) and [`maintenance`] (recovery, pruning, counts).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::render::TextOption;
use switchboard_core::{ChannelName, InboundEvent, Result, SentMessage};
use tokio::sync::{Mutex, mpsc};

use super::{
    Completion, DeadLetter, DeadLetterKind, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxState, OutboxStatus, Pruned, SendProof, Store, StoreStats, conversation_key, from_json,
    millis, new_token, outbox_key_taken, proven_ids, store_error, to_json,
};

mod inbox;
mod lock;
mod maintenance;
mod migrate;
mod outbox;
mod receipts;
mod release;
mod state;
mod writer;

use lock::lock_file;
use writer::{InsertJob, checkpointer, group_commit};

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
    writer: Arc<Mutex<SqliteConnection>>,
    pool: SqlitePool,
    inserts: mpsc::Sender<InsertJob>,
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
        let writer = Arc::new(Mutex::new(writer));
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(group_commit(writer.clone(), rx));
        let alive = Arc::new(());
        tokio::spawn(checkpointer(pool.clone(), Arc::downgrade(&alive)));
        Ok(SqliteStore {
            writer,
            pool,
            inserts: tx,
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

async fn renew(
    writer: &Mutex<SqliteConnection>,
    sql: &'static str,
    lease: Lease,
    until: SystemTime,
) -> Result<bool> {
    let mut conn = writer.lock().await;
    let r = sqlx::query(sql)
        .bind(millis(until))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("renew lease"))?;
    Ok(r.rows_affected() == 1)
}

fn lease_until(now: SystemTime, lease: Duration) -> (i64, i64) {
    let now = millis(now);
    (
        now,
        now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)),
    )
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

#[async_trait]
impl Store for SqliteStore {
    async fn recover(&self) -> Result<()> {
        maintenance::recover(self).await
    }

    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        writer::insert_inbound(self, events).await
    }

    async fn claim_inbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<InboxItem>> {
        inbox::claim_inbox(self, now, lease, limit).await
    }

    async fn complete_inbox(&self, lease: Lease, completion: Completion) -> Result<bool> {
        inbox::complete_inbox(self, lease, completion).await
    }

    async fn retry_inbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        inbox::retry_inbox(self, lease, error, at).await
    }

    async fn dead_letter_inbox(&self, lease: Lease, error: &str) -> Result<bool> {
        inbox::dead_letter_inbox(self, lease, error).await
    }

    async fn claim_outbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        outbox::claim_outbox(self, now, lease, limit).await
    }

    async fn outbox_sent(
        &self,
        lease: Lease,
        messages: &[SentMessage],
        options: &[TextOption],
        options_expire: SystemTime,
    ) -> Result<bool> {
        outbox::outbox_sent(self, lease, messages, options, options_expire).await
    }

    async fn retry_outbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        release::retry_outbox(self, lease, error, at).await
    }

    async fn defer_outbox(&self, lease: Lease, why: &str, at: SystemTime) -> Result<bool> {
        release::defer_outbox(self, lease, why, at).await
    }

    async fn outbox_attempt(&self, lease: Lease, at: SystemTime) -> Result<bool> {
        release::outbox_attempt(self, lease, at).await
    }

    async fn retry_outbox_uncertain(
        &self,
        lease: Lease,
        error: &str,
        at: SystemTime,
    ) -> Result<bool> {
        release::retry_outbox_uncertain(self, lease, error, at).await
    }

    async fn reconcile_outbox_later(
        &self,
        lease: Lease,
        why: &str,
        at: SystemTime,
    ) -> Result<bool> {
        release::reconcile_outbox_later(self, lease, why, at).await
    }

    async fn outbox_partial(&self, lease: Lease, messages: &[SentMessage]) -> Result<bool> {
        release::outbox_partial(self, lease, messages).await
    }

    async fn record_proof(&self, proof: &SendProof, now: SystemTime) -> Result<bool> {
        receipts::record_proof(self, proof, now).await
    }

    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        receipts::proofs(self, key).await
    }

    async fn dead_letter_outbox(&self, lease: Lease, error: &str) -> Result<bool> {
        release::dead_letter_outbox(self, lease, error).await
    }

    async fn record_delivery(
        &self,
        channel: &ChannelName,
        messages: &[MessageId],
        status: DeliveryStatus,
    ) -> Result<u64> {
        receipts::record_delivery(self, channel, messages, status).await
    }

    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        outbox::outbox_status(self, key).await
    }

    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        state::get_state(self, conversation).await
    }

    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        state::set_state(self, conversation, value).await
    }

    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>> {
        state::get_options(self, conversation, now).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        maintenance::dead_letters(self, limit).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        maintenance::stats(self).await
    }

    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        outbox::enqueue_outbound(self, rows).await
    }

    async fn renew_inbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        inbox::renew_inbox(self, lease, until).await
    }

    async fn renew_outbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        outbox::renew_outbox(self, lease, until).await
    }

    async fn record_delivery_watermark(
        &self,
        conversation: &str,
        watermark: SystemTime,
        status: DeliveryStatus,
    ) -> Result<u64> {
        receipts::record_delivery_watermark(self, conversation, watermark, status).await
    }

    async fn prune(&self, done_before: SystemTime, now: SystemTime) -> Result<Pruned> {
        maintenance::prune(self, done_before, now).await
    }
}
