//! The web chat log, uploads and named secrets (migration 0007). Appends run in their own
//! transactions on the pool (not the writer's group commits): each locks its conversation's
//! head row, so sequence numbers only grow across instances, and sends `NOTIFY` on the
//! store's log channel with the conversation key, delivered at commit to every instance's
//! listener ([`listen`]), which wakes that conversation's streams there.

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgListener, PgPool};
use sqlx::{Connection, Row};
use switchboard_core::Result;
use tokio::sync::broadcast;

use super::db;
use crate::store::{LogAppend, LogEntry, Upload, from_json, millis, to_json};

/// The notification channel of the web chat log of the store in `schema`.
pub(super) fn channel(schema: &str) -> String {
    format!("switchboard_{schema}_log")
}

pub(super) async fn append(
    pool: &PgPool,
    channel: &str,
    appends: &[LogAppend],
) -> Result<Vec<u64>> {
    let mut conn = pool.acquire().await.map_err(db("log append"))?;
    let mut tx = conn.begin().await.map_err(db("log append"))?;
    let mut seqs = Vec::with_capacity(appends.len());
    for a in appends {
        seqs.push(append_one(&mut tx, channel, a).await?);
    }
    tx.commit().await.map_err(db("log append"))?;
    Ok(seqs)
}

async fn append_one(conn: &mut PgConnection, channel: &str, a: &LogAppend) -> Result<u64> {
    sqlx::query(
        "INSERT INTO webchat_heads (conversation, last_seq) VALUES ($1, 0)
         ON CONFLICT (conversation) DO NOTHING",
    )
    .bind(&a.conversation)
    .execute(&mut *conn)
    .await
    .map_err(db("log append"))?;
    // Appends to one conversation queue here; the key lookup below then sees what the one
    // before committed.
    sqlx::query("SELECT last_seq FROM webchat_heads WHERE conversation = $1 FOR UPDATE")
        .bind(&a.conversation)
        .execute(&mut *conn)
        .await
        .map_err(db("log append"))?;
    if let Some(key) = &a.key {
        let held: Option<i64> =
            sqlx::query("SELECT seq FROM webchat_log WHERE conversation = $1 AND key = $2")
                .bind(&a.conversation)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("log append"))?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(db("log append"))?;
        if let Some(seq) = held {
            return Ok(seq.unsigned_abs());
        }
    }
    let seq: i64 = sqlx::query(
        "UPDATE webchat_heads SET last_seq = last_seq + 1 WHERE conversation = $1
         RETURNING last_seq",
    )
    .bind(&a.conversation)
    .fetch_one(&mut *conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(db("log append"))?;
    sqlx::query(
        "INSERT INTO webchat_log (conversation, seq, key, event, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&a.conversation)
    .bind(seq)
    .bind(&a.key)
    .bind(to_json("log record", &a.event)?)
    .bind(millis(a.at))
    .execute(&mut *conn)
    .await
    .map_err(db("log append"))?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(&a.conversation)
        .execute(&mut *conn)
        .await
        .map_err(db("log append"))?;
    Ok(seq.unsigned_abs())
}

pub(super) async fn read(
    pool: &PgPool,
    conversation: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<LogEntry>> {
    let rows = sqlx::query(
        "SELECT seq, event FROM webchat_log WHERE conversation = $1 AND seq > $2
         ORDER BY seq LIMIT $3",
    )
    .bind(conversation)
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(db("log read"))?;
    rows.iter()
        .map(|r| {
            let seq: i64 = r.try_get(0).map_err(db("log read"))?;
            let event: String = r.try_get(1).map_err(db("log read"))?;
            Ok(LogEntry::new(
                seq.unsigned_abs(),
                from_json("log record", &event)?,
            ))
        })
        .collect()
}

pub(super) async fn put_upload(pool: &PgPool, u: &Upload) -> Result<()> {
    sqlx::query(
        "INSERT INTO webchat_uploads (id, conversation, filename, mime_type, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&u.id)
    .bind(&u.conversation)
    .bind(&u.filename)
    .bind(&u.mime_type)
    .bind(u.data.as_ref())
    .bind(millis(u.created_at))
    .execute(pool)
    .await
    .map_err(db("upload"))?;
    Ok(())
}

pub(super) async fn get_upload(pool: &PgPool, id: &str) -> Result<Option<Upload>> {
    let row = sqlx::query(
        "SELECT conversation, filename, mime_type, data, created_at FROM webchat_uploads
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db("upload"))?;
    row.map(|r| {
        let data: Vec<u8> = r.try_get(3).map_err(db("upload"))?;
        let at: i64 = r.try_get(4).map_err(db("upload"))?;
        Ok(Upload::new(
            id,
            r.try_get::<String, _>(0).map_err(db("upload"))?,
            r.try_get::<String, _>(1).map_err(db("upload"))?,
            r.try_get::<String, _>(2).map_err(db("upload"))?,
            data.into(),
            switchboard_core::model::time::from_millis(at),
        ))
    })
    .transpose()
}

pub(super) async fn keep_secret(pool: &PgPool, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
    sqlx::query("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(proposed)
        .execute(pool)
        .await
        .map_err(db("secret"))?;
    sqlx::query("SELECT value FROM secrets WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db("secret"))
}

/// Listens on `channel` and passes each appended conversation key on to `wakes`, until
/// `alive` is gone. A lost connection is reopened (appends announced meanwhile are missed:
/// streams also poll, see the engine's web chat module).
pub(super) fn listen(
    pool: PgPool,
    channel: String,
    wakes: broadcast::Sender<String>,
    alive: Weak<()>,
) {
    tokio::spawn(async move {
        let mut listener: Option<PgListener> = None;
        loop {
            if alive.strong_count() == 0 {
                return;
            }
            let Some(l) = listener.as_mut() else {
                listener = subscribe(&pool, &channel).await;
                if listener.is_none() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(1), l.try_recv()).await {
                Err(_) | Ok(Ok(None)) => {}
                Ok(Ok(Some(n))) => {
                    let _ = wakes.send(n.payload().to_owned());
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "store: log listener failed; reconnecting");
                    listener = None;
                }
            }
        }
    });
}

async fn subscribe(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    match listener.listen(channel).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "store: cannot listen for log appends; polling meanwhile");
            None
        }
    }
}
