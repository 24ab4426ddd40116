//! The SQLite side of the writer ([`crate::store::sql::writer`]): it owns the one write
//! connection (rusqlite, on the writer's own thread: see [`native`](super::native)), numbers
//! inbox events, and commits each group in one transaction (one fsync). Beside it, the
//! checkpointer copies the WAL back into the database file.

use std::time::Duration;

use rusqlite::Connection;
use sqlx::sqlite::SqlitePool;

use super::tx::SqliteTx;
use crate::store::sql::{Answer, Committer, Failed, Job, apply, db};

/// The write connection and the last inbox sequence number handed out.
pub(super) struct SqliteCommitter {
    pub(super) conn: Connection,
    pub(super) last_seq: i64,
}

impl Committer for SqliteCommitter {
    async fn transact(&mut self, jobs: &[&Job]) -> Result<Vec<Answer>, Failed> {
        // IMMEDIATE: the write lock is taken (waiting up to `busy_timeout`) before anything is
        // read. A deferred transaction that reads first and must then upgrade fails at once with
        // SQLITE_BUSY when another connection wrote meanwhile (the gateway's forwarding calls,
        // a second store on the file): the busy handler cannot help a stale snapshot.
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(db("begin"))?;
        let mut batch = SqliteTx {
            conn: &mut self.conn,
            last_seq: &mut self.last_seq,
        };
        // One process per file: nobody else to wake.
        let applied = apply(&mut batch, jobs).await;
        let committed = match applied {
            Ok((answers, _)) => self
                .conn
                .execute_batch("COMMIT")
                .map(|()| answers)
                .map_err(db("commit")),
            Err(e) => Err(e),
        };
        if committed.is_err() && !self.conn.is_autocommit() {
            // What the transaction wrote goes (a failed statement may have ended it already).
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        Ok(committed?)
    }
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a pool connection, beside the writer: SQLite's automatic
/// checkpoint would run inside whichever commit crosses 1000 WAL pages and stall every caller
/// of that group commit behind the database file's fsync. A `PASSIVE` checkpoint never blocks
/// the writer; once it has copied every frame, the writer's next transaction restarts the WAL
/// from its beginning, so the file stays small. Stops when the store is dropped.
pub(super) async fn checkpointer(pool: SqlitePool, alive: std::sync::Weak<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
