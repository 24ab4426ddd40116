//! Conversation state and the degraded numbered options of a conversation.

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
