//! The writer side of ingest: group-committed inbox inserts (one statement per batch) and the
//! WAL checkpointer beside the writer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::{InboundEvent, Result};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Inserted, conversation_key, millis, store_error, to_json};
use super::{SqliteStore, db};

/// Most inserts committed in one transaction by the group-commit writer.
const MAX_BATCH: usize = 512;

pub(super) struct InsertJob {
    rows: Vec<PreparedEvent>,
    reply: oneshot::Sender<Result<Vec<Inserted>>>,
}

pub(super) struct PreparedEvent {
    channel: String,
    event_id: String,
    conversation: String,
    json: String,
    received_at: i64,
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a pool connection, beside the writer: SQLite's automatic
/// checkpoint would run inside whichever commit crosses 1000 WAL pages and stall every webhook
/// of that group commit behind the database file's fsync. A `PASSIVE` checkpoint never blocks
/// the writer; once it has copied every frame, the writer's next transaction restarts the WAL
/// from its beginning, so the file stays small. Stops when the store is dropped.
pub(super) async fn checkpointer(pool: SqlitePool, alive: std::sync::Weak<()>) {
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
pub(super) async fn group_commit(
    writer: Arc<Mutex<SqliteConnection>>,
    mut rx: mpsc::Receiver<InsertJob>,
) {
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

pub(super) async fn insert_inbound(
    store: &SqliteStore,
    events: &[InboundEvent],
) -> Result<Vec<Inserted>> {
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
    store
        .inserts
        .send(InsertJob { rows, reply })
        .await
        .map_err(|_| store_error("insert inbound", "writer stopped"))?;
    answer
        .await
        .map_err(|_| store_error("insert inbound", "writer stopped"))?
}
