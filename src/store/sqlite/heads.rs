//! The heads of both queues: moving a finished head to its conversation's next pending row
//! (or removing it), renewing leases, releasing the leases of a dead engine at start-up.

/// `[conversation, …]` whose head row was handled or dead-lettered: the next pending row
/// becomes the head, ready at once.
pub(super) const ADVANCE_INBOX: &str =
    "UPDATE inbox_heads SET seq = n.next, ready_at = 0, token = 0, attempts = 0, error = NULL
       FROM (SELECT c.value AS conversation,
                    (SELECT seq FROM inbox WHERE conversation = c.value AND state = 0
                      ORDER BY seq LIMIT 1) AS next
               FROM json_each(?1) AS c) AS n
      WHERE inbox_heads.conversation = n.conversation AND n.next IS NOT NULL";

/// `[conversation, …]` left without pending rows lose their head.
pub(super) const DROP_INBOX: &str =
    "DELETE FROM inbox_heads WHERE conversation IN (SELECT value FROM json_each(?1))
        AND NOT EXISTS (SELECT 1 FROM inbox
                         WHERE inbox.conversation = inbox_heads.conversation AND state = 0)";

/// Like [`ADVANCE_INBOX`] for the outbox, whose sent rows also stay in the table.
pub(super) const ADVANCE_OUTBOX: &str =
    "UPDATE outbox_heads SET seq = n.next, ready_at = 0, token = 0, attempts = 0, error = NULL,
                             inflight = 0, interrupted = 0, uncertain = 0,
                             first_attempt_at = NULL, last_attempt_at = NULL
       FROM (SELECT c.value AS conversation,
                    (SELECT seq FROM outbox WHERE conversation = c.value AND state = 0
                      ORDER BY seq LIMIT 1) AS next
               FROM json_each(?1) AS c) AS n
      WHERE outbox_heads.conversation = n.conversation AND n.next IS NOT NULL";

/// Like [`DROP_INBOX`] for the outbox.
pub(super) const DROP_OUTBOX: &str =
    "DELETE FROM outbox_heads WHERE conversation IN (SELECT value FROM json_each(?1))
        AND NOT EXISTS (SELECT 1 FROM outbox
                         WHERE outbox.conversation = outbox_heads.conversation AND state = 0)";

/// `[[seq, token], …]`: held inbox leases run until `?2`; returns the leases renewed.
pub(super) const RENEW_INBOX: &str = "UPDATE inbox_heads SET ready_at = ?2
       FROM (SELECT j.value ->> 0 AS seq, j.value ->> 1 AS token, i.conversation
               FROM json_each(?1) AS j JOIN inbox AS i ON i.seq = j.value ->> 0) AS l
      WHERE inbox_heads.conversation = l.conversation AND inbox_heads.seq = l.seq
        AND inbox_heads.token = l.token
      RETURNING inbox_heads.seq, inbox_heads.token";

/// Like [`RENEW_INBOX`] for the outbox.
pub(super) const RENEW_OUTBOX: &str = "UPDATE outbox_heads SET ready_at = ?2
       FROM (SELECT j.value ->> 0 AS seq, j.value ->> 1 AS token, o.conversation
               FROM json_each(?1) AS j JOIN outbox AS o ON o.seq = j.value ->> 0) AS l
      WHERE outbox_heads.conversation = l.conversation AND outbox_heads.seq = l.seq
        AND outbox_heads.token = l.token
      RETURNING outbox_heads.seq, outbox_heads.token";

/// Leases still running at `?1` are released (ready at once); expired ones are already ready.
pub(super) const RELEASE_INBOX: &str =
    "UPDATE inbox_heads SET ready_at = 0, token = 0 WHERE ready_at > ?1 AND token != 0";

/// Like [`RELEASE_INBOX`] for the outbox; `inflight` stays, so the next claim knows the row
/// was interrupted (and uncertain, if a send had begun).
pub(super) const RELEASE_OUTBOX: &str =
    "UPDATE outbox_heads SET ready_at = 0, token = 0 WHERE ready_at > ?1 AND token != 0";

/// Like [`RELEASE_INBOX`] for the gateway's forwarding queues: a head whose delivery was in
/// flight (its `ready_at` is its lease) is ready at once, so a restart after a crash delivers
/// it again without waiting out the lease (the endpoint's timeout + 30 s). A head of a
/// disabled endpoint (`ready_at` at the maximum) stays as it is.
pub(super) const RELEASE_FORWARDS: &str = "UPDATE forwards SET ready_at = ?1, token = 0 \
     WHERE head = 1 AND state = 0 AND token != 0 AND ready_at > ?1 AND ready_at = lease_until";
