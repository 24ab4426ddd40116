-- Switchboard engine schema, version 3: exactly-once sends (issue 8).
-- When a send of each outbox row first and last began (the window a provider lookup searches),
-- whether the last attempt's outcome is unknown (an Ambiguous or partial failure: the next claim
-- reconciles before sending), and keyed proofs of sends that webhooks brought (Twilio keyed
-- status callbacks, Messenger echoes), kept even when the process died before recording the send.
-- `inflight` now says how far a claim got: 1 claimed, 2 a send began.
ALTER TABLE outbox ADD COLUMN first_attempt_at INTEGER;
ALTER TABLE outbox ADD COLUMN last_attempt_at INTEGER;
ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
-- Rows left in flight by an older engine: a send may have begun (when is not known: the search
-- window starts at the row's creation, the last attempt counts as now).
UPDATE outbox SET inflight = 2, first_attempt_at = created_at,
                  last_attempt_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
 WHERE state = 0 AND inflight != 0;

CREATE TABLE outbox_proofs (
    key        TEXT    NOT NULL,
    part       INTEGER NOT NULL,
    parts      INTEGER NOT NULL,
    channel    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    proven_at  INTEGER NOT NULL,
    PRIMARY KEY (key, part)
);
CREATE INDEX outbox_proofs_age ON outbox_proofs (proven_at);
