//! Conversation state and the degraded numbered options of a conversation.

use std::collections::HashMap;
use std::time::SystemTime;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;
use switchboard_core::render::TextOption;

use super::{db, json};
use crate::store::{from_json, millis};

/// `[[conversation, value json], …]` at `?2`.
pub(super) const UPSERT_STATE: &str =
    "INSERT INTO conversation_state (conversation, value, updated_at)
     SELECT j.value ->> 0, j.value ->> 1, ?2 FROM json_each(?1) AS j WHERE true
     ON CONFLICT (conversation) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// `[conversation, …]`.
pub(super) const DELETE_STATE: &str =
    "DELETE FROM conversation_state WHERE conversation IN (SELECT value FROM json_each(?1))";

/// `[[conversation, options json, expires at], …]`.
pub(super) const UPSERT_OPTIONS: &str =
    "INSERT OR REPLACE INTO degraded_options (conversation, options, expires_at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?1) AS j";

/// `[conversation, …]`.
pub(super) const DELETE_OPTIONS: &str =
    "DELETE FROM degraded_options WHERE conversation IN (SELECT value FROM json_each(?1))";

/// Applies (conversation, value or delete) writes; the last write of a conversation wins.
pub(super) async fn write_all(
    conn: &mut SqliteConnection,
    writes: &[(&str, Option<&str>)],
    now: i64,
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let last: HashMap<&str, Option<&str>> = writes.iter().copied().collect();
    let upserts: Vec<(&str, &str)> = last
        .iter()
        .filter_map(|(c, v)| v.map(|v| (*c, v)))
        .collect();
    let deletes: Vec<&str> = last
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !upserts.is_empty() {
        sqlx::query(UPSERT_STATE)
            .bind(json("state", &upserts)?)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db("state"))?;
    }
    if !deletes.is_empty() {
        sqlx::query(DELETE_STATE)
            .bind(json("state", &deletes)?)
            .execute(&mut *conn)
            .await
            .map_err(db("state"))?;
    }
    Ok(())
}

pub(super) async fn set(
    conn: &mut SqliteConnection,
    conversation: &str,
    value: Option<&str>,
    now: i64,
) -> Result<()> {
    write_all(conn, &[(conversation, value)], now).await
}

/// Replaces conversations' options: (conversation, options json or `None` to clear, expires
/// at); the last of a conversation wins.
pub(super) async fn write_options(
    conn: &mut SqliteConnection,
    writes: &[(&str, Option<String>, i64)],
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let last: HashMap<&str, (Option<&str>, i64)> = writes
        .iter()
        .map(|(c, o, at)| (*c, (o.as_deref(), *at)))
        .collect();
    let set: Vec<(&str, &str, i64)> = last
        .iter()
        .filter_map(|(c, (o, at))| o.map(|o| (*c, o, *at)))
        .collect();
    let clear: Vec<&str> = last
        .iter()
        .filter(|(_, (o, _))| o.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !set.is_empty() {
        sqlx::query(UPSERT_OPTIONS)
            .bind(json("options", &set)?)
            .execute(&mut *conn)
            .await
            .map_err(db("options"))?;
    }
    if !clear.is_empty() {
        sqlx::query(DELETE_OPTIONS)
            .bind(json("options", &clear)?)
            .execute(&mut *conn)
            .await
            .map_err(db("options"))?;
    }
    Ok(())
}

pub(super) async fn get_state(
    pool: &SqlitePool,
    conversation: &str,
) -> Result<Option<serde_json::Value>> {
    let row = sqlx::query("SELECT value FROM conversation_state WHERE conversation = ?")
        .bind(conversation)
        .fetch_optional(pool)
        .await
        .map_err(db("state"))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let v: String = row.try_get(0).map_err(db("state"))?;
            from_json("state", &v).map(Some)
        }
    }
}

pub(super) async fn get_options(
    pool: &SqlitePool,
    conversation: &str,
    now: SystemTime,
) -> Result<Vec<TextOption>> {
    let row = sqlx::query(
        "SELECT options FROM degraded_options WHERE conversation = ? AND expires_at > ?",
    )
    .bind(conversation)
    .bind(millis(now))
    .fetch_optional(pool)
    .await
    .map_err(db("options"))?;
    match row {
        None => Ok(Vec::new()),
        Some(row) => {
            let v: String = row.try_get(0).map_err(db("options"))?;
            from_json("options", &v)
        }
    }
}
