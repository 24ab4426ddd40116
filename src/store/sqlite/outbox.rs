//! Outbox rows: inserting (handler replies, application sends), claiming conversation heads,
//! recording a send, reading a row's status.

use std::time::{Duration, SystemTime};

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use switchboard_core::model::MessageId;
use switchboard_core::render::TextOption;
use switchboard_core::{Result, SentMessage};

use super::{
    Lease, NewOutbound, OutboxItem, OutboxState, OutboxStatus, conversation_key, from_json, millis,
    new_token, outbox_key_taken, to_json,
};
use super::{SqliteStore, attempts, db, lease_until, renew, time_col};

/// One outbox row (a key already present is skipped); whether it was written.
pub(super) async fn insert_outbox(
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

/// Records the provider ids of `messages` as parts of outbox row `seq` (receipts find it).
pub(super) async fn map_sent_ids(
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

pub(super) async fn claim_outbox(
    store: &SqliteStore,
    now: SystemTime,
    lease: Duration,
    limit: usize,
) -> Result<Vec<OutboxItem>> {
    let (now, until) = lease_until(now, lease);
    let token = new_token();
    let mut conn = store.writer.lock().await;
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

pub(super) async fn outbox_sent(
    store: &SqliteStore,
    lease: Lease,
    messages: &[SentMessage],
    options: &[TextOption],
    options_expire: SystemTime,
) -> Result<bool> {
    let ids: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
    let ids_json = to_json("message ids", &ids)?;
    let options_json = to_json("options", &options)?;
    let mut conn = store.writer.lock().await;
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

pub(super) async fn outbox_status(store: &SqliteStore, key: &str) -> Result<Option<OutboxStatus>> {
    let row = sqlx::query(
        "SELECT state, attempts, message_ids, delivery, error, first_attempt_at, last_attempt_at,
                uncertain
         FROM outbox WHERE key = ?",
    )
    .bind(key)
    .fetch_optional(&store.pool)
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

pub(super) async fn enqueue_outbound(
    store: &SqliteStore,
    rows: &[NewOutbound],
) -> Result<Vec<bool>> {
    let encoded = rows
        .iter()
        .map(|o| Ok((to_json("target", &o.to)?, to_json("message", &o.message)?)))
        .collect::<Result<Vec<_>>>()?;
    let now = millis(SystemTime::now());
    let mut conn = store.writer.lock().await;
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

pub(super) async fn renew_outbox(
    store: &SqliteStore,
    lease: Lease,
    until: SystemTime,
) -> Result<bool> {
    renew(
        &store.writer,
        "UPDATE outbox SET lease_until = ? WHERE seq = ? AND token = ? AND state = 0",
        lease,
        until,
    )
    .await
}
