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
//! The logic (group commit, dedupe, finishing, updates, receipts, the `Store` contract) is
//! shared with the PostgreSQL store in [`crate::store::sql`]; this module holds what is
//! SQLite's: [`lock`] (one engine per file), [`migrate`], [`writer`] (the write connection,
//! checkpoints), [`tx`] (binding batches as JSON arrays), and the statements by concept:
//! [`inbox`], [`outbox`], [`update`] (attempts, sends, releases, dead letters), [`heads`],
//! [`receipts`], [`state`] (conversation state, numbered options) and [`maintenance`]
//! (recovery, pruning).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use switchboard_core::Result;

use super::sql::{Answer, Dialect, Job, Param, PruneStep, SqlStore, Writer, db, forward_store};

mod contacts;
mod forward;
mod heads;
mod inbox;
mod lock;
mod maintenance;
mod media;
mod migrate;
mod native;
mod outbox;
mod pending;
#[cfg(test)]
mod plans;
mod receipts;
mod state;
#[cfg(test)]
pub(crate) mod tests;
mod tx;
mod update;
mod writer;

use lock::lock_file;
use writer::{SqliteCommitter, checkpointer};

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
    core: SqlStore<Sqlite>,
    /// The checkpointer runs while this lives.
    _alive: Arc<()>,
    /// The exclusive lock on `{file}.lock` (none for an in-memory database), shared with the
    /// other stores of this process on the file: one engine per file, since `recover` releases
    /// every lease.
    _lock: Option<Arc<std::fs::File>>,
}

/// The SQLite dialect: reads on a small pool beside the writer's connection.
#[derive(Debug)]
pub(crate) struct Sqlite {
    pool: SqlitePool,
    url: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.core.dialect().url)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) `url` (`sqlite://switchboard.db`, `sqlite:///abs/path.db`)
    /// with `synchronous = FULL`, and applies the embedded migrations.
    ///
    /// # Errors
    ///
    /// As [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str) -> Result<Self> {
        SqliteStore::connect_with(url, Synchronous::Full).await
    }

    /// Like [`connect`](Self::connect) with an explicit `synchronous` setting.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for a malformed URL, or when another process holds the file's lock (one
    /// engine per file); `Transport` when the file cannot be opened or a migration fails.
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
        let opts_for_writer = opts.clone();
        let mut conn = opts.clone().connect().await.map_err(db("open"))?;
        migrate::migrate(&mut conn).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db("open pool"))?;
        let last_seq: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'inbox'")
                .fetch_one(&mut conn)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db("open"))?;
        conn.close().await.map_err(db("open"))?;
        // The writer's own connection and thread (see `native`).
        let conn = native::open(&opts_for_writer, synchronous)?;
        let writer = Writer::start_on_thread(SqliteCommitter { conn, last_seq }, "sqlite-writer")?;
        let alive = Arc::new(());
        tokio::spawn(checkpointer(pool.clone(), Arc::downgrade(&alive)));
        let dialect = Sqlite {
            pool,
            url: url.to_owned(),
        };
        Ok(SqliteStore {
            core: SqlStore::new(writer, dialect),
            _alive: alive,
            _lock: lock,
        })
    }

    /// The schema version in the file.
    ///
    /// # Errors
    ///
    /// `Transport` when the file cannot be read.
    pub async fn schema_version(&self) -> Result<i64> {
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM sb_migrations")
            .fetch_one(&self.core.dialect().pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .map_err(db("schema version"))
    }
}

impl Dialect for Sqlite {
    type Row = SqliteRow;

    async fn read(&self, sql: &'static str, params: &[Param<'_>]) -> Result<Vec<SqliteRow>> {
        super::sql::rows::bind::<sqlx::Sqlite>(sql, params)
            .fetch_all(&self.pool)
            .await
            .map_err(db("read"))
    }

    /// One engine per file (`lock`).
    fn exclusive(&self) -> bool {
        true
    }

    /// Through the writer: it holds the only write connection.
    async fn prune_chunk(&self, writer: &Writer, step: PruneStep, cutoff: i64) -> Result<u64> {
        match writer.run(Job::Prune(step, cutoff)).await? {
            Answer::Count(n) => Ok(n),
            _ => Err(super::sql::writer::unexpected()),
        }
    }
}

forward_store!(SqliteStore, core);
