-- Web chat retention (issue 13): a channel's `history_ttl` and `history_max_records` prune each
-- conversation's log from its oldest record on; the head remembers the highest sequence number
-- pruned, so a client resuming from an older cursor is told `history_truncated` even once every
-- record before it is gone.
ALTER TABLE webchat_heads ADD COLUMN pruned_seq BIGINT NOT NULL DEFAULT 0;

-- The oldest records first, for `history_ttl` (covering: the pruner reads no row).
CREATE INDEX webchat_log_at ON webchat_log (at, conversation, seq);

-- A channel's heads in byte order (its keys are the range ["{channel}/", "{channel}0") in that
-- order only, whatever the database's collation), for `history_max_records`.
CREATE INDEX webchat_heads_bytes ON webchat_heads (conversation COLLATE "C");
