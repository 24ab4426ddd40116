//! Pruning past the retention, dead letters and row counts. Pruning runs outside the writer,
//! a chunk per statement over rows it locks with `SKIP LOCKED`, so any number of instances may
//! prune at once (each deletes rows no other is deleting) and no transaction is held for long.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use switchboard_core::Result;

use super::{attempts, db, limit};
use crate::store::{DeadLetter, DeadLetterKind, Prune, Pruned, StoreStats, from_json, millis};

/// Rows deleted per statement when pruning.
const PRUNE_CHUNK: i64 = 2000;

/// Keys of handled events received before `$1`: no longer in the inbox (pending rows and dead
/// letters are).
pub(super) const PRUNE_KEYS: &str = "DELETE FROM inbox_keys WHERE (channel, event_id) IN (
       SELECT channel, event_id FROM inbox_keys AS k
        WHERE received_at < $1 AND NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.seq = k.seq)
        ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// A chunk of rows sent before `$1`, with their message ids; returns the rows deleted.
pub(super) const PRUNE_SENT: &str = "WITH gone AS (
       DELETE FROM outbox WHERE seq IN (
         SELECT seq FROM outbox WHERE state = 1 AND sent_at < $1
          ORDER BY sent_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING seq),
     ids AS (DELETE FROM sent_messages WHERE outbox_seq IN (SELECT seq FROM gone))
     SELECT count(*) FROM gone";

/// Proofs recorded before `$1`.
pub(super) const PRUNE_PROOFS: &str = "DELETE FROM outbox_proofs WHERE (key, part) IN (
       SELECT key, part FROM outbox_proofs WHERE proven_at < $1
        ORDER BY proven_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Options expired at `$1`.
pub(super) const PRUNE_OPTIONS: &str = "DELETE FROM degraded_options WHERE conversation IN (
       SELECT conversation FROM degraded_options WHERE expires_at <= $1
        LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Shared raw payloads stored before `$1` that no pending event or dead letter refers to. A
/// payload an insert is touching again (locked) is skipped.
pub(super) const PRUNE_RAW: &str = "DELETE FROM inbox_raw WHERE digest IN (
       SELECT digest FROM inbox_raw AS r WHERE created_at < $1
          AND NOT EXISTS (SELECT 1 FROM inbox WHERE raw_digest = r.digest)
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Deletes chunks of `sql` until one comes back short; how many rows went.
async fn prune_all(pool: &PgPool, sql: &'static str, cutoff: i64, counted: bool) -> Result<u64> {
    let mut total = 0;
    loop {
        let query = sqlx::query(sql).bind(cutoff).bind(PRUNE_CHUNK);
        let n = if counted {
            let row = query.fetch_one(pool).await.map_err(db("prune"))?;
            u64::try_from(row.try_get::<i64, _>(0).map_err(db("prune"))?).unwrap_or(0)
        } else {
            query
                .execute(pool)
                .await
                .map_err(db("prune"))?
                .rows_affected()
        };
        total += n;
        if n < u64::try_from(PRUNE_CHUNK).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

pub(super) async fn prune(pool: &PgPool, prune: Prune) -> Result<Pruned> {
    let before = millis(prune.done_before);
    Ok(Pruned {
        inbox: prune_all(pool, PRUNE_KEYS, before, false).await?,
        outbox: prune_all(pool, PRUNE_SENT, before, true).await?,
        proofs: prune_all(pool, PRUNE_PROOFS, before, false).await?,
        receipts: prune_all(pool, super::pending::PRUNE, before, false).await?,
        raw_payloads: prune_all(pool, PRUNE_RAW, before, false).await?,
        options: prune_all(pool, PRUNE_OPTIONS, millis(prune.now), false).await?,
    })
}

pub(super) async fn dead_letters(pool: &PgPool, max: usize) -> Result<Vec<DeadLetter>> {
    let rows = sqlx::query(
        "SELECT * FROM (
           SELECT 0 AS kind, seq, conversation, event_id AS key, event AS payload, error, attempts,
                  (SELECT raw FROM inbox_raw WHERE digest = inbox.raw_digest) AS raw
             FROM inbox WHERE state = 2
           UNION ALL
           SELECT 1 AS kind, seq, conversation, key, message AS payload, error, attempts,
                  NULL AS raw
             FROM outbox WHERE state = 2) AS d
         ORDER BY seq LIMIT $1",
    )
    .bind(limit(max))
    .fetch_all(pool)
    .await
    .map_err(db("dead letters"))?;
    rows.iter()
        .map(|row| {
            let kind: i32 = row.try_get("kind").map_err(db("dead letters"))?;
            let payload: String = row.try_get("payload").map_err(db("dead letters"))?;
            let raw: Option<String> = row.try_get("raw").map_err(db("dead letters"))?;
            let mut payload: serde_json::Value = from_json("dead letter", &payload)?;
            if let (Some(raw), Some(event)) = (raw, payload.as_object_mut()) {
                event.insert("raw".to_owned(), from_json("raw payload", &raw)?);
            }
            let error: Option<String> = row.try_get("error").map_err(db("dead letters"))?;
            let mut dead = DeadLetter::new(
                if kind == 0 {
                    DeadLetterKind::Inbound
                } else {
                    DeadLetterKind::Outbound
                },
                row.try_get("seq").map_err(db("dead letters"))?,
                row.try_get::<String, _>("conversation")
                    .map_err(db("dead letters"))?,
                row.try_get::<String, _>("key")
                    .map_err(db("dead letters"))?,
                payload,
            );
            dead.error = error.unwrap_or_default();
            dead.attempts = attempts(row, "attempts")?;
            Ok(dead)
        })
        .collect()
}

fn count(row: &PgRow, i: usize) -> Result<u64> {
    let n: i64 = row.try_get(i).map_err(db("stats"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(super) async fn stats(pool: &PgPool) -> Result<StoreStats> {
    let row = sqlx::query(
        "SELECT
           (SELECT COUNT(*) FROM inbox WHERE state = 0),
           (SELECT COUNT(*) FROM inbox_keys),
           (SELECT COUNT(*) FROM inbox WHERE state = 2),
           (SELECT COUNT(*) FROM outbox WHERE state = 0),
           (SELECT COUNT(*) FROM outbox WHERE state = 1),
           (SELECT COUNT(*) FROM outbox WHERE state = 2)",
    )
    .fetch_one(pool)
    .await
    .map_err(db("stats"))?;
    let (pending, keys, dead_in) = (count(&row, 0)?, count(&row, 1)?, count(&row, 2)?);
    Ok(StoreStats {
        inbox_pending: pending,
        inbox_done: keys.saturating_sub(pending + dead_in),
        outbox_pending: count(&row, 3)?,
        outbox_sent: count(&row, 4)?,
        dead: dead_in + count(&row, 5)?,
    })
}
