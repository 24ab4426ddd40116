//! Start-up recovery, pruning past the retention, dead letters and row counts.

use std::time::SystemTime;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use switchboard_core::Result;
use tokio::sync::Mutex;

use super::{DeadLetter, DeadLetterKind, Pruned, StoreStats, from_json, millis};
use super::{SqliteStore, attempts, count, db};

/// Rows deleted per statement when pruning, so the writer is never held for long.
const PRUNE_CHUNK: i64 = 2000;

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

pub(super) async fn recover(store: &SqliteStore) -> Result<()> {
    // One engine per file: leases held by a crashed predecessor are released at once.
    // The outbox keeps `inflight`, so an interrupted send is known to be ambiguous.
    let mut conn = store.writer.lock().await;
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

pub(super) async fn prune(
    store: &SqliteStore,
    done_before: SystemTime,
    now: SystemTime,
) -> Result<Pruned> {
    let before = millis(done_before);
    let inbox = delete_chunked(
        &store.writer,
        &["DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox
             WHERE state = 1 AND received_at < ?1 ORDER BY received_at LIMIT ?2)"],
        before,
    )
    .await?;
    // The same chunk of outbox rows loses its sent-message ids, then the rows themselves.
    let outbox = delete_chunked(
        &store.writer,
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
        &store.writer,
        &[
            "DELETE FROM outbox_proofs WHERE rowid IN (SELECT rowid FROM outbox_proofs
             WHERE proven_at < ?1 ORDER BY proven_at LIMIT ?2)",
        ],
        before,
    )
    .await?;
    let options = delete_chunked(
        &store.writer,
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

pub(super) async fn dead_letters(store: &SqliteStore, limit: usize) -> Result<Vec<DeadLetter>> {
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
    .fetch_all(&store.pool)
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

pub(super) async fn stats(store: &SqliteStore) -> Result<StoreStats> {
    let row = sqlx::query(
        "SELECT
           (SELECT COUNT(*) FROM inbox WHERE state = 0),
           (SELECT COUNT(*) FROM inbox WHERE state = 1),
           (SELECT COUNT(*) FROM outbox WHERE state = 0),
           (SELECT COUNT(*) FROM outbox WHERE state = 1),
           (SELECT COUNT(*) FROM inbox WHERE state = 2) + (SELECT COUNT(*) FROM outbox WHERE state = 2)",
    )
    .fetch_one(&store.pool)
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
