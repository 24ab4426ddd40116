//! Start-up recovery, pruning past the retention (in chunks, through the writer), dead letters
//! and row counts.

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;

use super::heads::{RELEASE_INBOX, RELEASE_OUTBOX};
use super::{attempts, count, db};
use crate::store::{DeadLetter, DeadLetterKind, from_json};

/// Rows deleted per statement (and per transaction) when pruning, so the writer is never held
/// for long.
pub(super) const PRUNE_CHUNK: i64 = 2000;

/// One kind of row the pruner deletes, a chunk at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PruneStep {
    /// Dedupe keys of handled events received before the cutoff (not pending, not dead).
    Keys,
    /// Sent outbox rows (with their message ids) sent before the cutoff.
    Sent,
    /// Keyed proofs recorded before the cutoff.
    Proofs,
    /// Options expired at the cutoff.
    Options,
    /// Delivery receipts received before the cutoff whose send never came.
    Receipts,
    /// Shared raw payloads stored before the cutoff that no inbox row refers to.
    RawPayloads,
}

/// Keys of handled events: no longer in the inbox (pending rows and dead letters are).
pub(super) const PRUNE_KEYS: &str = "DELETE FROM inbox_keys WHERE (channel, event_id) IN (
       SELECT channel, event_id FROM inbox_keys AS k
        WHERE received_at < ?1 AND NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.seq = k.seq)
        ORDER BY received_at LIMIT ?2)";

/// The same chunk of sent rows loses its message ids, then the rows themselves.
pub(super) const PRUNE_SENT_IDS: &str = "DELETE FROM sent_messages WHERE outbox_seq IN (
       SELECT seq FROM outbox WHERE state = 1 AND sent_at < ?1 ORDER BY sent_at, seq LIMIT ?2)";
pub(super) const PRUNE_SENT: &str = "DELETE FROM outbox WHERE seq IN (
       SELECT seq FROM outbox WHERE state = 1 AND sent_at < ?1 ORDER BY sent_at, seq LIMIT ?2)";
pub(super) const PRUNE_PROOFS: &str = "DELETE FROM outbox_proofs WHERE rowid IN (
       SELECT rowid FROM outbox_proofs WHERE proven_at < ?1 ORDER BY proven_at LIMIT ?2)";
pub(super) const PRUNE_OPTIONS: &str = "DELETE FROM degraded_options WHERE conversation IN (
       SELECT conversation FROM degraded_options WHERE expires_at <= ?1 LIMIT ?2)";

/// Shared raw payloads stored before `?1` that no pending event or dead letter refers to.
pub(super) const PRUNE_RAW: &str = "DELETE FROM inbox_raw WHERE digest IN (
       SELECT digest FROM inbox_raw AS r WHERE created_at < ?1
          AND NOT EXISTS (SELECT 1 FROM inbox WHERE raw_digest = r.digest)
        ORDER BY created_at LIMIT ?2)";

/// Deletes one chunk of `step`; how many rows of the step's table went.
pub(super) async fn prune(
    conn: &mut SqliteConnection,
    step: PruneStep,
    cutoff: i64,
) -> Result<u64> {
    let sqls: &[&'static str] = match step {
        PruneStep::Keys => &[PRUNE_KEYS],
        PruneStep::Sent => &[PRUNE_SENT_IDS, PRUNE_SENT],
        PruneStep::Proofs => &[PRUNE_PROOFS],
        PruneStep::Options => &[PRUNE_OPTIONS],
        PruneStep::Receipts => &[super::pending::PRUNE],
        PruneStep::RawPayloads => &[PRUNE_RAW],
    };
    let mut n = 0;
    for sql in sqls {
        n = sqlx::query(*sql)
            .bind(cutoff)
            .bind(PRUNE_CHUNK)
            .execute(&mut *conn)
            .await
            .map_err(db("prune"))?
            .rows_affected();
    }
    Ok(n)
}

/// One engine per file (the lock): every lease still running belongs to a dead process.
pub(super) async fn recover(conn: &mut SqliteConnection, now: i64) -> Result<()> {
    for sql in [RELEASE_INBOX, RELEASE_OUTBOX] {
        sqlx::query(sql)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db("recover"))?;
    }
    Ok(())
}

pub(super) async fn dead_letters(pool: &SqlitePool, limit: usize) -> Result<Vec<DeadLetter>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = sqlx::query(
        "SELECT * FROM (
           SELECT 0 AS kind, seq, conversation, event_id AS key, event AS payload, error, attempts,
                  (SELECT raw FROM inbox_raw WHERE digest = inbox.raw_digest) AS raw
             FROM inbox WHERE state = 2
           UNION ALL
           SELECT 1 AS kind, seq, conversation, key, message AS payload, error, attempts,
                  NULL AS raw
             FROM outbox WHERE state = 2)
         ORDER BY seq LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db("dead letters"))?;
    rows.iter()
        .map(|row| {
            let kind: i64 = row.try_get("kind").map_err(db("dead letters"))?;
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

pub(super) async fn stats(pool: &SqlitePool) -> Result<crate::store::StoreStats> {
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
    Ok(crate::store::StoreStats {
        inbox_pending: pending,
        inbox_done: keys.saturating_sub(pending + dead_in),
        outbox_pending: count(&row, 3)?,
        outbox_sent: count(&row, 4)?,
        dead: dead_in + count(&row, 5)?,
    })
}
