//! The heads of both queues: moving a finished head to its conversation's next pending row
//! (or removing it), renewing leases.

/// `$1` conversations whose head row was handled or dead-lettered: the next pending row
/// becomes the head, ready at once.
pub(super) const ADVANCE_INBOX: &str =
    "UPDATE inbox_heads SET seq = n.next, ready_at = 0, token = 0, attempts = 0, error = NULL
       FROM (SELECT c.conversation,
                    (SELECT seq FROM inbox WHERE conversation = c.conversation AND state = 0
                      ORDER BY seq LIMIT 1) AS next
               FROM UNNEST($1::text[]) AS c(conversation)) AS n
      WHERE inbox_heads.conversation = n.conversation AND n.next IS NOT NULL";

/// `$1` conversations left without pending rows lose their head.
pub(super) const DROP_INBOX: &str = "DELETE FROM inbox_heads WHERE conversation = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM inbox
                         WHERE inbox.conversation = inbox_heads.conversation AND state = 0)";

/// Like [`ADVANCE_INBOX`] for the outbox, whose sent rows also stay in the table.
pub(super) const ADVANCE_OUTBOX: &str =
    "UPDATE outbox_heads SET seq = n.next, ready_at = 0, token = 0, attempts = 0, error = NULL,
                             inflight = 0, interrupted = false, uncertain = false,
                             first_attempt_at = NULL, last_attempt_at = NULL
       FROM (SELECT c.conversation,
                    (SELECT seq FROM outbox WHERE conversation = c.conversation AND state = 0
                      ORDER BY seq LIMIT 1) AS next
               FROM UNNEST($1::text[]) AS c(conversation)) AS n
      WHERE outbox_heads.conversation = n.conversation AND n.next IS NOT NULL";

/// Like [`DROP_INBOX`] for the outbox.
pub(super) const DROP_OUTBOX: &str = "DELETE FROM outbox_heads WHERE conversation = ANY($1)
        AND NOT EXISTS (SELECT 1 FROM outbox
                         WHERE outbox.conversation = outbox_heads.conversation AND state = 0)";

/// `$1` seqs, `$2` tokens: held inbox leases run until `$3`; returns the leases renewed.
pub(super) const RENEW_INBOX: &str = "UPDATE inbox_heads SET ready_at = $3
       FROM (SELECT l.seq, l.token, i.conversation
               FROM UNNEST($1::bigint[], $2::bigint[]) AS l(seq, token)
               JOIN inbox AS i ON i.seq = l.seq) AS l
      WHERE inbox_heads.conversation = l.conversation AND inbox_heads.seq = l.seq
        AND inbox_heads.token = l.token
      RETURNING inbox_heads.seq, inbox_heads.token";

/// Like [`RENEW_INBOX`] for the outbox.
pub(super) const RENEW_OUTBOX: &str = "UPDATE outbox_heads SET ready_at = $3
       FROM (SELECT l.seq, l.token, o.conversation
               FROM UNNEST($1::bigint[], $2::bigint[]) AS l(seq, token)
               JOIN outbox AS o ON o.seq = l.seq) AS l
      WHERE outbox_heads.conversation = l.conversation AND outbox_heads.seq = l.seq
        AND outbox_heads.token = l.token
      RETURNING outbox_heads.seq, outbox_heads.token";
