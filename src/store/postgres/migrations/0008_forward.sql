-- Switchboard engine schema for PostgreSQL, version 8: the gateway's forwarding queues (issue
-- 14), the model of the SQLite store's version 8 (src/store/migrations/0008_forward.sql).
-- States: 0 pending, 1 delivered (body dropped, kept for dedupe until pruned), 2 dead (kept
-- until replayed). The first pending row of each (endpoint, conversation) is its head; writes
-- to one queue serialize on a transaction-scoped advisory lock of (endpoint, conversation), and
-- claims lock ready heads with FOR UPDATE SKIP LOCKED. A disabled endpoint's heads have
-- ready_at = i64::MAX.
CREATE SEQUENCE forwards_seq;

CREATE TABLE forwards (
    seq          BIGINT  PRIMARY KEY DEFAULT nextval('forwards_seq'),
    endpoint     TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    state        SMALLINT NOT NULL DEFAULT 0,
    head         BOOLEAN NOT NULL DEFAULT FALSE,
    ready_at     BIGINT  NOT NULL DEFAULT 0,
    lease_until  BIGINT  NOT NULL DEFAULT 0,
    token        BIGINT  NOT NULL DEFAULT 0,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    error        TEXT,
    done_at      BIGINT
);
CREATE UNIQUE INDEX forwards_key ON forwards (endpoint, event_id);
CREATE INDEX forwards_queue ON forwards (endpoint, conversation, seq) WHERE state = 0;
CREATE INDEX forwards_ready ON forwards (ready_at, seq) WHERE head;
CREATE INDEX forwards_delivered ON forwards (done_at) WHERE state = 1;
CREATE INDEX forwards_dead ON forwards (endpoint, seq) WHERE state = 2;

CREATE TABLE forward_endpoints (
    name       TEXT   PRIMARY KEY,
    disabled   TEXT,
    changed_at BIGINT NOT NULL
);
