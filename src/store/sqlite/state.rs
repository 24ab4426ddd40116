//! Conversation state and the degraded numbered options of a conversation.

use std::time::SystemTime;

use sqlx::Row;
use switchboard_core::Result;
use switchboard_core::render::TextOption;

use super::{SqliteStore, db};
use super::{from_json, millis, to_json};

pub(super) async fn get_state(
    store: &SqliteStore,
    conversation: &str,
) -> Result<Option<serde_json::Value>> {
    let row = sqlx::query("SELECT value FROM conversation_state WHERE conversation = ?")
        .bind(conversation)
        .fetch_optional(&store.pool)
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

pub(super) async fn set_state(
    store: &SqliteStore,
    conversation: &str,
    value: Option<serde_json::Value>,
) -> Result<()> {
    let mut conn = store.writer.lock().await;
    match value {
        Some(v) => sqlx::query(
            "INSERT INTO conversation_state (conversation, value, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (conversation) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(conversation)
        .bind(to_json("state", &v)?)
        .bind(millis(SystemTime::now()))
        .execute(&mut *conn)
        .await
        .map_err(db("state"))?,
        None => sqlx::query("DELETE FROM conversation_state WHERE conversation = ?")
            .bind(conversation)
            .execute(&mut *conn)
            .await
            .map_err(db("state"))?,
    };
    Ok(())
}

pub(super) async fn get_options(
    store: &SqliteStore,
    conversation: &str,
    now: SystemTime,
) -> Result<Vec<TextOption>> {
    let row = sqlx::query(
        "SELECT options FROM degraded_options WHERE conversation = ? AND expires_at > ?",
    )
    .bind(conversation)
    .bind(millis(now))
    .fetch_optional(&store.pool)
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
