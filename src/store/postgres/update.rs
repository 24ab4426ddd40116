//! Changes to claimed outbox rows, merged across callers: attempts, parts sent, releases
//! (retry, retry uncertain, defer, reconcile later), sent, dead letters.

/// `$1` seqs, `$2` tokens → the positions (`pos`, from 0) whose lease holds, with conversation and
/// channel; their heads are locked (in conversation order) until the commit.
pub(super) const LEASED: &str = "SELECT l.i - 1 AS pos, o.conversation, o.channel
       FROM UNNEST($1::bigint[], $2::bigint[]) WITH ORDINALITY AS l(seq, token, i)
       JOIN outbox AS o ON o.seq = l.seq AND o.state = 0
       JOIN outbox_heads AS h ON h.conversation = o.conversation AND h.seq = o.seq
                             AND h.token = l.token
      ORDER BY h.conversation FOR UPDATE OF h";

/// `$1` conversations, `$2` times: a send begins (durable before the request goes out).
pub(super) const ATTEMPT: &str = "UPDATE outbox_heads SET inflight = 2, uncertain = false,
            first_attempt_at = COALESCE(outbox_heads.first_attempt_at, a.at), last_attempt_at = a.at
       FROM UNNEST($1::text[], $2::bigint[]) AS a(conversation, at)
      WHERE outbox_heads.conversation = a.conversation";

/// `$1` seqs, `$2` message ids (JSON): the provider ids of the parts sent so far.
pub(super) const MESSAGE_IDS: &str = "UPDATE outbox SET message_ids = m.ids
       FROM UNNEST($1::bigint[], $2::text[]) AS m(seq, ids) WHERE outbox.seq = m.seq";

/// `$1` channels, `$2` message ids, `$3` seqs: receipts for those ids find the row.
pub(super) const MAP_IDS: &str = "INSERT INTO sent_messages (channel, message_id, outbox_seq)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
     ON CONFLICT (channel, message_id) DO UPDATE SET outbox_seq = excluded.outbox_seq";

/// `$1` conversations, `$2` why, `$3` when, `$4` uncounted (0|1), `$5` uncertain: released
/// heads.
pub(super) const RELEASE: &str = "UPDATE outbox_heads SET error = r.why, ready_at = r.at,
            token = 0, inflight = 0, attempts = GREATEST(outbox_heads.attempts - r.uncounted, 0),
            uncertain = (outbox_heads.uncertain OR r.uncertain)
       FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[])
            AS r(conversation, why, at, uncounted, uncertain)
      WHERE outbox_heads.conversation = r.conversation";

/// `$1` seqs, `$2` conversations, `$3` states (1|2), `$4` message ids (JSON), `$5` errors at
/// `$6`: the rows leave the queue with their head's final claim state.
pub(super) const SETTLE: &str = "UPDATE outbox SET state = s.state,
            sent_at = CASE WHEN s.state = 1 THEN $6 ELSE outbox.sent_at END,
            message_ids = COALESCE(s.ids, outbox.message_ids), error = s.error,
            attempts = h.attempts, first_attempt_at = h.first_attempt_at,
            last_attempt_at = h.last_attempt_at,
            uncertain = CASE WHEN s.state = 1 THEN false ELSE h.uncertain END
       FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[])
            AS s(seq, conversation, state, ids, error)
       JOIN outbox_heads AS h ON h.conversation = s.conversation
      WHERE outbox.seq = s.seq";
