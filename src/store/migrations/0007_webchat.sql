-- Web chat (issue 13): each conversation's log of outbound records, visitors' uploads, and
-- named secrets (the durable token key of each web chat channel).

-- The last sequence number handed out per conversation: numbers only grow, also when
-- records are deleted later.
CREATE TABLE webchat_heads (
    conversation TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE webchat_log (
    conversation TEXT NOT NULL,
    seq INTEGER NOT NULL,
    key TEXT,
    event TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (conversation, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX webchat_log_keys ON webchat_log (conversation, key) WHERE key IS NOT NULL;

CREATE TABLE webchat_uploads (
    id TEXT PRIMARY KEY,
    conversation TEXT NOT NULL,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
