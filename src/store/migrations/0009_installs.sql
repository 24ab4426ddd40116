-- Switchboard engine schema, version 9: installations of multi-tenant channels (issue 16).
--
-- One row per (channel, tenant): its public facts as JSON (`meta`: scopes, bot ids, times), its
-- tokens sealed with AES-256-GCM by the engine (`sealed`: "v1.{key id}.{nonce+ciphertext}";
-- the store never sees a token in the clear), when the access token expires (0: never), and
-- the refresh lease (ms; 0: free) that lets one instance refresh a rotating token.
CREATE TABLE installs (
    channel       TEXT    NOT NULL,
    tenant        TEXT    NOT NULL,
    meta          TEXT    NOT NULL,
    sealed        TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL DEFAULT 0,
    refresh_until INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (channel, tenant)
);

-- OAuth `state` nonces already spent, until they expire (single use across instances).
CREATE TABLE oauth_states (
    nonce      TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
