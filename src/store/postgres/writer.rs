//! The PostgreSQL side of the writer ([`crate::store::sql::writer`]): each group commit takes
//! a pool connection, runs its jobs in one transaction, and, when the transaction made rows
//! ready, notifies the other instances ([`notify`](super::notify)) at its commit. A deadlock
//! with another instance or a serialization failure is worth trying again (the shared writer
//! does, one job at a time).

use sqlx::Connection;
use sqlx::postgres::PgPool;

use super::notify;
use super::tx::PgTx;
use crate::store::sql::{Answer, Committer, Failed, Job, apply};
use crate::store::store_error;

/// The pool and the channel commits notify on.
pub(super) struct PgCommitter {
    pub(super) pool: PgPool,
    pub(super) channel: String,
}

/// Whether `e` is a deadlock or a serialization failure.
fn retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

fn failed(context: &str, e: sqlx::Error) -> Failed {
    Failed {
        retry: retryable(&e),
        error: store_error(context, e),
    }
}

impl Committer for PgCommitter {
    async fn transact(&mut self, jobs: &[&Job]) -> Result<Vec<Answer>, Failed> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| failed("connect", e))?;
        let mut tx = conn.begin().await.map_err(|e| failed("begin", e))?;
        let (answers, wake) = match apply(&mut PgTx { conn: &mut tx }, jobs).await {
            Ok(a) => a,
            Err(error) => {
                // The statement error was already converted; tell deadlocks apart by message.
                let retry =
                    error.message().contains("deadlock") || error.message().contains("serialize");
                return Err(Failed { error, retry });
            }
        };
        for (yes, payload) in [(wake.inbox, notify::INBOX), (wake.outbox, notify::OUTBOX)] {
            if yes {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(&self.channel)
                    .bind(payload)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| failed("notify", e))?;
            }
        }
        tx.commit().await.map_err(|e| failed("commit", e))?;
        Ok(answers)
    }
}
