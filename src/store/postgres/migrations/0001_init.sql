-- Switchboard engine schema for PostgreSQL, version 1: the model of the SQLite store's
-- version 4 (see src/store/migrations/0004_heads.sql). States: 0 pending, 1 done/sent, 2 dead.
-- Times are wall-clock milliseconds; events, messages and options are JSON text.
--
-- Each queue is a table of rows plus a table of conversation *heads* (one per conversation
-- with pending rows: its lowest pending row and that row's claim state). `ready_at` is 0 for a
-- head ready at once (served in sequence order), else when it becomes ready (a retry's due
-- time, a lease's end). A claim locks ready heads with FOR UPDATE SKIP LOCKED through the
-- `*_heads_ready` index, so instances claiming together never wait on each other.

CREATE SEQUENCE inbox_seq;

-- Dedupe keys: every event stored, until pruned (handled ones after the retention).
CREATE TABLE inbox_keys (
    channel     TEXT   NOT NULL,
    event_id    TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (channel, event_id)
);
CREATE INDEX inbox_keys_age ON inbox_keys (received_at);

-- Pending events (state 0) and dead letters (state 2); handled events leave.
CREATE TABLE inbox (
    seq          BIGINT PRIMARY KEY,
    conversation TEXT   NOT NULL,
    channel      TEXT   NOT NULL,
    event_id     TEXT   NOT NULL,
    event        TEXT   NOT NULL,
    received_at  BIGINT NOT NULL,
    state        BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX inbox_pending ON inbox (conversation, seq) WHERE state = 0;
CREATE INDEX inbox_dead ON inbox (seq) WHERE state = 2;

CREATE TABLE inbox_heads (
    conversation TEXT   PRIMARY KEY,
    seq          BIGINT NOT NULL,
    ready_at     BIGINT NOT NULL DEFAULT 0,
    token        BIGINT NOT NULL DEFAULT 0,
    attempts     BIGINT NOT NULL DEFAULT 0,
    error        TEXT
);
CREATE INDEX inbox_heads_ready ON inbox_heads (ready_at, seq);

-- Outbound messages: pending, sent (kept for status and receipts until pruned) and dead. The
-- claim state of a pending row lives on its head; the row holds the final values.
CREATE TABLE outbox (
    seq              BIGSERIAL PRIMARY KEY,
    key              TEXT    NOT NULL UNIQUE,
    channel          TEXT    NOT NULL,
    conversation     TEXT    NOT NULL,
    target           TEXT    NOT NULL,
    message          TEXT    NOT NULL,
    state            BIGINT  NOT NULL DEFAULT 0,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    error            TEXT,
    message_ids      TEXT,
    delivery         TEXT,
    created_at       BIGINT  NOT NULL,
    sent_at          BIGINT,
    first_attempt_at BIGINT,
    last_attempt_at  BIGINT,
    uncertain        BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX outbox_pending ON outbox (conversation, seq) WHERE state = 0;
CREATE INDEX outbox_dead ON outbox (seq) WHERE state = 2;
CREATE INDEX outbox_sent ON outbox (conversation, sent_at) WHERE state = 1;
CREATE INDEX outbox_sent_age ON outbox (sent_at) WHERE state = 1;

-- `inflight`: how far the current claim got (0 none, 1 claimed, 2 a send began).
CREATE TABLE outbox_heads (
    conversation     TEXT    PRIMARY KEY,
    seq              BIGINT  NOT NULL,
    ready_at         BIGINT  NOT NULL DEFAULT 0,
    token            BIGINT  NOT NULL DEFAULT 0,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    error            TEXT,
    inflight         BIGINT  NOT NULL DEFAULT 0,
    interrupted      BOOLEAN NOT NULL DEFAULT false,
    uncertain        BOOLEAN NOT NULL DEFAULT false,
    first_attempt_at BIGINT,
    last_attempt_at  BIGINT
);
CREATE INDEX outbox_heads_ready ON outbox_heads (ready_at, seq);

CREATE TABLE sent_messages (
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    outbox_seq BIGINT NOT NULL,
    PRIMARY KEY (channel, message_id)
);
CREATE INDEX sent_messages_outbox ON sent_messages (outbox_seq);

CREATE TABLE outbox_proofs (
    key        TEXT   NOT NULL,
    part       BIGINT NOT NULL,
    parts      BIGINT NOT NULL,
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    proven_at  BIGINT NOT NULL,
    PRIMARY KEY (key, part)
);
CREATE INDEX outbox_proofs_age ON outbox_proofs (proven_at);

CREATE TABLE conversation_state (
    conversation TEXT   PRIMARY KEY,
    value        TEXT   NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE degraded_options (
    conversation TEXT   PRIMARY KEY,
    options      TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX degraded_options_expiry ON degraded_options (expires_at);
