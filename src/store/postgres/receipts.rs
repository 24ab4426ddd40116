//! What providers report about our sends: keyed send proofs, delivery receipts and watermarks.

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::{ChannelName, Result};

use super::db;
use crate::store::{Receipt, SendProof, from_json, millis, proven_ids, to_json};

/// The proofs of key `$1`, by part.
pub(super) const PROOFS: &str =
    "SELECT key, part, parts, channel, message_id FROM outbox_proofs WHERE key = $1 ORDER BY part";

/// A proof; the first of each part wins.
pub(super) const INSERT_PROOF: &str =
    "INSERT INTO outbox_proofs (key, part, parts, channel, message_id, proven_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key, part) DO NOTHING";

/// The pending row with key `$1`.
pub(super) const PENDING: &str =
    "SELECT seq, conversation FROM outbox WHERE key = $1 AND state = 0";

/// The head row `$2` of conversation `$1`, unless a live lease (at `$3`) holds it, is ready at
/// once.
pub(super) const READY_NOW: &str = "UPDATE outbox_heads SET ready_at = 0
      WHERE conversation = $1 AND seq = $2 AND (token = 0 OR ready_at <= $3)";

/// The rows that became the messages `$2` on channel `$1`.
pub(super) const DELIVERED: &str = "SELECT DISTINCT o.seq, o.delivery
       FROM sent_messages AS s JOIN outbox AS o ON o.seq = s.outbox_seq
      WHERE s.channel = $1 AND s.message_id = ANY($2)";

/// The sent rows of conversation `$1` sent at or before `$2`.
pub(super) const WATERMARK: &str =
    "SELECT seq, delivery FROM outbox WHERE state = 1 AND conversation = $1 AND sent_at <= $2";

/// Status `$1` on the rows `$2`.
pub(super) const SET_DELIVERY: &str = "UPDATE outbox SET delivery = $1 WHERE seq = ANY($2)";

pub(super) async fn select_proofs(conn: &mut PgConnection, key: &str) -> Result<Vec<SendProof>> {
    let rows = sqlx::query(PROOFS)
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
            Ok(SendProof::new(
                r.try_get::<String, _>("key").map_err(db("proofs"))?,
                ChannelName::new(channel)?,
                u32::try_from(part).unwrap_or(u32::MAX),
                u32::try_from(parts).unwrap_or(u32::MAX),
                MessageId::new(id)?,
            ))
        })
        .collect()
}

/// Records the receipts in order; one count per receipt.
pub(super) async fn record(
    conn: &mut PgConnection,
    receipts: &[Receipt],
    now: i64,
) -> Result<Vec<u64>> {
    let mut counts = Vec::with_capacity(receipts.len());
    for r in receipts {
        counts.push(match r {
            Receipt::Proof(proof) => u64::from(record_proof(conn, proof, now).await?),
            Receipt::Delivery {
                channel,
                messages,
                status,
            } => {
                let ids: Vec<&str> = messages.iter().map(MessageId::as_str).collect();
                // Locked before looking for their rows: a send recording them in another
                // instance commits first, or finds the receipt kept below.
                super::pending::lock_for_receipt(conn, channel.as_str(), &ids).await?;
                let rows = sqlx::query(DELIVERED)
                    .bind(channel.as_str())
                    .bind(&ids)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db("delivery"))?;
                // Ids no send has recorded yet: kept until one does.
                super::pending::keep(conn, channel.as_str(), &ids, *status, now).await?;
                advance(conn, &rows, *status).await?
            }
            Receipt::Watermark {
                conversation,
                watermark,
                status,
            } => {
                let rows = sqlx::query(WATERMARK)
                    .bind(conversation)
                    .bind(millis(*watermark))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(db("delivery watermark"))?;
                advance(conn, &rows, *status).await?
            }
        });
    }
    Ok(counts)
}

/// Sets `status` on the rows (seq, delivery) it advances; how many.
async fn advance(conn: &mut PgConnection, rows: &[PgRow], status: DeliveryStatus) -> Result<u64> {
    let mut changed: Vec<i64> = Vec::new();
    for row in rows {
        let seq: i64 = row.try_get(0).map_err(db("delivery"))?;
        let old: Option<&str> = row.try_get(1).map_err(db("delivery"))?;
        let old: Option<DeliveryStatus> = old.map(|s| from_json("delivery", s)).transpose()?;
        if old.is_none_or(|o| status.advances(o)) {
            changed.push(seq);
        }
    }
    if !changed.is_empty() {
        changed.sort_unstable();
        sqlx::query(SET_DELIVERY)
            .bind(to_json("delivery", &status)?)
            .bind(&changed)
            .execute(&mut *conn)
            .await
            .map_err(db("delivery"))?;
    }
    Ok(changed.len() as u64)
}

async fn record_proof(conn: &mut PgConnection, proof: &SendProof, now: i64) -> Result<bool> {
    sqlx::query(INSERT_PROOF)
        .bind(&proof.key)
        .bind(i64::from(proof.part))
        .bind(i64::from(proof.parts))
        .bind(proof.channel.as_str())
        .bind(proof.message_id.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("record proof"))?;
    let all = select_proofs(conn, &proof.key).await?;
    if proven_ids(&all).is_none() {
        return Ok(false);
    }
    let Some(row) = sqlx::query(PENDING)
        .bind(&proof.key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("record proof"))?
    else {
        return Ok(false);
    };
    let seq: i64 = row.try_get(0).map_err(db("record proof"))?;
    let conversation: String = row.try_get(1).map_err(db("record proof"))?;
    sqlx::query(READY_NOW)
        .bind(conversation)
        .bind(seq)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("record proof"))?;
    Ok(true)
}
