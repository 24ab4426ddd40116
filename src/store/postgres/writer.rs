//! The PostgreSQL side of the writer ([`crate::store::sql::writer`]): each group commit takes
//! a pool connection, runs its jobs in one transaction, and, when the transaction made rows
//! ready, notifies the other instances ([`notify`](super::notify)) at its commit. A deadlock
//! with another instance or a serialization failure is worth trying again (the shared writer
//! does, one job at a time). Every call is bounded on the client side ([`bounds`](super::bounds));
//! a connection whose transaction failed is closed, not returned to the pool.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool};

use super::bounds::{Fault, bounded};
use super::notify;
use super::tx::PgTx;
use crate::store::sql::{Answer, Committer, Failed, Job, apply};

/// The pool, the channels commits notify on (queues, web chat logs), the client's bound on
/// each statement.
pub(super) struct PgCommitter {
    pub(super) pool: PgPool,
    pub(super) channel: String,
    pub(super) log_channel: String,
    pub(super) limit: Option<Duration>,
}

fn failed(what: &str, fault: Fault) -> Failed {
    Failed {
        retry: fault.retryable(),
        unreachable: fault.unreachable(),
        error: fault.error(what),
    }
}

impl Committer for PgCommitter {
    async fn transact(&mut self, jobs: &[&Job]) -> Result<Vec<Answer>, Failed> {
        // Bounded by the pool's acquire timeout (`connect_timeout`).
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| failed("connect", Fault::Db(e)))?;
        let result = self.commit(&mut conn, jobs).await;
        if result.is_err() {
            conn.close_on_drop();
        }
        result
    }
}

impl PgCommitter {
    async fn commit(&self, conn: &mut PgConnection, jobs: &[&Job]) -> Result<Vec<Answer>, Failed> {
        let mut tx = bounded(self.limit, conn.begin())
            .await
            .map_err(|f| failed("begin", f))?;
        let mut batch = PgTx::new(&mut tx, self.limit);
        let (answers, wake) = match apply(&mut batch, jobs).await {
            Ok(a) => a,
            Err(error) => {
                return Err(Failed {
                    error,
                    retry: batch.retry,
                    unreachable: batch.unreachable,
                });
            }
        };
        let queues = [(wake.inbox, notify::INBOX), (wake.outbox, notify::OUTBOX)]
            .into_iter()
            .filter(|(yes, _)| *yes)
            .map(|(_, payload)| (self.channel.as_str(), payload));
        let logs = wake
            .logs
            .iter()
            .map(|c| (self.log_channel.as_str(), c.as_str()));
        for (channel, payload) in queues.chain(logs) {
            let query = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload);
            bounded(self.limit, query.execute(&mut *tx))
                .await
                .map_err(|f| failed("notify", f))?;
        }
        bounded(self.limit, tx.commit())
            .await
            .map_err(|f| failed("commit", f))?;
        Ok(answers)
    }
}
