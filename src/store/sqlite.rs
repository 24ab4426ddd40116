//! `SqliteStore`: the embedded default store, one SQLite file in WAL mode via sqlx.
//!
//! One engine per file, enforced across processes: the store holds an exclusive lock on
//! `{file}.lock` and a store in another process fails at connect. Writes go through a single connection (no `SQLITE_BUSY` between our own
//! writers), reads through a small pool. Inbox inserts from concurrent webhook requests are
//! *group committed*: a writer task takes every insert waiting in its queue and commits them in
//! one transaction, then answers each request. Migrations are embedded in the binary and applied
//! at connect.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::render::TextOption;
use switchboard_core::{ChannelName, InboundEvent, Result, SentMessage};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{
    Completion, DeadLetter, DeadLetterKind, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxState, OutboxStatus, Pruned, SendProof, Store, StoreStats, conversation_key, from_json,
    millis, new_token, outbox_key_taken, proven_ids, store_error, to_json,
};

/// Embedded migrations: (version, SQL). Applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_retention_receipts.sql")),
    (3, include_str!("migrations/0003_reconciliation.sql")),
];

/// Rows deleted per statement when pruning, so the writer is never held for long.
const PRUNE_CHUNK: i64 = 2000;

/// Most inserts committed in one transaction by the group-commit writer.
const MAX_BATCH: usize = 512;

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

struct InsertJob {
    rows: Vec<PreparedEvent>,
    reply: oneshot::Sender<Result<Vec<Inserted>>>,
}

