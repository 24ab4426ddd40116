//! The web chat log, uploads and named secrets (migration 0007): writes run in the writer's
//! group commits ([`Job::Webchat`](super::writer::Job)), reads on the pool.

use std::time::SystemTime;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;

use super::db;
use crate::store::{LogEntry, Upload, from_json, millis};

/// A web chat write, as data (the writer may run it again alone).
pub(super) enum Write {
    /// (conversation, key, event json, at) per record.
    Append(Vec<(String, Option<String>, String, i64)>),
    Upload(Upload),
    Secret(String, Vec<u8>),
}

/// What a [`Write`] answers.
pub(super) enum Written {
    Seqs(Vec<u64>),
    Stored,
    Secret(Vec<u8>),
}

pub(super) async fn write(conn: &mut SqliteConnection, write: &Write) -> Result<Written> {
    match write {
        Write::Append(rows) => {
            let mut seqs = Vec::with_capacity(rows.len());
            for (conversation, key, event, at) in rows {
                seqs.push(append(conn, conversation, key.as_deref(), event, *at).await?);
            }
            Ok(Written::Seqs(seqs))
        }
        Write::Upload(u) => {
            sqlx::query(
                "INSERT OR IGNORE INTO webchat_uploads
                 (id, conversation, filename, mime_type, data, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&u.id)
            .bind(&u.conversation)
            .bind(&u.filename)
            .bind(&u.mime_type)
            .bind(u.data.as_ref())
            .bind(millis(u.created_at))
            .execute(&mut *conn)
            .await
            .map_err(db("upload"))?;
            Ok(Written::Stored)
        }
        Write::Secret(name, proposed) => {
            sqlx::query("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)")
                .bind(name)
                .bind(proposed.as_slice())
                .execute(&mut *conn)
                .await
                .map_err(db("secret"))?;
            let kept: Vec<u8> = sqlx::query("SELECT value FROM secrets WHERE name = ?")
                .bind(name)
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(db("secret"))?;
            Ok(Written::Secret(kept))
        }
    }
}

async fn append(
    conn: &mut SqliteConnection,
    conversation: &str,
    key: Option<&str>,
    event: &str,
    at: i64,
) -> Result<u64> {
    if let Some(key) = key {
        let held: Option<i64> =
            sqlx::query("SELECT seq FROM webchat_log WHERE conversation = ? AND key = ?")
                .bind(conversation)
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
        "INSERT INTO webchat_heads (conversation, last_seq) VALUES (?, 1)
         ON CONFLICT (conversation) DO UPDATE SET last_seq = last_seq + 1
         RETURNING last_seq",
    )
    .bind(conversation)
    .fetch_one(&mut *conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(db("log append"))?;
    sqlx::query(
        "INSERT INTO webchat_log (conversation, seq, key, event, at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(conversation)
    .bind(seq)
    .bind(key)
    .bind(event)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(db("log append"))?;
    Ok(seq.unsigned_abs())
}

pub(super) async fn read(
    pool: &SqlitePool,
    conversation: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<LogEntry>> {
    let rows = sqlx::query(
        "SELECT seq, event FROM webchat_log WHERE conversation = ? AND seq > ?
         ORDER BY seq LIMIT ?",
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

pub(super) async fn get_upload(pool: &SqlitePool, id: &str) -> Result<Option<Upload>> {
    let row = sqlx::query(
        "SELECT conversation, filename, mime_type, data, created_at FROM webchat_uploads
         WHERE id = ?",
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

/// `at` in milliseconds (the log's `at` column).
pub(super) fn at(t: SystemTime) -> i64 {
    millis(t)
}
