//! What providers report about our sends: keyed send proofs, delivery receipts and watermarks.

use std::time::SystemTime;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::{ChannelName, Result};

use super::{SendProof, from_json, millis, proven_ids, to_json};
use super::{SqliteStore, db};

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

pub(super) async fn record_proof(
    store: &SqliteStore,
    proof: &SendProof,
    now: SystemTime,
) -> Result<bool> {
    let mut conn = store.writer.lock().await;
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

pub(super) async fn proofs(store: &SqliteStore, key: &str) -> Result<Vec<SendProof>> {
    let mut conn = store.pool.acquire().await.map_err(db("proofs"))?;
    select_proofs(&mut conn, key).await
}

pub(super) async fn record_delivery(
    store: &SqliteStore,
    channel: &ChannelName,
    messages: &[MessageId],
    status: DeliveryStatus,
) -> Result<u64> {
    let mut conn = store.writer.lock().await;
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

pub(super) async fn record_delivery_watermark(
    store: &SqliteStore,
    conversation: &str,
    watermark: SystemTime,
    status: DeliveryStatus,
) -> Result<u64> {
    let status_json = to_json("delivery", &status)?;
    let mut conn = store.writer.lock().await;
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
