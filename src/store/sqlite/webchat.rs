//! The web chat log, uploads and named secrets (migration 0007). Writes are writer jobs
//! ([`WebchatWrite`]) run in the writer's group commits by the SQLite committer
//! (`super::writer`), since SQLite has one write connection; reads run on the pool.

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;

use super::db;
use crate::store::sql::webchat::{WebchatWrite, WebchatWritten};
use crate::store::sql::{Answer, Job, SqlStore};
use crate::store::{LogAppend, LogEntry, Upload, from_json, millis, to_json};

/// Runs `write` on the writer; its answer.
async fn run(core: &SqlStore<super::Sqlite>, write: WebchatWrite) -> Result<WebchatWritten> {
    match core.writer().run(Job::Webchat(write)).await? {
        Answer::Webchat(w) => Ok(w),
        _ => Err(crate::store::sql::writer::unexpected()),
    }
}

pub(super) async fn append_all(
    core: &SqlStore<super::Sqlite>,
    appends: &[LogAppend],
) -> Result<Vec<u64>> {
    let rows = appends
        .iter()
        .map(|a| {
            Ok((
                a.conversation.clone(),
                a.key.clone(),
                to_json("log record", &a.event)?,
                millis(a.at),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    match run(core, WebchatWrite::Append(rows)).await? {
        WebchatWritten::Seqs(seqs) => Ok(seqs),
        _ => Err(crate::store::sql::writer::unexpected()),
    }
}

pub(super) async fn put_upload(core: &SqlStore<super::Sqlite>, upload: &Upload) -> Result<()> {
    match run(core, WebchatWrite::Upload(upload.clone())).await? {
        WebchatWritten::Stored => Ok(()),
        _ => Err(crate::store::sql::writer::unexpected()),
    }
}

pub(super) async fn keep_secret(
    core: &SqlStore<super::Sqlite>,
    name: &str,
    proposed: &[u8],
) -> Result<Vec<u8>> {
    match run(
        core,
        WebchatWrite::Secret(name.to_owned(), proposed.to_vec()),
    )
    .await?
    {
        WebchatWritten::Secret(kept) => Ok(kept),
        _ => Err(crate::store::sql::writer::unexpected()),
    }
}

/// Runs a web chat write in the writer's transaction.
pub(super) async fn write(
    conn: &mut SqliteConnection,
    write: &WebchatWrite,
) -> Result<WebchatWritten> {
    match write {
        WebchatWrite::Append(rows) => {
            let mut seqs = Vec::with_capacity(rows.len());
            for (conversation, key, event, at) in rows {
                seqs.push(append(conn, conversation, key.as_deref(), event, *at).await?);
            }
            Ok(WebchatWritten::Seqs(seqs))
        }
        WebchatWrite::Upload(u) => {
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
            Ok(WebchatWritten::Stored)
        }
        WebchatWrite::Secret(name, proposed) => {
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
            Ok(WebchatWritten::Secret(kept))
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
    // The conversation's head row (its last sequence number, kept after records go).
    sqlx::query(
        "INSERT INTO webchat_heads (conversation, last_seq) VALUES (?, 0)
         ON CONFLICT (conversation) DO NOTHING",
    )
    .bind(conversation)
    .execute(&mut *conn)
    .await
    .map_err(db("log append"))?;
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
        "UPDATE webchat_heads SET last_seq = last_seq + 1 WHERE conversation = ?
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
