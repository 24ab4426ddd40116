//! Delivery receipts that arrived before their send was recorded (`pending_receipts`, schema
//! version 5): kept by [`keep`], applied by [`apply`] when a send records the ids, pruned with
//! the retention. The writer serializes every write, so a receipt and the send it names never
//! race here.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use switchboard_core::Result;
use switchboard_core::model::{DeliveryStatus, MessageId};

use super::{db, json};
use crate::store::{from_json, to_json};

/// Keeps status `?3` received at `?4` for each id of `?2` (a JSON array) on channel `?1` that
/// no sent row has recorded.
pub(super) const KEEP: &str =
    "INSERT INTO pending_receipts (channel, message_id, status, received_at)
     SELECT ?1, j.value, ?3, ?4 FROM json_each(?2) AS j
      WHERE NOT EXISTS (SELECT 1 FROM sent_messages AS s
                         WHERE s.channel = ?1 AND s.message_id = j.value)
     ON CONFLICT (channel, message_id, status) DO NOTHING";

/// `[[channel, message id, seq], …]` just recorded → the statuses kept for them, with the
/// row's delivery.
pub(super) const KEPT: &str = "SELECT j.value ->> 2, p.status, o.delivery
       FROM json_each(?1) AS j
       JOIN pending_receipts AS p ON p.channel = j.value ->> 0 AND p.message_id = j.value ->> 1
       JOIN outbox AS o ON o.seq = j.value ->> 2";

/// Drops the receipts kept for `[[channel, message id, seq], …]`.
pub(super) const DROP: &str = "DELETE FROM pending_receipts
      WHERE (channel, message_id) IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j)";

/// Receipts received before `?1` whose send never came, a chunk of `?2`.
pub(super) const PRUNE: &str =
    "DELETE FROM pending_receipts WHERE (channel, message_id, status) IN (
       SELECT channel, message_id, status FROM pending_receipts WHERE received_at < ?1
        ORDER BY received_at LIMIT ?2)";

/// Keeps `status` for the `messages` of `channel` no sent row has recorded yet.
pub(super) async fn keep(
    conn: &mut SqliteConnection,
    channel: &str,
    messages: &[MessageId],
    status: DeliveryStatus,
    now: i64,
) -> Result<()> {
    sqlx::query(KEEP)
        .bind(channel)
        .bind(json("message ids", messages)?)
        .bind(to_json("delivery", &status)?)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("keep early receipt"))?;
    Ok(())
}

/// Applies the receipts kept for the ids just recorded (`mapped`: JSON
/// `[[channel, message id, seq], …]`), the most advanced status per row winning, and drops
/// them.
pub(super) async fn apply(conn: &mut SqliteConnection, mapped: &str) -> Result<()> {
    let rows = sqlx::query(KEPT)
        .bind(mapped)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("apply early receipts"))?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut best: BTreeMap<i64, (Option<DeliveryStatus>, Option<DeliveryStatus>)> = BTreeMap::new();
    for row in &rows {
        let seq: i64 = row.try_get(0).map_err(db("apply early receipts"))?;
        let kept: String = row.try_get(1).map_err(db("apply early receipts"))?;
        let kept: DeliveryStatus = from_json("delivery", &kept)?;
        let current: Option<String> = row.try_get(2).map_err(db("apply early receipts"))?;
        let current = current.map(|c| from_json("delivery", &c)).transpose()?;
        let entry = best.entry(seq).or_insert((current, None));
        let top = entry.1.or(entry.0);
        if top.is_none_or(|t| kept.advances(t)) {
            entry.1 = Some(kept);
        }
    }
    for (seq, (_, new)) in best {
        if let Some(status) = new {
            sqlx::query("UPDATE outbox SET delivery = ?1 WHERE seq = ?2")
                .bind(to_json("delivery", &status)?)
                .bind(seq)
                .execute(&mut *conn)
                .await
                .map_err(db("apply early receipts"))?;
        }
    }
    sqlx::query(DROP)
        .bind(mapped)
        .execute(&mut *conn)
        .await
        .map_err(db("apply early receipts"))?;
    Ok(())
}