struct PreparedEvent {
    channel: String,
    event_id: String,
    conversation: String,
    json: String,
    received_at: i64,
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
        migrate(&mut writer).await?;
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

/// The lock files this process holds, shared by every store it opens on the same file.
static HELD: std::sync::Mutex<Vec<(std::path::PathBuf, std::sync::Weak<std::fs::File>)>> =
    std::sync::Mutex::new(Vec::new());

/// Takes the exclusive lock on `{file}.lock` beside the database, failing at once when another
/// process holds it. `recover` releases every lease in the file, so a second engine would take
/// over a live engine's sends and could resend one in flight. The lock is released when the
/// last store of this process on the file is dropped, or the process dies (even by SIGKILL).
/// Stores opened again *in the same process* share it (a restart in place, as the sandbox does
/// after stopping its first engine): excluding those is the application's business.
fn lock_file(opts: &SqliteConnectOptions) -> Result<Option<Arc<std::fs::File>>> {
    let file = opts.get_filename();
    let name = file.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
        return Ok(None);
    }
    let mut path = file.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| store_error("open", format!("{}: {e}", path.display())))?;
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    held.retain(|(_, f)| f.strong_count() > 0);
    if let Some(shared) = held
        .iter()
        .find(|(p, _)| *p == key)
        .and_then(|(_, f)| f.upgrade())
    {
        return Ok(Some(shared));
    }
    match lock.try_lock() {
        Ok(()) => {
            let lock = Arc::new(lock);
            held.push((key, Arc::downgrade(&lock)));
            Ok(Some(lock))
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(switchboard_core::Error::new(
            switchboard_core::ErrorKind::InvalidConfig,
            format!(
                "store: {} is in use by another engine (a process holds {}); one engine per SQLite file",
                file.display(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(store_error("lock", format!("{}: {e}", path.display())))
        }
    }
}

async fn migrate(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sb_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db("migrate"))?;
    for (version, sql) in MIGRATIONS {
        let applied: Option<i64> =
            sqlx::query("SELECT version FROM sb_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("migrate"))?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(db("migrate"))?;
        if applied.is_some() {
            continue;
        }
        let mut tx = conn.begin().await.map_err(db("migrate"))?;
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
        sqlx::query("INSERT INTO sb_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(millis(SystemTime::now()))
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
        tx.commit().await.map_err(db("migrate"))?;
    }
    Ok(())
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a pool connection, beside the writer: SQLite's automatic
/// checkpoint would run inside whichever commit crosses 1000 WAL pages and stall every webhook
/// of that group commit behind the database file's fsync. A `PASSIVE` checkpoint never blocks
/// the writer; once it has copied every frame, the writer's next transaction restarts the WAL
/// from its beginning, so the file stays small. Stops when the store is dropped.
async fn checkpointer(pool: SqlitePool, alive: std::sync::Weak<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// The group-commit writer: one transaction for every insert waiting in the queue.
async fn group_commit(writer: Arc<Mutex<SqliteConnection>>, mut rx: mpsc::Receiver<InsertJob>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut rows = jobs[0].rows.len();
        while rows < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut conn = writer.lock().await;
        match insert_batch(&mut conn, &jobs).await {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(e) => {
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(store_error("insert inbound", e.message())));
                }
            }
        }
    }
}

/// The whole batch in one statement: the rows arrive as one JSON array bound to `?1`
/// (`[[channel, event id, conversation, event json, received at], …]`), so a batch of any size
/// is one prepared statement, one round trip to SQLite's thread, and (outside an explicit
/// transaction) one implicit transaction: atomic, and one commit. `ORDER BY key` keeps arrival
/// order, so sequence numbers follow it.
const INSERT_BATCH: &str = "INSERT INTO inbox (channel, event_id, conversation, event, received_at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4
       FROM json_each(?1) AS j WHERE true ORDER BY j.key
     ON CONFLICT (channel, event_id) DO NOTHING
     RETURNING seq, channel, event_id";

/// Batches up to this many rows use a `VALUES` statement of their exact size (one prepared
/// statement per size, all in sqlx's statement cache of 100); larger ones go through
/// [`INSERT_BATCH`].
const VALUES_MAX: usize = 64;

/// `VALUES_SQL[n - 1]` inserts `n` rows, like [`INSERT_BATCH`].
static VALUES_SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (1..=VALUES_MAX)
        .map(|n| {
            let mut sql = String::from(
                "INSERT INTO inbox (channel, event_id, conversation, event, received_at) VALUES ",
            );
            for i in 0..n {
                sql.push_str(if i == 0 {
                    "(?,?,?,?,?)"
                } else {
                    ",(?,?,?,?,?)"
                });
            }
            sql.push_str(
                " ON CONFLICT (channel, event_id) DO NOTHING RETURNING seq, channel, event_id",
            );
            sql
        })
        .collect()
});

/// One row of the batch array.
#[derive(serde::Serialize)]
struct BatchRow<'a>(&'a str, &'a str, &'a str, &'a str, i64);

/// Inserts every row of every job in one statement (one transaction). Answers per job and row:
/// `New(seq)` for the first occurrence of a (channel, event id) that was not stored yet,
/// `Duplicate` otherwise (also for a repeat inside the same batch: two concurrent deliveries of
/// one webhook).
async fn insert_batch(
    conn: &mut SqliteConnection,
    jobs: &[InsertJob],
) -> Result<Vec<Vec<Inserted>>> {
    // The first occurrence of each key in the batch is inserted; repeats are duplicates.
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    let mut unique: Vec<BatchRow<'_>> = Vec::new();
    for r in jobs.iter().flat_map(|j| &j.rows) {
        first
            .entry((r.channel.as_str(), r.event_id.as_str()))
            .or_insert_with(|| {
                unique.push(BatchRow(
                    &r.channel,
                    &r.event_id,
                    &r.conversation,
                    &r.json,
                    r.received_at,
                ));
                unique.len() - 1
            });
    }
    let rows = if unique.len() <= VALUES_MAX {
        // One `VALUES (…), (…)` statement of exactly this many rows (prepared once per size and
        // kept in sqlx's statement cache): no escaping, no JSON parsing.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(VALUES_SQL[unique.len() - 1].as_str()));
        for r in &unique {
            q = q.bind(r.0).bind(r.1).bind(r.2).bind(r.3).bind(r.4);
        }
        q.fetch_all(&mut *conn).await
    } else {
        let batch = to_json("insert batch", &unique)?;
        sqlx::query(INSERT_BATCH)
            .bind(batch)
            .fetch_all(&mut *conn)
            .await
    }
    .map_err(db("insert inbound"))?;
    let mut seqs: Vec<Option<i64>> = vec![None; unique.len()];
    for row in &rows {
        let seq: i64 = row.try_get(0).map_err(db("insert inbound"))?;
        let channel: &str = row.try_get(1).map_err(db("insert inbound"))?;
        let event_id: &str = row.try_get(2).map_err(db("insert inbound"))?;
        if let Some(&i) = first.get(&(channel, event_id)) {
            seqs[i] = Some(seq);
        }
    }
    let mut claimed = vec![false; unique.len()];
    Ok(jobs
        .iter()
        .map(|job| {
            job.rows
                .iter()
                .map(|r| {
                    let i = first
                        .get(&(r.channel.as_str(), r.event_id.as_str()))
                        .copied();
                    match i.and_then(|i| seqs[i].map(|s| (i, s))) {
                        Some((i, seq)) if !std::mem::replace(&mut claimed[i], true) => {
                            Inserted::New(seq)
                        }
                        _ => Inserted::Duplicate,
                    }
                })
                .collect()
        })
        .collect())
}

/// One outbox row (a key already present is skipped); whether it was written.
async fn insert_outbox(
    conn: &mut SqliteConnection,
    o: &NewOutbound,
    target: &str,
    message: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO outbox (key, channel, conversation, target, message, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&o.key)
    .bind(o.to.channel.as_str())
    .bind(conversation_key(&o.to))
    .bind(target)
    .bind(message)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db("outbox insert"))?;
    Ok(r.rows_affected() == 1)
}

