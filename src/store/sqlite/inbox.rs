//! Inbox rows: claiming conversation heads, completing them with their replies and state,
//! retrying and dead-lettering them.

use std::time::{Duration, SystemTime};

use sqlx::{Connection, Row};
use switchboard_core::Result;

use super::outbox::insert_outbox;
use super::{
    Completion, InboxItem, Lease, from_json, millis, new_token, outbox_key_taken, to_json,
};
use super::{SqliteStore, attempts, db, lease_until, renew};

pub(super) async fn claim_inbox(
    store: &SqliteStore,
    now: SystemTime,
    lease: Duration,
    limit: usize,
) -> Result<Vec<InboxItem>> {
    let (now, until) = lease_until(now, lease);
    let token = new_token();
    let mut conn = store.writer.lock().await;
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

pub(super) async fn complete_inbox(
    store: &SqliteStore,
    lease: Lease,
    completion: Completion,
) -> Result<bool> {
    let outbox = completion
        .outbox
        .iter()
        .map(|o| Ok((to_json("target", &o.to)?, to_json("message", &o.message)?)))
        .collect::<Result<Vec<_>>>()?;
    let now = millis(SystemTime::now());
    let mut conn = store.writer.lock().await;
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

pub(super) async fn retry_inbox(
    store: &SqliteStore,
    lease: Lease,
    error: &str,
    at: SystemTime,
) -> Result<bool> {
    let mut conn = store.writer.lock().await;
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

pub(super) async fn dead_letter_inbox(
    store: &SqliteStore,
    lease: Lease,
    error: &str,
) -> Result<bool> {
    let mut conn = store.writer.lock().await;
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

pub(super) async fn renew_inbox(
    store: &SqliteStore,
    lease: Lease,
    until: SystemTime,
) -> Result<bool> {
    renew(
        &store.writer,
        "UPDATE inbox SET lease_until = ? WHERE seq = ? AND token = ? AND state = 0",
        lease,
        until,
    )
    .await
}
