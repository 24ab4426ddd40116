-- Switchboard engine schema, version 8: the gateway's forwarding queues (issue 14).
--
-- One row per (endpoint, event): pending (state 0), delivered (1, its body dropped, kept for
-- deduplication until pruned) or dead (2, kept until replayed). The first pending row of each
-- (endpoint, conversation) is its head (head = 1); a claim is a range scan of the heads'
-- `ready_at` index (LIMIT n). A head of a disabled endpoint has ready_at = i64::MAX, so claims
-- never reach it; enabling the endpoint makes its heads ready again.
CREATE TABLE forwards (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint     TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    head         INTEGER NOT NULL DEFAULT 0,
    ready_at     INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    token        INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    done_at      INTEGER
);
CREATE UNIQUE INDEX forwards_key ON forwards (endpoint, event_id);
CREATE INDEX forwards_queue ON forwards (endpoint, conversation, seq) WHERE state = 0;
CREATE INDEX forwards_ready ON forwards (ready_at, seq) WHERE head = 1;
CREATE INDEX forwards_delivered ON forwards (done_at) WHERE state = 1;
CREATE INDEX forwards_dead ON forwards (endpoint, seq) WHERE state = 2;

CREATE TABLE forward_endpoints (
    name       TEXT    PRIMARY KEY,
    disabled   TEXT,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;
