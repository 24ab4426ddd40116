-- Switchboard engine schema for PostgreSQL, version 5 (issue 15): the model of the SQLite
-- store's version 5 (see src/store/migrations/0005_hardening.sql).
--
-- Delivery receipts that arrive before their send is recorded: kept per (channel, provider
-- message id, status), applied to the outbox row when a send records that id, pruned with the
-- retention. A receipt and the send it names may be written by two instances at once; both
-- take a transaction-scoped advisory lock per (channel, message id) (the send shared, the
-- receipt exclusive), so one always sees the other's committed rows.
CREATE TABLE pending_receipts (
    channel     TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (channel, message_id, status)
);
CREATE INDEX pending_receipts_age ON pending_receipts (received_at);

-- Byte attachments of outbox messages, out of the rows (see src/store/media.rs): the row's
-- message JSON keeps each one's SHA-256, the bytes live here (BYTEA, no encoding) until the
-- row is sent (dead rows keep theirs).
CREATE TABLE outbox_media (
    seq   BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    bytes BYTEA  NOT NULL,
    PRIMARY KEY (seq, idx)
);

-- A request's raw payload stored once (see src/store/raw.rs): events of one request that carry
-- the same raw payload keep the event without it and the payload's SHA-256 in `raw_digest`;
-- the payload is in `inbox_raw`, once, until the retention passes and nothing refers to it.
ALTER TABLE inbox ADD COLUMN raw_digest TEXT;
CREATE INDEX inbox_raw_refs ON inbox (raw_digest) WHERE raw_digest IS NOT NULL;
CREATE TABLE inbox_raw (
    digest     TEXT   PRIMARY KEY,
    raw        TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX inbox_raw_age ON inbox_raw (created_at);
