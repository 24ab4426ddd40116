//! Outbox rows: inserting (handler replies, application sends), claiming heads, reading a
//! row's status.

/// `[[key, channel, conversation, target, message], …]` at `?2`, in order; returns the seqs.
pub(super) const INSERT_ROWS: &str =
    "INSERT INTO outbox (key, channel, conversation, target, message, created_at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, ?2
       FROM json_each(?1) AS j WHERE true ORDER BY j.key
     RETURNING seq, conversation, key";

/// `[[conversation, seq], …]` (each conversation's first new row): the row becomes the
/// conversation's head unless it has one.
pub(super) const INSERT_HEADS: &str = "INSERT INTO outbox_heads (conversation, seq)
     SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j WHERE true
     ON CONFLICT (conversation) DO NOTHING";

/// What the keys `?1` (a JSON array) hold.
pub(super) const HELD: &str =
    "SELECT key, target, message FROM outbox WHERE key IN (SELECT value FROM json_each(?1))";

/// Leases up to `?4` ready heads until `?2` with token `?3` (see the inbox's claim, also for
/// why the limit is `?4 + 0`). In SET,
/// `inflight` on the right is the old value: a claim that finds it set knows the previous
/// claim never recorded an outcome, and one that finds 2 that a send had begun.
pub(super) const CLAIM: &str =
    "UPDATE outbox_heads SET token = ?3, ready_at = ?2, attempts = attempts + 1,
                             interrupted = inflight != 0,
                             uncertain = (uncertain != 0 OR inflight = 2), inflight = 1
     WHERE conversation IN (
       SELECT conversation FROM (SELECT conversation FROM outbox_heads
                                  WHERE ready_at > 0 AND ready_at <= ?1 ORDER BY ready_at, seq LIMIT ?4 + 0)
       UNION ALL
       SELECT conversation FROM (SELECT conversation FROM outbox_heads
                                  WHERE ready_at = 0 ORDER BY seq LIMIT ?4 + 0)
       LIMIT ?4 + 0)
     RETURNING seq, attempts, interrupted, uncertain, first_attempt_at, last_attempt_at";

/// The rows `?1` (a JSON array of seqs), each with its conversation's policy facts (the
/// sender's check reads nothing more): `last_inbound_at` and the opt-outs in force,
/// `[[scope, keyword, at], …]` (primary-key lookups, like `Store::contact`'s).
pub(super) const ROWS: &str = "SELECT o.seq, o.key, o.target, o.message, c.last_inbound_at,
            (SELECT json_group_array(json_array(k.scope, k.keyword, k.at)) FROM consent AS k
              WHERE k.conversation = o.conversation AND k.opted_out) AS opted_out
       FROM outbox AS o LEFT JOIN contacts AS c ON c.conversation = o.conversation
      WHERE o.seq IN (SELECT value FROM json_each(?1))";
