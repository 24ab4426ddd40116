-- Switchboard engine schema, version 6: the policy facts checked before a send (issue 15 item
-- 12). Written with the inbound insert, in the same transaction; read once per send to a
-- channel that declares a window or opt-outs (one primary-key lookup each).
--
-- `contacts`: a conversation's last inbound time (the latest `at`, in ms, of the customer's own
-- messages and actions; it only moves forward). Conversations from before this version have
-- none until their customer writes again: the engine then leaves the window to the provider.
-- `consent`: the latest opt-out (`opted_out`, `STOP`) or opt-in (`START`) per
-- conversation and consent scope (our number), with its keyword and time; a change only
-- replaces an earlier one.
CREATE TABLE contacts (
    conversation    TEXT    PRIMARY KEY,
    last_inbound_at BIGINT  NOT NULL
);

CREATE TABLE consent (
    conversation TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    opted_out    BOOLEAN NOT NULL,
    keyword      TEXT    NOT NULL,
    at           BIGINT  NOT NULL,
    PRIMARY KEY (conversation, scope)
);
