//! The gateway's forwarding queues in SQLite (schema version 8): the statements of
//! [`sql::forward`](crate::store::sql::forward) that are SQLite's own. One writer per file,
//! so nothing is locked; the ready heads are read through the partial index of heads
//! (`head = 1`).

use crate::store::sql::forward::ForwardSql;

pub(super) const SQL: ForwardSql = ForwardSql {
    ready: "SELECT seq FROM forwards WHERE head = 1 AND ready_at <= ?1 \
            ORDER BY ready_at, seq LIMIT ?2",
    held: "SELECT endpoint, conversation FROM forwards \
           WHERE seq = ?1 AND state = 0 AND token = ?2 AND token != 0",
    lock: None,
};

/// A chunk of rows delivered before `?1`.
pub(super) const PRUNE: &str = "DELETE FROM forwards WHERE seq IN (SELECT seq FROM forwards \
     WHERE state = 1 AND done_at < ?1 LIMIT ?2)";
