//! Pruning past the retention. Pruning runs beside the writer, a chunk per statement over rows
//! it locks with `SKIP LOCKED`, so any number of instances may prune at once (each deletes
//! rows no other is deleting) and no transaction is held for long.

use crate::store::sql::PruneStep;

/// Shared raw payloads stored before `$1` that no pending event or dead letter refers to. A
/// payload an insert is touching again (locked) is skipped.
pub(super) const PRUNE_RAW: &str = "DELETE FROM inbox_raw WHERE digest IN (
       SELECT digest FROM inbox_raw AS r WHERE created_at < $1
          AND NOT EXISTS (SELECT 1 FROM inbox WHERE raw_digest = r.digest)
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Keys of handled events received before `$1`: no longer in the inbox (pending rows and dead
/// letters are).
pub(super) const PRUNE_KEYS: &str = "DELETE FROM inbox_keys WHERE (channel, event_id) IN (
       SELECT channel, event_id FROM inbox_keys AS k
        WHERE received_at < $1 AND NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.seq = k.seq)
        ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// A chunk of rows sent before `$1`, with their message ids; returns the rows deleted.
pub(super) const PRUNE_SENT: &str = "WITH gone AS (
       DELETE FROM outbox WHERE seq IN (
         SELECT seq FROM outbox WHERE state = 1 AND sent_at < $1
          ORDER BY sent_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING seq),
     ids AS (DELETE FROM sent_messages WHERE outbox_seq IN (SELECT seq FROM gone))
     SELECT count(*) FROM gone";

/// Proofs recorded before `$1`.
pub(super) const PRUNE_PROOFS: &str = "DELETE FROM outbox_proofs WHERE (key, part) IN (
       SELECT key, part FROM outbox_proofs WHERE proven_at < $1
        ORDER BY proven_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Options expired at `$1`.
pub(super) const PRUNE_OPTIONS: &str = "DELETE FROM degraded_options WHERE conversation IN (
       SELECT conversation FROM degraded_options WHERE expires_at <= $1
        LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// The statement deleting one chunk of `step` (`$1` the cutoff, `$2` the chunk); the one of
/// [`PruneStep::Sent`] returns the count of rows deleted, the others report it.
pub(super) fn statement(step: PruneStep) -> &'static str {
    match step {
        PruneStep::Keys => PRUNE_KEYS,
        PruneStep::Sent => PRUNE_SENT,
        PruneStep::Proofs => PRUNE_PROOFS,
        PruneStep::Options => PRUNE_OPTIONS,
        PruneStep::Receipts => super::pending::PRUNE,
        PruneStep::RawPayloads => PRUNE_RAW,
        PruneStep::Forwards => super::forward::PRUNE,
    }
}
