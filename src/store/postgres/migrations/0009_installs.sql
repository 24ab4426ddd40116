-- Switchboard engine schema for PostgreSQL, version 9: installations of multi-tenant channels
-- (issue 16), the model of the SQLite store's version 9 (src/store/migrations/0009_installs.sql).
-- Tokens are sealed by the engine (AES-256-GCM) before they reach the store.
CREATE TABLE installs (
    channel       TEXT   NOT NULL,
    tenant        TEXT   NOT NULL,
    meta          TEXT   NOT NULL,
    sealed        TEXT   NOT NULL,
    expires_at    BIGINT NOT NULL DEFAULT 0,
    refresh_until BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (channel, tenant)
);

CREATE TABLE oauth_states (
    nonce      TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
