-- Switchboard engine schema, version 1. States: 0 pending, 1 done/sent, 2 dead.
CREATE TABLE inbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel      TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    token        INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    received_at  INTEGER NOT NULL,
    UNIQUE (channel, event_id)
);
CREATE INDEX inbox_pending ON inbox (conversation, seq) WHERE state = 0;
CREATE INDEX inbox_dead ON inbox (seq) WHERE state = 2;

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT    NOT NULL UNIQUE,
    channel      TEXT    NOT NULL,
    conversation TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    token        INTEGER NOT NULL DEFAULT 0,
    inflight     INTEGER NOT NULL DEFAULT 0,
    interrupted  INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    message_ids  TEXT,
    delivery     TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (conversation, seq) WHERE state = 0;
CREATE INDEX outbox_dead ON outbox (seq) WHERE state = 2;

CREATE TABLE sent_messages (
    channel    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    outbox_seq INTEGER NOT NULL,
    PRIMARY KEY (channel, message_id)
);

CREATE TABLE conversation_state (
    conversation TEXT    PRIMARY KEY,
    value        TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE degraded_options (
    conversation TEXT    PRIMARY KEY,
    options      TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL
);
