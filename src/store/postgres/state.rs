//! Conversation state and the degraded numbered options of a conversation.

use std::collections::BTreeMap;
use std::time::SystemTime;

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};
use switchboard_core::Result;
use switchboard_core::render::TextOption;

use super::db;
use crate::store::{from_json, millis};

/// `$1` conversations, `$2` values (JSON) at `$3`.
pub(super) const UPSERT_STATE: &str =
    "INSERT INTO conversation_state (conversation, value, updated_at)
     SELECT c, v, $3 FROM UNNEST($1::text[], $2::text[]) AS s(c, v)
     ON CONFLICT (conversation) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// `$1` conversations.
pub(super) const DELETE_STATE: &str = "DELETE FROM conversation_state WHERE conversation = ANY($1)";

/// `$1` conversations, `$2` options (JSON), `$3` expiry times.
pub(super) const UPSERT_OPTIONS: &str =
    "INSERT INTO degraded_options (conversation, options, expires_at)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
     ON CONFLICT (conversation) DO UPDATE SET options = excluded.options, expires_at = excluded.expires_at";

/// `$1` conversations.
pub(super) const DELETE_OPTIONS: &str = "DELETE FROM degraded_options WHERE conversation = ANY($1)";

/// Applies (conversation, value or delete) writes; the last write of a conversation wins.
pub(super) async fn write_all(
    conn: &mut PgConnection,
    writes: &[(&str, Option<&str>)],
    now: i64,
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    // Sorted: two transactions writing the same conversations lock them in one order.
    let last: BTreeMap<&str, Option<&str>> = writes.iter().copied().collect();
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
            .bind(upserts.iter().map(|u| u.0).collect::<Vec<_>>())
            .bind(upserts.iter().map(|u| u.1).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db("state"))?;
    }
    if !deletes.is_empty() {
        sqlx::query(DELETE_STATE)
            .bind(&deletes)
            .execute(&mut *conn)
            .await
            .map_err(db("state"))?;
    }
    Ok(())
}

/// Replaces conversations' options: (conversation, options json or `None` to clear, expires
/// at); the last of a conversation wins.
pub(super) async fn write_options(
    conn: &mut PgConnection,
    writes: &[(&str, Option<String>, i64)],
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let last: BTreeMap<&str, (Option<&str>, i64)> = writes
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
            .bind(set.iter().map(|s| s.0).collect::<Vec<_>>())
            .bind(set.iter().map(|s| s.1).collect::<Vec<_>>())
            .bind(set.iter().map(|s| s.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("options"))?;
    }
    if !clear.is_empty() {
        sqlx::query(DELETE_OPTIONS)
            .bind(&clear)
            .execute(&mut *conn)
            .await
            .map_err(db("options"))?;
    }
    Ok(())
}

pub(super) async fn get_state(
    pool: &PgPool,
    conversation: &str,
) -> Result<Option<serde_json::Value>> {
    let row = sqlx::query("SELECT value FROM conversation_state WHERE conversation = $1")
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
    pool: &PgPool,
    conversation: &str,
    now: SystemTime,
) -> Result<Vec<TextOption>> {
    let row = sqlx::query(
        "SELECT options FROM degraded_options WHERE conversation = $1 AND expires_at > $2",
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
