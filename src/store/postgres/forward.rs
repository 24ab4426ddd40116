//! The gateway's forwarding queues in PostgreSQL (schema version 8): the statements of
//! [`sql::forward`](crate::store::sql::forward) that are PostgreSQL's own. Writes to one
//! (endpoint, conversation) queue serialize on a transaction-scoped advisory lock, so an
//! insert and the finish of the queue's head never both miss each other's row; claims lock
//! ready heads with `FOR UPDATE SKIP LOCKED`, so instances claiming together never hand out
//! one head twice; a finish locks the row it finishes.

use crate::store::sql::forward::ForwardSql;

pub(super) const SQL: ForwardSql = ForwardSql {
    ready: "SELECT seq FROM forwards WHERE head AND ready_at <= $1 \
            ORDER BY ready_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED",
    held: "SELECT endpoint, conversation FROM forwards \
           WHERE seq = $1 AND state = 0 AND token = $2 AND token != 0 FOR UPDATE",
    lock: Some("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2, 8))"),
};

/// A chunk of rows delivered before `$1`, skipping rows another instance is pruning.
pub(super) const PRUNE: &str = "DELETE FROM forwards WHERE seq IN (SELECT seq FROM forwards \
     WHERE state = 1 AND done_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)";
