//! Changes to claimed outbox rows, merged across callers: attempts, parts sent, releases
//! (retry, retry uncertain, defer, reconcile later), sent, dead letters.

/// `[[seq, token], …]` → the positions whose lease holds, with conversation and channel, as
/// one JSON array (see the inbox's `LEASED`).
pub(super) const LEASED: &str =
    "SELECT json_group_array(json_array(j.key, o.conversation, o.channel)) FROM json_each(?1) AS j
     JOIN outbox AS o ON o.seq = j.value ->> 0 AND o.state = 0
     JOIN outbox_heads AS h ON h.conversation = o.conversation AND h.seq = o.seq
                           AND h.token = j.value ->> 1";

/// `[[conversation, at], …]`: a send begins (durable before the request goes out).
pub(super) const ATTEMPT: &str = "UPDATE outbox_heads SET inflight = 2, uncertain = 0,
            first_attempt_at = COALESCE(first_attempt_at, j.value ->> 1),
            last_attempt_at = j.value ->> 1
       FROM json_each(?1) AS j WHERE outbox_heads.conversation = j.value ->> 0";

/// `[[seq, message ids json], …]`: the provider ids of the parts sent so far.
pub(super) const MESSAGE_IDS: &str = "UPDATE outbox SET message_ids = j.value ->> 1
       FROM json_each(?1) AS j WHERE outbox.seq = j.value ->> 0";

/// `[[channel, message id, seq], …]`: receipts for those ids find the row.
pub(super) const MAP_IDS: &str =
    "INSERT OR REPLACE INTO sent_messages (channel, message_id, outbox_seq)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?1) AS j";

/// `[[conversation, why, at, uncounted (0|1), uncertain (0|1)], …]`: released heads.
pub(super) const RELEASE: &str =
    "UPDATE outbox_heads SET error = j.value ->> 1, ready_at = j.value ->> 2,
            token = 0, inflight = 0, attempts = MAX(attempts - (j.value ->> 3), 0),
            uncertain = MAX(uncertain, j.value ->> 4)
       FROM json_each(?1) AS j WHERE outbox_heads.conversation = j.value ->> 0";

/// `[[seq, conversation, state (1|2), message ids json, error], …]` at `?2`: the rows leave
/// the queue with their head's final claim state.
pub(super) const SETTLE: &str = "UPDATE outbox SET state = j.value ->> 2,
            sent_at = CASE WHEN j.value ->> 2 = 1 THEN ?2 ELSE sent_at END,
            message_ids = COALESCE(j.value ->> 3, message_ids), error = j.value ->> 4,
            attempts = h.attempts, first_attempt_at = h.first_attempt_at,
            last_attempt_at = h.last_attempt_at,
            uncertain = CASE WHEN j.value ->> 2 = 1 THEN 0 ELSE h.uncertain END,
            inflight = 0
       FROM json_each(?1) AS j JOIN outbox_heads AS h ON h.conversation = j.value ->> 1
      WHERE outbox.seq = j.value ->> 0";
