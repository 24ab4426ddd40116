//! Outbox rows: inserting (handler replies, application sends), claiming heads, reading a
//! row's status.

/// `$1` keys, `$2` channels, `$3` conversations, `$4` targets, `$5` messages at `$6`, in
/// order; returns the seqs.
pub(super) const INSERT_ROWS: &str =
    "INSERT INTO outbox (key, channel, conversation, target, message, created_at)
     SELECT r.key, r.channel, r.conversation, r.target, r.message, $6
       FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
            AS r(key, channel, conversation, target, message, i)
      ORDER BY r.i
     RETURNING seq, conversation, key";

/// `$1` conversations (sorted), `$2` each one's first new row: the row becomes the
/// conversation's head unless it has one (see the inbox's `INSERT_HEADS` for the lock).
pub(super) const INSERT_HEADS: &str = "INSERT INTO outbox_heads (conversation, seq)
     SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (conversation) DO UPDATE SET seq = outbox_heads.seq";

/// What the keys `$1` hold.
pub(super) const HELD: &str = "SELECT key, target, message FROM outbox WHERE key = ANY($1)";

/// Leases up to `$4` ready heads until `$2` with token `$3` (see the inbox's claim), and returns
/// their rows with each conversation's policy facts (`last_inbound_at`, the opt-outs in force as
/// `[[scope, keyword, at], …]`, `NULL` for none), so the sender's check reads nothing more. In SET,
/// `inflight` on the right is the old value: a claim that finds it set knows the previous
/// claim never recorded an outcome, and one that finds 2 that a send had begun.
pub(super) const CLAIM: &str = "WITH due AS (
       SELECT conversation FROM outbox_heads WHERE ready_at > 0 AND ready_at <= $1
        ORDER BY ready_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED),
     fresh AS (
       SELECT conversation FROM outbox_heads WHERE ready_at = 0
        ORDER BY seq LIMIT GREATEST($4 - (SELECT count(*) FROM due), 0) FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE outbox_heads AS h SET token = $3, ready_at = $2, attempts = h.attempts + 1,
              interrupted = h.inflight <> 0, uncertain = (h.uncertain OR h.inflight = 2),
              inflight = 1
         FROM (SELECT conversation FROM due UNION ALL SELECT conversation FROM fresh) AS p
        WHERE h.conversation = p.conversation
       RETURNING h.seq, h.attempts, h.interrupted, h.uncertain, h.first_attempt_at,
                 h.last_attempt_at)
     SELECT c.*, o.key, o.target, o.message, k.last_inbound_at,
            (SELECT json_agg(json_build_array(n.scope, n.keyword, n.at))::text FROM consent AS n
              WHERE n.conversation = o.conversation AND n.opted_out) AS opted_out
       FROM claimed AS c JOIN outbox AS o ON o.seq = c.seq
       LEFT JOIN contacts AS k ON k.conversation = o.conversation
      ORDER BY c.seq";
