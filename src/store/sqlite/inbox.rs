//! Inbox rows: dedupe and insert, claiming heads, finishing them (handled with their replies
//! and state, retried, dead-lettered). Every statement is set-based over a JSON array.

/// One dedupe key (`?1` channel, `?2` event id, `?3` seq, `?4` received at): inserted when
/// new, skipped when taken (no row changed). The writer runs it once per event: on its own
/// connection a prepared statement costs less per row than a JSON array written, escaped
/// and parsed again.
pub(super) const INSERT_KEY: &str = "INSERT INTO inbox_keys (channel, event_id, seq, received_at)
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (channel, event_id) DO NOTHING";

/// One inbox row (`?1` seq, `?2` conversation, `?3` channel, `?4` event id, `?5` event, `?6`
/// received at, `?7` raw digest), once per new event like [`INSERT_KEY`]: the event's JSON is
/// bound as it is, not escaped into an array.
pub(super) const INSERT_ROW: &str =
    "INSERT INTO inbox (seq, conversation, channel, event_id, event, received_at, raw_digest)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// `[[digest, raw], …]` at `?2`: shared raw payloads (a repeat is the same payload).
pub(super) const INSERT_RAW: &str = "INSERT INTO inbox_raw (digest, raw, created_at)
     SELECT j.value ->> 0, j.value ->> 1, ?2 FROM json_each(?1) AS j WHERE true
     ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at";

/// `[[conversation, seq], …]` (each conversation's first new row): the row becomes the
/// conversation's head unless it has one.
pub(super) const INSERT_HEADS: &str = "INSERT INTO inbox_heads (conversation, seq)
     SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j WHERE true
     ON CONFLICT (conversation) DO NOTHING";

/// Leases up to `?4` ready heads until `?2` with token `?3`: those whose time came (`ready_at`
/// in (0, `?1`]) first by time, then those ready at once (`ready_at = 0`) by sequence.
///
/// The limit is written `?4 + 0`, an expression: SQLite reads a bare parameter as a LIMIT's
/// value while planning (`sqlite3ExprIsInteger`), so the statement was prepared again whenever
/// the limit (the claim loop's free slots) changed, on every claim.
pub(super) const CLAIM: &str = "UPDATE inbox_heads SET token = ?3, ready_at = ?2, attempts = attempts + 1
     WHERE conversation IN (
       SELECT conversation FROM (SELECT conversation FROM inbox_heads
                                  WHERE ready_at > 0 AND ready_at <= ?1 ORDER BY ready_at, seq LIMIT ?4 + 0)
       UNION ALL
       SELECT conversation FROM (SELECT conversation FROM inbox_heads
                                  WHERE ready_at = 0 ORDER BY seq LIMIT ?4 + 0)
       LIMIT ?4 + 0)
     RETURNING seq, attempts";

/// The events of the rows `?1` (a JSON array of seqs).
pub(super) const EVENTS: &str = "SELECT i.seq, i.event, i.conversation, r.raw FROM inbox AS i
       LEFT JOIN inbox_raw AS r ON r.digest = i.raw_digest
      WHERE i.seq IN (SELECT value FROM json_each(?1))";

/// The options of the conversations `?1` (a JSON array) live at `?2`.
pub(super) const OPTIONS: &str = "SELECT conversation, options FROM degraded_options
      WHERE conversation IN (SELECT value FROM json_each(?1)) AND expires_at > ?2";

/// `[[seq, token], …]` → the positions (from 0) whose lease holds, with conversation and
/// channel, as one row: a JSON array of `[pos, conversation, channel]` (each row a statement
/// returns crosses from sqlx's SQLite thread to the writer's task on its own).
pub(super) const LEASED: &str =
    "SELECT json_group_array(json_array(j.key, i.conversation, i.channel)) FROM json_each(?1) AS j
     JOIN inbox AS i ON i.seq = j.value ->> 0
     JOIN inbox_heads AS h ON h.conversation = i.conversation AND h.seq = i.seq
                          AND h.token = j.value ->> 1";

/// `[[seq, error, conversation], …]`: the rows become dead letters (they stay in the inbox,
/// out of every claim's path) with their head's attempts.
pub(super) const BURY: &str =
    "UPDATE inbox SET state = 2, error = j.value ->> 1, attempts = h.attempts
       FROM json_each(?1) AS j JOIN inbox_heads AS h ON h.conversation = j.value ->> 2
      WHERE inbox.seq = j.value ->> 0";

/// `[seq, …]`: the handled rows leave the inbox.
pub(super) const DELETE: &str = "DELETE FROM inbox WHERE seq IN (SELECT value FROM json_each(?1))";

/// `[[conversation, at, error], …]`: the heads are released until `at`.
pub(super) const RETRY: &str =
    "UPDATE inbox_heads SET ready_at = j.value ->> 1, token = 0, error = j.value ->> 2
       FROM json_each(?1) AS j WHERE inbox_heads.conversation = j.value ->> 0";

/// The outbox keys of `?1` (a JSON array of keys) already taken.
pub(super) const TAKEN: &str =
    "SELECT key FROM outbox WHERE key IN (SELECT value FROM json_each(?1))";
