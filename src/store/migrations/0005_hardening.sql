-- Switchboard engine schema, version 5 (issue 15): what an attacker or a race could make the
-- store lose or bloat.
--
-- Delivery receipts that arrive before their send is recorded (the provider's status
-- callback overtakes the sender's write of the message ids): kept per (channel, provider
-- message id, status), applied to the outbox row when a send records that id, and pruned with
-- the retention when no send ever does.
CREATE TABLE pending_receipts (
    channel     TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (channel, message_id, status)
) WITHOUT ROWID;
CREATE INDEX pending_receipts_age ON pending_receipts (received_at);

-- Byte attachments of outbox messages, out of the rows (see src/store/media.rs): the row's
-- message JSON keeps each one's SHA-256, the bytes live here, unencoded, until the row is sent
-- (dead rows keep theirs). A rowid table: WITHOUT ROWID suits small rows only.
CREATE TABLE outbox_media (
    seq   INTEGER NOT NULL,
    idx   INTEGER NOT NULL,
    bytes BLOB    NOT NULL,
    PRIMARY KEY (seq, idx)
);

-- A request's raw payload stored once (see src/store/raw.rs): events of one request that carry
-- the same raw payload (a Slack block_actions with many actions) keep the event without it
-- and the payload's SHA-256 in `raw_digest`; the payload is in `inbox_raw`, once. It goes with
-- the retention once no pending event or dead letter refers to it.
ALTER TABLE inbox ADD COLUMN raw_digest TEXT;
CREATE INDEX inbox_raw_refs ON inbox (raw_digest) WHERE raw_digest IS NOT NULL;
CREATE TABLE inbox_raw (
    digest     TEXT    PRIMARY KEY,
    raw        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX inbox_raw_age ON inbox_raw (created_at);
