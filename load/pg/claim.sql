-- One pgbench transaction = the physical limit of the PostgreSQL store's drain: claim up to
-- :batch ready conversation heads with FOR UPDATE SKIP LOCKED, delete their rows (handled) and
-- move each head to its conversation's next row (parked at ready_at = -1 when none is left),
-- in one commit. Events/s = transactions/s × :batch while the backlog lasts. See
-- load/README.md ("PostgreSQL") for the command.
\set batch 64
WITH c AS (
    SELECT conversation, seq FROM pgb_heads WHERE ready_at = 0
     ORDER BY seq LIMIT :batch FOR UPDATE SKIP LOCKED),
d AS (
    DELETE FROM pgb_inbox AS i USING c WHERE i.seq = c.seq RETURNING i.seq)
UPDATE pgb_heads AS h
   SET seq = COALESCE(n.next, h.seq),
       ready_at = CASE WHEN n.next IS NULL THEN -1 ELSE 0 END
  FROM (SELECT c.conversation,
               (SELECT i.seq FROM pgb_inbox AS i
                 WHERE i.conversation = c.conversation AND i.seq > c.seq
                 ORDER BY i.seq LIMIT 1) AS next
          FROM c) AS n
 WHERE h.conversation = n.conversation;
