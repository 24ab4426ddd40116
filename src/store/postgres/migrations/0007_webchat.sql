-- Web chat (issue 13): each conversation's log of outbound records, visitors' uploads, and
-- named secrets (the durable token key of each web chat channel).

-- The last sequence number handed out per conversation; an append locks its row, so numbers
-- only grow across instances.
CREATE TABLE webchat_heads (
    conversation TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

CREATE TABLE webchat_log (
    conversation TEXT NOT NULL,
    seq BIGINT NOT NULL,
    key TEXT,
    event TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (conversation, seq)
);

CREATE UNIQUE INDEX webchat_log_keys ON webchat_log (conversation, key) WHERE key IS NOT NULL;

CREATE TABLE webchat_uploads (
    id TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
