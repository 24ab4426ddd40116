//! Inbox rows: dedupe and insert, claiming heads, finishing them (handled with their replies
//! and state, retried, dead-lettered). Every statement is set-based over arrays (`UNNEST`).

/// `$1` channels, `$2` event ids, `$3` received at (in arrival order): each gets the next
/// sequence number in that order; new keys are inserted (in key order, so that two instances
/// inserting the same keys never deadlock), taken ones skipped. Returns the new keys' seqs.
pub(super) const INSERT_KEYS: &str = "WITH k AS MATERIALIZED (
       SELECT k.channel, k.event_id, k.received_at, nextval('inbox_seq') AS seq
         FROM UNNEST($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY
              AS k(channel, event_id, received_at, i)
        ORDER BY k.i)
     INSERT INTO inbox_keys (channel, event_id, seq, received_at)
     SELECT channel, event_id, seq, received_at FROM k ORDER BY channel, event_id
     ON CONFLICT (channel, event_id) DO NOTHING
     RETURNING channel, event_id, seq";

/// `$1` seqs, `$2` conversations, `$3` channels, `$4` event ids, `$5` events, `$6` received at.
pub(super) const INSERT_ROWS: &str =
    "INSERT INTO inbox (seq, conversation, channel, event_id, event, received_at)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::bigint[])";

/// `$1` conversations (sorted), `$2` each one's first new row: the row becomes the
/// conversation's head unless it has one. The no-op update of an existing head locks it, so an
/// insert waits for a finish of the same head in another transaction (which may delete the
/// head, seeing no next row yet): then the insert makes a new head, and no row is left without.
pub(super) const INSERT_HEADS: &str = "INSERT INTO inbox_heads (conversation, seq)
     SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (conversation) DO UPDATE SET seq = inbox_heads.seq";

/// Leases up to `$4` ready heads until `$2` with token `$3`: those whose time came (`ready_at`
/// in (0, `$1`]) first by time, then those ready at once (`ready_at = 0`) by sequence. Heads
/// another transaction holds are skipped. Returns each with its event and live options.
pub(super) const CLAIM: &str = "WITH due AS (
       SELECT conversation FROM inbox_heads WHERE ready_at > 0 AND ready_at <= $1
        ORDER BY ready_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED),
     fresh AS (
       SELECT conversation FROM inbox_heads WHERE ready_at = 0
        ORDER BY seq LIMIT GREATEST($4 - (SELECT count(*) FROM due), 0) FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE inbox_heads AS h SET token = $3, ready_at = $2, attempts = h.attempts + 1
         FROM (SELECT conversation FROM due UNION ALL SELECT conversation FROM fresh) AS p
        WHERE h.conversation = p.conversation
       RETURNING h.seq, h.attempts, h.conversation)
     SELECT c.seq, c.attempts, i.event, o.options
       FROM claimed AS c JOIN inbox AS i ON i.seq = c.seq
       LEFT JOIN degraded_options AS o ON o.conversation = c.conversation AND o.expires_at > $1
      ORDER BY c.seq";

/// `$1` seqs, `$2` tokens → the positions (`pos`, from 0) whose lease holds, with
/// conversation and channel;
/// their heads are locked (in conversation order) until the commit.
pub(super) const LEASED: &str = "SELECT l.i - 1 AS pos, h.conversation, r.channel
       FROM UNNEST($1::bigint[], $2::bigint[]) WITH ORDINALITY AS l(seq, token, i)
       JOIN inbox AS r ON r.seq = l.seq AND r.state = 0
       JOIN inbox_heads AS h ON h.conversation = r.conversation AND h.seq = l.seq
                            AND h.token = l.token
      ORDER BY h.conversation FOR UPDATE OF h";

/// `$1` seqs, `$2` errors, `$3` conversations: the rows become dead letters (they stay in the
/// inbox, out of every claim's path) with their head's attempts.
pub(super) const BURY: &str = "UPDATE inbox SET state = 2, error = d.error, attempts = h.attempts
       FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS d(seq, error, conversation)
       JOIN inbox_heads AS h ON h.conversation = d.conversation
      WHERE inbox.seq = d.seq";

/// `$1` seqs: the handled rows leave the inbox.
pub(super) const DELETE: &str = "DELETE FROM inbox WHERE seq = ANY($1)";

/// `$1` conversations, `$2` times, `$3` errors: the heads are released until then.
pub(super) const RETRY: &str = "UPDATE inbox_heads SET ready_at = r.at, token = 0, error = r.error
       FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS r(conversation, at, error)
      WHERE inbox_heads.conversation = r.conversation";

/// The outbox keys of `$1` already taken.
pub(super) const TAKEN: &str = "SELECT key FROM outbox WHERE key = ANY($1)";
