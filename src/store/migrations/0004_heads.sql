-- Switchboard engine schema, version 4: claims whose cost does not depend on the backlog or
-- on the rows retained (issue 11).
--
-- Each queue (inbox, outbox) gets a table of conversation *heads*: one row per conversation
-- with pending rows, holding its lowest pending row and that row's claim state. `ready_at` is
-- 0 for a head ready at once (served in sequence order), else the time it becomes ready (a
-- retry's due time, a lease's end); a claim is a range scan of `ready_at` (LIMIT n). The rows
-- behind a head are found through a (conversation, seq) index when it finishes.
--
-- Handled events leave the inbox: their dedupe keys move to `inbox_keys` (kept for the
-- retention); the inbox keeps pending rows (state 0) and dead letters (state 2, with their
-- error and attempts), and the (conversation, seq) index covers pending rows only. Sent
-- outbox rows stay in `outbox` (status,
-- receipts, watermarks find them) but out of every claim's path; the claim state of a pending
-- row lives on its head (the row's own columns hold the final values once sent or dead, and
-- available_at, lease_until, token, inflight, interrupted of `outbox` are unused from v4 on).

-- The old inbox's indexes go with it (their names are reused below).
DROP INDEX inbox_pending;
DROP INDEX inbox_dead;
DROP INDEX inbox_done;

CREATE TABLE inbox_keys (
    channel     TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (channel, event_id)
) WITHOUT ROWID;
INSERT INTO inbox_keys (channel, event_id, seq, received_at)
    SELECT channel, event_id, seq, received_at FROM inbox;
CREATE INDEX inbox_keys_age ON inbox_keys (received_at);

CREATE TABLE inbox_heads (
    conversation TEXT    PRIMARY KEY,
    seq          INTEGER NOT NULL,
    ready_at     INTEGER NOT NULL DEFAULT 0,
    token        INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT
) WITHOUT ROWID;
INSERT INTO inbox_heads (conversation, seq, ready_at, token, attempts, error)
    SELECT conversation, seq, MAX(available_at, lease_until), token, attempts, error
      FROM inbox
     WHERE seq IN (SELECT MIN(seq) FROM inbox WHERE state = 0 GROUP BY conversation);
CREATE INDEX inbox_heads_ready ON inbox_heads (ready_at, seq);

-- The inbox keeps pending rows and dead letters.
CREATE TABLE inbox_v4 (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO inbox_v4 (seq, conversation, channel, event_id, event, received_at, state, error,
                      attempts)
    SELECT seq, conversation, channel, event_id, event, received_at, state, error, attempts
      FROM inbox WHERE state IN (0, 2);
DROP TABLE inbox;
ALTER TABLE inbox_v4 RENAME TO inbox;
CREATE INDEX inbox_pending ON inbox (conversation, seq) WHERE state = 0;
CREATE INDEX inbox_dead ON inbox (seq) WHERE state = 2;
-- Sequence numbers are never reused (dedupe keys and dead letters name them).
DELETE FROM sqlite_sequence WHERE name = 'inbox';
INSERT INTO sqlite_sequence (name, seq) SELECT 'inbox', COALESCE(MAX(seq), 0) FROM inbox_keys;

CREATE TABLE outbox_heads (
    conversation     TEXT    PRIMARY KEY,
    seq              INTEGER NOT NULL,
    ready_at         INTEGER NOT NULL DEFAULT 0,
    token            INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    inflight         INTEGER NOT NULL DEFAULT 0,
    interrupted      INTEGER NOT NULL DEFAULT 0,
    uncertain        INTEGER NOT NULL DEFAULT 0,
    first_attempt_at INTEGER,
    last_attempt_at  INTEGER
) WITHOUT ROWID;
INSERT INTO outbox_heads (conversation, seq, ready_at, token, attempts, error, inflight,
                          interrupted, uncertain, first_attempt_at, last_attempt_at)
    SELECT conversation, seq, MAX(available_at, lease_until), token, attempts, error, inflight,
           interrupted, uncertain, first_attempt_at, last_attempt_at
      FROM outbox
     WHERE seq IN (SELECT MIN(seq) FROM outbox WHERE state = 0 GROUP BY conversation);
CREATE INDEX outbox_heads_ready ON outbox_heads (ready_at, seq);
CREATE INDEX outbox_sent_age ON outbox (sent_at) WHERE state = 1;
