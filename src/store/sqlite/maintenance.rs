//! Start-up recovery, pruning past the retention (in chunks, through the writer), dead letters
//! and row counts.

/// Keys of handled events: no longer in the inbox (pending rows and dead letters are).
pub(super) const PRUNE_KEYS: &str = "DELETE FROM inbox_keys WHERE (channel, event_id) IN (
       SELECT channel, event_id FROM inbox_keys AS k
        WHERE received_at < ?1 AND NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.seq = k.seq)
        ORDER BY received_at LIMIT ?2)";

/// The same chunk of sent rows loses its message ids, then the rows themselves.
pub(super) const PRUNE_SENT_IDS: &str = "DELETE FROM sent_messages WHERE outbox_seq IN (
       SELECT seq FROM outbox WHERE state = 1 AND sent_at < ?1 ORDER BY sent_at, seq LIMIT ?2)";

pub(super) const PRUNE_SENT: &str = "DELETE FROM outbox WHERE seq IN (
       SELECT seq FROM outbox WHERE state = 1 AND sent_at < ?1 ORDER BY sent_at, seq LIMIT ?2)";

pub(super) const PRUNE_PROOFS: &str = "DELETE FROM outbox_proofs WHERE rowid IN (
       SELECT rowid FROM outbox_proofs WHERE proven_at < ?1 ORDER BY proven_at LIMIT ?2)";

pub(super) const PRUNE_OPTIONS: &str = "DELETE FROM degraded_options WHERE conversation IN (
       SELECT conversation FROM degraded_options WHERE expires_at <= ?1 LIMIT ?2)";
