//! What providers report about our sends: keyed send proofs, delivery receipts and watermarks.

/// The rows that became the messages `?2` (a JSON array of ids) on channel `?1`.
pub(super) const DELIVERED: &str = "SELECT DISTINCT o.seq, o.delivery FROM json_each(?2) AS j
       CROSS JOIN sent_messages AS s ON s.channel = ?1 AND s.message_id = j.value
       JOIN outbox AS o ON o.seq = s.outbox_seq";

/// Status `?1` on the rows `?2` (a JSON array of seqs).
pub(super) const SET_DELIVERY: &str =
    "UPDATE outbox SET delivery = ?1 WHERE seq IN (SELECT value FROM json_each(?2))";
