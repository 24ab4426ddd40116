-- Switchboard engine schema, version 2: when each outbox row was sent (delivery watermarks,
-- retention), and indexes for pruning and watermark updates.
ALTER TABLE outbox ADD COLUMN sent_at INTEGER;
UPDATE outbox SET sent_at = created_at WHERE state = 1;
CREATE INDEX inbox_done ON inbox (received_at) WHERE state = 1;
CREATE INDEX outbox_sent ON outbox (conversation, sent_at) WHERE state = 1;
CREATE INDEX sent_messages_outbox ON sent_messages (outbox_seq);
