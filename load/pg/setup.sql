-- The raw claim-and-complete loop's tables (load/pg/claim.sql): a queue of rows and a table of
-- conversation heads with a ready index, the shape of the PostgreSQL store's inbox (without
-- dedupe keys, leases or the engine). 200,000 events of 300 bytes over 1,000 conversations.
DROP TABLE IF EXISTS pgb_inbox, pgb_heads;
CREATE TABLE pgb_inbox (
    seq          BIGSERIAL PRIMARY KEY,
    conversation TEXT NOT NULL,
    event        TEXT NOT NULL
);
CREATE INDEX pgb_inbox_pending ON pgb_inbox (conversation, seq);
CREATE TABLE pgb_heads (
    conversation TEXT   PRIMARY KEY,
    seq          BIGINT NOT NULL,
    ready_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pgb_heads_ready ON pgb_heads (ready_at, seq);
INSERT INTO pgb_inbox (conversation, event)
    SELECT 'C' || (i % 1000), repeat('x', 300) FROM generate_series(1, 200000) AS i;
INSERT INTO pgb_heads (conversation, seq)
    SELECT conversation, min(seq) FROM pgb_inbox GROUP BY conversation;
VACUUM ANALYZE pgb_inbox;
VACUUM ANALYZE pgb_heads;
