//! What providers report about our sends: keyed send proofs, delivery receipts and watermarks.

/// The rows that became the messages `$2` on channel `$1`.
pub(super) const DELIVERED: &str = "SELECT DISTINCT o.seq, o.delivery
       FROM sent_messages AS s JOIN outbox AS o ON o.seq = s.outbox_seq
      WHERE s.channel = $1 AND s.message_id = ANY($2)";

/// Status `$1` on the rows `$2`.
pub(super) const SET_DELIVERY: &str = "UPDATE outbox SET delivery = $1 WHERE seq = ANY($2)";
