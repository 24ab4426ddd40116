//! Conversation state and the degraded numbered options of a conversation.

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