/// Inserts an outbox row: `Ok(true)` when new, `Ok(false)` when its key already holds the same
/// destination and message (a repeat; nothing written), an error when the key holds another
/// row.
async fn insert_outbox_once(
    conn: &mut SqliteConnection,
    o: &NewOutbound,
    target: &str,
    message: &str,
    now: i64,
) -> Result<bool> {
    if insert_outbox(conn, o, target, message, now).await? {
        return Ok(true);
    }
    let (held_target, held_message): (String, String) =
        sqlx::query_as("SELECT target, message FROM outbox WHERE key = ?")
            .bind(&o.key)
            .fetch_one(&mut *conn)
            .await
            .map_err(db("outbox insert"))?;
    // Compared as JSON values, not text, so a different key order is still the same row.
    let same = |held: &str, new: &str| {
        serde_json::from_str::<serde_json::Value>(held).ok()
            == serde_json::from_str::<serde_json::Value>(new).ok()
    };
    if same(&held_target, target) && same(&held_message, message) {
        Ok(false)
    } else {
        Err(outbox_key_taken(&o.key))
    }
}

/// Runs `sqls` (`DELETE … WHERE … IN (SELECT … ORDER BY … LIMIT ?2)` with the cutoff as `?1`)
/// in one transaction per chunk until the last one deletes less than a chunk, releasing the
/// writer between chunks. Returns the rows the last statement deleted.
async fn delete_chunked(
    writer: &Mutex<SqliteConnection>,
    sqls: &[&'static str],
    cutoff: i64,
) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut conn = writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("prune"))?;
        let mut n = 0;
        for sql in sqls {
            n = sqlx::query(*sql)
                .bind(cutoff)
                .bind(PRUNE_CHUNK)
                .execute(&mut *tx)
                .await
                .map_err(db("prune"))?
                .rows_affected();
        }
        tx.commit().await.map_err(db("prune"))?;
        drop(conn);
        total += n;
        if n < u64::try_from(PRUNE_CHUNK).unwrap_or(u64::MAX) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

async fn select_proofs(conn: &mut SqliteConnection, key: &str) -> Result<Vec<SendProof>> {
    let rows = sqlx::query(
        "SELECT key, part, parts, channel, message_id FROM outbox_proofs WHERE key = ? ORDER BY part",
    )
    .bind(key)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("proofs"))?;
    rows.iter()
        .map(|r| {
            let part: i64 = r.try_get("part").map_err(db("proofs"))?;
            let parts: i64 = r.try_get("parts").map_err(db("proofs"))?;
            let channel: String = r.try_get("channel").map_err(db("proofs"))?;
            let id: String = r.try_get("message_id").map_err(db("proofs"))?;
            Ok(SendProof {
                key: r.try_get("key").map_err(db("proofs"))?,
                channel: ChannelName::new(channel)?,
                part: u32::try_from(part).unwrap_or(u32::MAX),
                parts: u32::try_from(parts).unwrap_or(u32::MAX),
                message_id: MessageId::new(id)?,
            })
        })
        .collect()
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

/// Records the provider ids of `messages` as parts of outbox row `seq` (receipts find it).
async fn map_sent_ids(
    conn: &mut SqliteConnection,
    channel: &str,
    ids: &[&MessageId],
    seq: i64,
) -> Result<()> {
    for id in ids {
        sqlx::query(
            "INSERT OR REPLACE INTO sent_messages (channel, message_id, outbox_seq) VALUES (?, ?, ?)",
        )
        .bind(channel)
        .bind(id.as_str())
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(db("sent messages"))?;
    }
    Ok(())
}

