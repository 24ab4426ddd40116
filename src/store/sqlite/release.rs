//! Letting a claimed outbox row go without sending it: retry, defer, settle later, record an
//! attempt or the parts sent, dead-letter.

use std::time::SystemTime;

use sqlx::{Connection, Row};
use switchboard_core::model::MessageId;
use switchboard_core::{Result, SentMessage};

use super::outbox::map_sent_ids;
use super::{Lease, millis, to_json};
use super::{SqliteStore, db};

/// Releases a claimed row to be claimed again at `at`, recording `reason`; `extra` adds
/// assignments (a constant SQL fragment, never input) to the common ones.
async fn release(
    store: &SqliteStore,
    lease: Lease,
    reason: &str,
    at: SystemTime,
    extra: &'static str,
    what: &'static str,
) -> Result<bool> {
    let sql = format!(
        "UPDATE outbox SET error = ?, available_at = ?, lease_until = 0, token = 0, inflight = 0{extra}
         WHERE seq = ? AND token = ? AND state = 0"
    );
    let mut conn = store.writer.lock().await;
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reason)
        .bind(millis(at))
        .bind(lease.seq)
        .bind(lease.token)
        .execute(&mut *conn)
        .await
        .map_err(db(what))?;
    Ok(r.rows_affected() == 1)
}

pub(super) async fn retry_outbox(
    store: &SqliteStore,
    lease: Lease,
    error: &str,
    at: SystemTime,
) -> Result<bool> {
    release(store, lease, error, at, "", "retry outbox").await
}

pub(super) async fn defer_outbox(
    store: &SqliteStore,
    lease: Lease,
    why: &str,
    at: SystemTime,
) -> Result<bool> {
    release(
        store,
        lease,
        why,
        at,
        ", attempts = MAX(attempts - 1, 0)",
        "defer outbox",
    )
    .await
}

pub(super) async fn outbox_attempt(
    store: &SqliteStore,
    lease: Lease,
    at: SystemTime,
) -> Result<bool> {
    let at = millis(at);
    let mut conn = store.writer.lock().await;
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

pub(super) async fn retry_outbox_uncertain(
    store: &SqliteStore,
    lease: Lease,
    error: &str,
    at: SystemTime,
) -> Result<bool> {
    release(store, lease, error, at, ", uncertain = 1", "retry outbox").await
}

pub(super) async fn reconcile_outbox_later(
    store: &SqliteStore,
    lease: Lease,
    why: &str,
    at: SystemTime,
) -> Result<bool> {
    release(
        store,
        lease,
        why,
        at,
        ", uncertain = 1, attempts = MAX(attempts - 1, 0)",
        "reconcile later",
    )
    .await
}

pub(super) async fn outbox_partial(
    store: &SqliteStore,
    lease: Lease,
    messages: &[SentMessage],
) -> Result<bool> {
    let ids: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
    let ids_json = to_json("message ids", &ids)?;
    let mut conn = store.writer.lock().await;
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

pub(super) async fn dead_letter_outbox(
    store: &SqliteStore,
    lease: Lease,
    error: &str,
) -> Result<bool> {
    let mut conn = store.writer.lock().await;
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
