//! Delivery receipts that arrived before their send was recorded (`pending_receipts`, schema
//! version 5): the SQLite statements. The writer serializes every write, so a receipt and the
//! send it names never race here (no lock is needed).

/// Keeps status `?3` received at `?4` for each id of `?2` (a JSON array) on channel `?1` that
/// no sent row has recorded.
pub(super) const KEEP: &str =
    "INSERT INTO pending_receipts (channel, message_id, status, received_at)
     SELECT ?1, j.value, ?3, ?4 FROM json_each(?2) AS j
      WHERE NOT EXISTS (SELECT 1 FROM sent_messages AS s
                         WHERE s.channel = ?1 AND s.message_id = j.value)
     ON CONFLICT (channel, message_id, status) DO NOTHING";

/// `[[channel, message id, seq], …]` just recorded → the statuses kept for them (`seq`,
/// `status`) with the row's `delivery`.
pub(super) const KEPT: &str = "SELECT j.value ->> 2 AS seq, p.status, o.delivery
       FROM json_each(?1) AS j
       JOIN pending_receipts AS p ON p.channel = j.value ->> 0 AND p.message_id = j.value ->> 1
       JOIN outbox AS o ON o.seq = j.value ->> 2";

/// Drops the receipts kept for `[[channel, message id, seq], …]`.
pub(super) const DROP: &str = "DELETE FROM pending_receipts
      WHERE (channel, message_id) IN (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j)";

/// Receipts received before `?1` whose send never came, a chunk of `?2`.
pub(super) const PRUNE: &str =
    "DELETE FROM pending_receipts WHERE (channel, message_id, status) IN (
       SELECT channel, message_id, status FROM pending_receipts WHERE received_at < ?1
        ORDER BY received_at LIMIT ?2)";