fn attempts(row: &SqliteRow, col: &str) -> Result<u32> {
    let n: i64 = row.try_get(col).map_err(db("row"))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[async_trait]
impl Store for SqliteStore {
    async fn recover(&self) -> Result<()> {
        // One engine per file: leases held by a crashed predecessor are released at once.
        // The outbox keeps `inflight`, so an interrupted send is known to be ambiguous.
        let mut conn = self.writer.lock().await;
        sqlx::query("UPDATE inbox SET lease_until = 0, token = 0 WHERE state = 0 AND token != 0")
            .execute(&mut *conn)
            .await
            .map_err(db("recover"))?;
        sqlx::query("UPDATE outbox SET lease_until = 0, token = 0 WHERE state = 0 AND token != 0")
            .execute(&mut *conn)
            .await
            .map_err(db("recover"))?;
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
        let (reply, answer) = oneshot::channel();
        self.inserts
            .send(InsertJob { rows, reply })
            .await
            .map_err(|_| store_error("insert inbound", "writer stopped"))?;
        answer
            .await
            .map_err(|_| store_error("insert inbound", "writer stopped"))?
    }

    async fn claim_inbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<InboxItem>> {
        let (now, until) = lease_until(now, lease);
        let token = new_token();
        let mut conn = self.writer.lock().await;
        let rows = sqlx::query(
            "UPDATE inbox SET lease_until = ?2, token = ?3, attempts = attempts + 1
             WHERE seq IN (
               SELECT i.seq FROM (SELECT MIN(seq) AS head FROM inbox WHERE state = 0 GROUP BY conversation) h
               JOIN inbox i ON i.seq = h.head
               WHERE i.available_at <= ?1 AND i.lease_until <= ?1
               ORDER BY i.seq LIMIT ?4)
             RETURNING seq, event, attempts",
        )
        .bind(now)
        .bind(until)
        .bind(token)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claim inbox"))?;
        drop(conn);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get("seq").map_err(db("claim inbox"))?;
            let event: String = row.try_get("event").map_err(db("claim inbox"))?;
            out.push(InboxItem {
                lease: Lease { seq, token },
                event: from_json("event", &event)?,
                attempts: attempts(&row, "attempts")?,
            });
        }
        out.sort_by_key(|i| i.lease.seq);
        Ok(out)
    }

    async fn complete_inbox(&self, lease: Lease, completion: Completion) -> Result<bool> {
        let outbox = completion
            .outbox
            .iter()
            .map(|o| Ok((to_json("target", &o.to)?, to_json("message", &o.message)?)))
            .collect::<Result<Vec<_>>>()?;
        let now = millis(SystemTime::now());
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("complete"))?;
        let done = sqlx::query(
            "UPDATE inbox SET state = 1, error = NULL WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *tx)
        .await
        .map_err(db("complete"))?;
        if done.rows_affected() != 1 {
            tx.rollback().await.map_err(db("complete"))?;
            return Ok(false);
        }
        for (o, (target, message)) in completion.outbox.iter().zip(&outbox) {
            // Every reply key must be new: the transaction is dropped (rolled back) otherwise.
            if !insert_outbox(&mut tx, o, target, message, now).await? {
                tx.rollback().await.map_err(db("complete"))?;
                return Err(outbox_key_taken(&o.key));
            }
        }
        for (conv, value) in &completion.state {
            match value {
                Some(v) => {
                    sqlx::query(
                        "INSERT INTO conversation_state (conversation, value, updated_at) VALUES (?, ?, ?)
                         ON CONFLICT (conversation) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(conv)
                    .bind(to_json("state", v)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("complete"))?;
                }
                None => {
                    sqlx::query("DELETE FROM conversation_state WHERE conversation = ?")
                        .bind(conv)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("complete"))?;
                }
            }
        }
        tx.commit().await.map_err(db("complete"))?;
        Ok(true)
    }

    async fn retry_inbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE inbox SET error = ?, available_at = ?, lease_until = 0, token = 0
             WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(error)
        .bind(millis(at))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("retry inbox"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn dead_letter_inbox(&self, lease: Lease, error: &str) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE inbox SET error = ?, state = 2 WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(error)
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("dead-letter inbox"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn claim_outbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let (now, until) = lease_until(now, lease);
        let token = new_token();
        let mut conn = self.writer.lock().await;
        // In SET, `inflight` on the right is the old value: a claim that finds it set knows the
        // previous claim never recorded an outcome, and one that finds 2 that a send had begun.
        let rows = sqlx::query(
            "UPDATE outbox SET lease_until = ?2, token = ?3, attempts = attempts + 1,
                               interrupted = inflight != 0,
                               uncertain = (uncertain != 0 OR inflight = 2), inflight = 1
             WHERE seq IN (
               SELECT o.seq FROM (SELECT MIN(seq) AS head FROM outbox WHERE state = 0 GROUP BY conversation) h
               JOIN outbox o ON o.seq = h.head
               WHERE o.available_at <= ?1 AND o.lease_until <= ?1
               ORDER BY o.seq LIMIT ?4)
             RETURNING seq, key, target, message, attempts, interrupted, uncertain,
                       first_attempt_at, last_attempt_at",
        )
        .bind(now)
        .bind(until)
        .bind(token)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claim outbox"))?;
        drop(conn);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get("seq").map_err(db("claim outbox"))?;
            let target: String = row.try_get("target").map_err(db("claim outbox"))?;
            let message: String = row.try_get("message").map_err(db("claim outbox"))?;
            let interrupted: i64 = row.try_get("interrupted").map_err(db("claim outbox"))?;
            let uncertain: i64 = row.try_get("uncertain").map_err(db("claim outbox"))?;
            out.push(OutboxItem {
                lease: Lease { seq, token },
                key: row.try_get("key").map_err(db("claim outbox"))?,
                to: from_json("target", &target)?,
                message: from_json("message", &message)?,
                attempts: attempts(&row, "attempts")?,
                interrupted: interrupted != 0,
                uncertain: uncertain != 0,
                first_attempt_at: time_col(&row, "first_attempt_at")?,
                last_attempt_at: time_col(&row, "last_attempt_at")?,
            });
        }
        out.sort_by_key(|i| i.lease.seq);
        Ok(out)
    }

    async fn outbox_sent(
        &self,
        lease: Lease,
        messages: &[SentMessage],
        options: &[TextOption],
        options_expire: SystemTime,
    ) -> Result<bool> {
        let ids: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
        let ids_json = to_json("message ids", &ids)?;
        let options_json = to_json("options", &options)?;
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("outbox sent"))?;
        let row = sqlx::query(
            "UPDATE outbox SET state = 1, inflight = 0, uncertain = 0, error = NULL, message_ids = ?, sent_at = ?
             WHERE seq = ? AND token = ? AND state = 0 RETURNING channel, conversation",
        )
        .bind(&ids_json)
        .bind(millis(SystemTime::now()))
        .bind(lease.seq)
        .bind(lease.token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("outbox sent"))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db("outbox sent"))?;
            return Ok(false);
        };
        let channel: String = row.try_get("channel").map_err(db("outbox sent"))?;
        let conversation: String = row.try_get("conversation").map_err(db("outbox sent"))?;
        map_sent_ids(&mut tx, &channel, &ids, lease.seq).await?;
        if options.is_empty() {
            sqlx::query("DELETE FROM degraded_options WHERE conversation = ?")
                .bind(&conversation)
                .execute(&mut *tx)
                .await
                .map_err(db("outbox sent"))?;
        } else {
            sqlx::query(
                "INSERT OR REPLACE INTO degraded_options (conversation, options, expires_at) VALUES (?, ?, ?)",
            )
            .bind(&conversation)
            .bind(&options_json)
            .bind(millis(options_expire))
            .execute(&mut *tx)
            .await
            .map_err(db("outbox sent"))?;
        }
        tx.commit().await.map_err(db("outbox sent"))?;
        Ok(true)
    }

    async fn retry_outbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET error = ?, available_at = ?, lease_until = 0, token = 0, inflight = 0
             WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(error)
        .bind(millis(at))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("retry outbox"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn defer_outbox(&self, lease: Lease, why: &str, at: SystemTime) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET error = ?, available_at = ?, lease_until = 0, token = 0, inflight = 0,
                               attempts = MAX(attempts - 1, 0)
             WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(why)
        .bind(millis(at))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("defer outbox"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn outbox_attempt(&self, lease: Lease, at: SystemTime) -> Result<bool> {
        let at = millis(at);
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET inflight = 2, uncertain = 0,
                               first_attempt_at = COALESCE(first_attempt_at, ?1), last_attempt_at = ?1
             WHERE seq = ?2 AND token = ?3 AND state = 0",
        )
        .bind(at)
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("outbox attempt"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn retry_outbox_uncertain(
        &self,
        lease: Lease,
        error: &str,
        at: SystemTime,
    ) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET error = ?, available_at = ?, lease_until = 0, token = 0, inflight = 0,
                               uncertain = 1
             WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(error)
        .bind(millis(at))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("retry outbox"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn reconcile_outbox_later(
        &self,
        lease: Lease,
        why: &str,
        at: SystemTime,
    ) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET error = ?, available_at = ?, lease_until = 0, token = 0, inflight = 0,
                               uncertain = 1, attempts = MAX(attempts - 1, 0)
             WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(why)
        .bind(millis(at))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("reconcile later"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn outbox_partial(&self, lease: Lease, messages: &[SentMessage]) -> Result<bool> {
        let ids: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
        let ids_json = to_json("message ids", &ids)?;
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("outbox partial"))?;
        let row = sqlx::query(
            "UPDATE outbox SET message_ids = ? WHERE seq = ? AND token = ? AND state = 0
             RETURNING channel",
        )
        .bind(&ids_json)
        .bind(lease.seq)
        .bind(lease.token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("outbox partial"))?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db("outbox partial"))?;
            return Ok(false);
        };
        let channel: String = row.try_get("channel").map_err(db("outbox partial"))?;
        map_sent_ids(&mut tx, &channel, &ids, lease.seq).await?;
        tx.commit().await.map_err(db("outbox partial"))?;
        Ok(true)
    }

    async fn record_proof(&self, proof: &SendProof, now: SystemTime) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("record proof"))?;
        sqlx::query(
            "INSERT INTO outbox_proofs (key, part, parts, channel, message_id, proven_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, part) DO NOTHING",
        )
        .bind(&proof.key)
        .bind(i64::from(proof.part))
        .bind(i64::from(proof.parts))
        .bind(proof.channel.as_str())
        .bind(proof.message_id.as_str())
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db("record proof"))?;
        let all = select_proofs(&mut tx, &proof.key).await?;
        let mut ready = false;
        if proven_ids(&all).is_some() {
            ready = sqlx::query("UPDATE outbox SET available_at = 0 WHERE key = ? AND state = 0")
                .bind(&proof.key)
                .execute(&mut *tx)
                .await
                .map_err(db("record proof"))?
                .rows_affected()
                == 1;
        }
        tx.commit().await.map_err(db("record proof"))?;
        Ok(ready)
    }

    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        let mut conn = self.pool.acquire().await.map_err(db("proofs"))?;
        select_proofs(&mut conn, key).await
    }

    async fn dead_letter_outbox(&self, lease: Lease, error: &str) -> Result<bool> {
        let mut conn = self.writer.lock().await;
        let r = sqlx::query(
            "UPDATE outbox SET error = ?, state = 2, inflight = 0 WHERE seq = ? AND token = ? AND state = 0",
        )
        .bind(error)
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db("dead-letter outbox"))?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_delivery(
        &self,
        channel: &ChannelName,
        messages: &[MessageId],
        status: DeliveryStatus,
    ) -> Result<u64> {
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("delivery"))?;
        let mut seqs = Vec::new();
        for m in messages {
            let row = sqlx::query(
                "SELECT o.seq, o.delivery FROM sent_messages s JOIN outbox o ON o.seq = s.outbox_seq
                 WHERE s.channel = ? AND s.message_id = ?",
            )
            .bind(channel.as_str())
            .bind(m.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("delivery"))?;
            if let Some(row) = row {
                let seq: i64 = row.try_get(0).map_err(db("delivery"))?;
                let old: Option<String> = row.try_get(1).map_err(db("delivery"))?;
                if !seqs.contains(&seq) {
                    seqs.push(seq);
                    let old: Option<DeliveryStatus> =
                        old.map(|s| from_json("delivery", &s)).transpose()?;
                    if old.is_none_or(|o| status.advances(o)) {
                        sqlx::query("UPDATE outbox SET delivery = ? WHERE seq = ?")
                            .bind(to_json("delivery", &status)?)
                            .bind(seq)
                            .execute(&mut *tx)
                            .await
                            .map_err(db("delivery"))?;
                    } else {
                        seqs.pop();
                    }
                }
            }
        }
        tx.commit().await.map_err(db("delivery"))?;
        Ok(seqs.len() as u64)
    }

    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        let row = sqlx::query(
            "SELECT state, attempts, message_ids, delivery, error, first_attempt_at, last_attempt_at,
                    uncertain
             FROM outbox WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("outbox status"))?;
        let Some(row) = row else { return Ok(None) };
        let state: i64 = row.try_get("state").map_err(db("outbox status"))?;
        let ids: Option<String> = row.try_get("message_ids").map_err(db("outbox status"))?;
        let delivery: Option<String> = row.try_get("delivery").map_err(db("outbox status"))?;
        Ok(Some(OutboxStatus {
            state: match state {
                0 => OutboxState::Pending,
                1 => OutboxState::Sent,
                _ => OutboxState::Dead,
            },
            attempts: attempts(&row, "attempts")?,
            message_ids: ids
                .map(|s| from_json("message ids", &s))
                .transpose()?
                .unwrap_or_default(),
            delivery: delivery.map(|s| from_json("delivery", &s)).transpose()?,
            error: row.try_get("error").map_err(db("outbox status"))?,
            first_attempt_at: time_col(&row, "first_attempt_at")?,
            last_attempt_at: time_col(&row, "last_attempt_at")?,
            uncertain: row
                .try_get::<i64, _>("uncertain")
                .map_err(db("outbox status"))?
                != 0,
        }))
    }

    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT value FROM conversation_state WHERE conversation = ?")
            .bind(conversation)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("state"))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let v: String = row.try_get(0).map_err(db("state"))?;
                from_json("state", &v).map(Some)
            }
        }
    }

    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        let mut conn = self.writer.lock().await;
        match value {
            Some(v) => sqlx::query(
                "INSERT INTO conversation_state (conversation, value, updated_at) VALUES (?, ?, ?)
                 ON CONFLICT (conversation) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(conversation)
            .bind(to_json("state", &v)?)
            .bind(millis(SystemTime::now()))
            .execute(&mut *conn)
            .await
            .map_err(db("state"))?,
            None => sqlx::query("DELETE FROM conversation_state WHERE conversation = ?")
                .bind(conversation)
                .execute(&mut *conn)
                .await
                .map_err(db("state"))?,
        };
        Ok(())
    }

    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>> {
        let row = sqlx::query(
            "SELECT options FROM degraded_options WHERE conversation = ? AND expires_at > ?",
        )
        .bind(conversation)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("options"))?;
        match row {
            None => Ok(Vec::new()),
            Some(row) => {
                let v: String = row.try_get(0).map_err(db("options"))?;
                from_json("options", &v)
            }
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT * FROM (
               SELECT 0 AS kind, seq, conversation, event_id AS key, event AS payload, error, attempts
                 FROM inbox WHERE state = 2
               UNION ALL
               SELECT 1 AS kind, seq, conversation, key, message AS payload, error, attempts
                 FROM outbox WHERE state = 2)
             ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db("dead letters"))?;
        rows.iter()
            .map(|row| {
                let kind: i64 = row.try_get("kind").map_err(db("dead letters"))?;
                let payload: String = row.try_get("payload").map_err(db("dead letters"))?;
                let error: Option<String> = row.try_get("error").map_err(db("dead letters"))?;
                Ok(DeadLetter {
                    kind: if kind == 0 {
                        DeadLetterKind::Inbound
                    } else {
                        DeadLetterKind::Outbound
                    },
                    seq: row.try_get("seq").map_err(db("dead letters"))?,
                    conversation: row.try_get("conversation").map_err(db("dead letters"))?,
                    key: row.try_get("key").map_err(db("dead letters"))?,
                    payload: from_json("dead letter", &payload)?,
                    error: error.unwrap_or_default(),
                    attempts: attempts(row, "attempts")?,
                })
            })
            .collect()
    }

    async fn stats(&self) -> Result<StoreStats> {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM inbox WHERE state = 0),
               (SELECT COUNT(*) FROM inbox WHERE state = 1),
               (SELECT COUNT(*) FROM outbox WHERE state = 0),
               (SELECT COUNT(*) FROM outbox WHERE state = 1),
               (SELECT COUNT(*) FROM inbox WHERE state = 2) + (SELECT COUNT(*) FROM outbox WHERE state = 2)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("stats"))?;
        Ok(StoreStats {
            inbox_pending: count(&row, 0)?,
            inbox_done: count(&row, 1)?,
            outbox_pending: count(&row, 2)?,
            outbox_sent: count(&row, 3)?,
            dead: count(&row, 4)?,
        })
    }

    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        let encoded = rows
            .iter()
            .map(|o| Ok((to_json("target", &o.to)?, to_json("message", &o.message)?)))
            .collect::<Result<Vec<_>>>()?;
        let now = millis(SystemTime::now());
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("enqueue"))?;
        let mut out = Vec::with_capacity(rows.len());
        for (o, (target, message)) in rows.iter().zip(&encoded) {
            match insert_outbox_once(&mut tx, o, target, message, now).await {
                Ok(new) => out.push(new),
                Err(e) => {
                    tx.rollback().await.map_err(db("enqueue"))?;
                    return Err(e);
                }
            }
        }
        tx.commit().await.map_err(db("enqueue"))?;
        Ok(out)
    }

    async fn renew_inbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        renew(
            &self.writer,
            "UPDATE inbox SET lease_until = ? WHERE seq = ? AND token = ? AND state = 0",
            lease,
            until,
        )
        .await
    }

    async fn renew_outbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        renew(
            &self.writer,
            "UPDATE outbox SET lease_until = ? WHERE seq = ? AND token = ? AND state = 0",
            lease,
            until,
        )
        .await
    }

    async fn record_delivery_watermark(
        &self,
        conversation: &str,
        watermark: SystemTime,
        status: DeliveryStatus,
    ) -> Result<u64> {
        let status_json = to_json("delivery", &status)?;
        let mut conn = self.writer.lock().await;
        let mut tx = conn.begin().await.map_err(db("delivery watermark"))?;
        let rows = sqlx::query(
            "SELECT seq, delivery FROM outbox
             WHERE state = 1 AND conversation = ? AND sent_at <= ?",
        )
        .bind(conversation)
        .bind(millis(watermark))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("delivery watermark"))?;
        let mut changed = 0;
        for row in rows {
            let seq: i64 = row.try_get(0).map_err(db("delivery watermark"))?;
            let old: Option<String> = row.try_get(1).map_err(db("delivery watermark"))?;
            let old: Option<DeliveryStatus> = old.map(|s| from_json("delivery", &s)).transpose()?;
            if old.is_none_or(|o| status.advances(o)) {
                sqlx::query("UPDATE outbox SET delivery = ? WHERE seq = ?")
                    .bind(&status_json)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("delivery watermark"))?;
                changed += 1;
            }
        }
        tx.commit().await.map_err(db("delivery watermark"))?;
        Ok(changed)
    }

    async fn prune(&self, done_before: SystemTime, now: SystemTime) -> Result<Pruned> {
        let before = millis(done_before);
        let inbox = delete_chunked(
            &self.writer,
            &["DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox
                 WHERE state = 1 AND received_at < ?1 ORDER BY received_at LIMIT ?2)"],
            before,
        )
        .await?;
        // The same chunk of outbox rows loses its sent-message ids, then the rows themselves.
        let outbox = delete_chunked(
            &self.writer,
            &[
                "DELETE FROM sent_messages WHERE outbox_seq IN (SELECT seq FROM outbox
                   WHERE state = 1 AND sent_at < ?1 ORDER BY seq LIMIT ?2)",
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox
                   WHERE state = 1 AND sent_at < ?1 ORDER BY seq LIMIT ?2)",
            ],
            before,
        )
        .await?;
        let proofs = delete_chunked(
            &self.writer,
            &[
                "DELETE FROM outbox_proofs WHERE rowid IN (SELECT rowid FROM outbox_proofs
                 WHERE proven_at < ?1 ORDER BY proven_at LIMIT ?2)",
            ],
            before,
        )
        .await?;
        let options = delete_chunked(
            &self.writer,
            &[
                "DELETE FROM degraded_options WHERE conversation IN (SELECT conversation
                 FROM degraded_options WHERE expires_at <= ?1 LIMIT ?2)",
            ],
            millis(now),
        )
        .await?;
        Ok(Pruned {
            inbox,
            outbox,
            options,
            proofs,
        })
    }
}
