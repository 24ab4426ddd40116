//! The PostgreSQL side of the writer ([`crate::store::sql::writer`]): each group commit takes
//! a pool connection, runs its jobs in one transaction, and, when the transaction made rows
//! ready, notifies the other instances ([`notify`](super::notify)) at its commit. A deadlock
//! with another instance or a serialization failure is worth trying again (the shared writer
//! does, one job at a time). Every call is bounded on the client side ([`bounds`](super::bounds));
//! a connection whose transaction failed is closed, not returned to the pool.
//!
//! A batch of plain completions and inbox claims (a busy worker loop's writes) takes one
//! round trip ([`drain`](super::drain)) instead of one per statement. While commits follow
//! each other the writer keeps its connection, so it does not pay the pool's liveness check
//! (a round trip) for each; after [`IDLE`] without a commit it gives it back, and the next
//! commit takes a checked one.

use std::time::Duration;

use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool};
use tokio::time::Instant;

use super::bounds::{Fault, bounded};
use super::tx::PgTx;
use super::{drain, notify};
use crate::store::sql::{Answer, Committer, Failed, Job, apply};

/// The pool, the channels commits notify on (queues, web chat logs), the client's bound on
/// each statement.
pub(super) struct PgCommitter {
    pub(super) pool: PgPool,
    pub(super) channel: String,
    pub(super) log_channel: String,
    pub(super) limit: Option<Duration>,
    /// The connection of the last commit, and when that commit ended.
    pub(super) conn: Option<(PoolConnection<sqlx::Postgres>, Instant)>,
    /// Whether that connection has the drain's statements prepared ([`drain::prepare`]).
    pub(super) prepared: bool,
}

/// How long the writer keeps its connection between commits.
const IDLE: Duration = Duration::from_millis(500);

fn failed(what: &str, fault: Fault) -> Failed {
    Failed {
        retry: fault.retryable(),
        unreachable: fault.unreachable(),
        error: fault.error(what),
    }
}

impl Committer for PgCommitter {
    async fn transact(&mut self, jobs: &[&Job]) -> Result<Vec<Answer>, Failed> {
        let (mut conn, mut prepared) = match self.conn.take() {
            Some((conn, at)) if at.elapsed() < IDLE => (conn, self.prepared),
            // Bounded by the pool's acquire timeout (`connect_timeout`).
            _ => (
                self.pool
                    .acquire()
                    .await
                    .map_err(|e| failed("connect", Fault::Db(e)))?,
                false,
            ),
        };
        let result = match drain::plan(jobs, &self.channel) {
            Some(batch) => {
                let ready = match prepared {
                    true => Ok(()),
                    false => bounded(self.limit, drain::prepare(&mut conn))
                        .await
                        .map_err(|f| failed("prepare", f)),
                };
                prepared = ready.is_ok();
                match ready {
                    Ok(()) => {
                        batch
                            .run(&mut conn, self.limit, &self.channel, jobs.len())
                            .await
                    }
                    Err(e) if e.unreachable => Err(e),
                    // The server refused to prepare them: the general path still works.
                    Err(e) => {
                        tracing::warn!(error = %e.error, "store: cannot prepare the drain's statements");
                        self.commit(&mut conn, jobs).await
                    }
                }
            }
            None => self.commit(&mut conn, jobs).await,
        };
        self.prepared = prepared;
        if result.is_err() {
            conn.close_on_drop();
        } else {
            self.conn = Some((conn, Instant::now()));
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
