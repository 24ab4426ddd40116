//! Client-side bounds on every call to PostgreSQL, so that a database that stops answering
//! (a network partition, a black-holed connection: accepted, then silent) fails calls within
//! known times instead of hanging an instance.
//!
//! - **Acquire** (a pooled connection, or a new one: TCP, TLS, startup) is bounded by
//!   `connect_timeout` (the pool's acquire timeout).
//! - **Each statement** (and `BEGIN`, `COMMIT`, `NOTIFY`) is bounded by `statement_timeout`
//!   plus [`GRACE`]: the server's own `statement_timeout` normally answers first, with a clear
//!   error; the client's bound only fires when nothing answers at all. `statement_timeout =
//!   "0s"` turns both off.
//! - **Readiness** ([`Store::ping`](crate::store::Store::ping)) is bounded by
//!   `connect_timeout` as a whole, so `/readyz` answers "not ready" quickly.
//!
//! A connection whose call failed is closed, never returned to the pool (after a timeout its
//! protocol state is unknown, and sqlx's check on release would wait on it). A failure that
//! means the database is unreachable fails the writer's whole batch at once (running its jobs
//! one by one would only wait again for each); the writer goes on with the next batch, so the
//! instance recovers as soon as the database answers again.

use std::future::Future;
use std::time::Duration;

use switchboard_core::Error;

use crate::store::store_error;

/// How long the client waits beyond the server's `statement_timeout`.
pub(super) const GRACE: Duration = Duration::from_secs(1);

/// Why a call failed: the database's error, or no answer in time.
#[derive(Debug)]
pub(super) enum Fault {
    /// The database (or the connection) answered with an error.
    Db(sqlx::Error),
    /// Nothing answered within this long.
    Silent(Duration),
}

impl Fault {
    /// Whether the database cannot be reached (no connection, no answer, the connection
    /// broke): the same work run again at once would only wait again.
    pub(super) fn unreachable(&self) -> bool {
        match self {
            Fault::Silent(_) => true,
            Fault::Db(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ),
        }
    }

    /// Whether trying the same work again may succeed: a deadlock with another instance, a
    /// serialization failure.
    pub(super) fn retryable(&self) -> bool {
        match self {
            Fault::Silent(_) => false,
            Fault::Db(e) => e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "40P01" || c == "40001"),
        }
    }

    /// The store error for this fault while doing `what`.
    pub(super) fn error(&self, what: &str) -> Error {
        match self {
            Fault::Db(e) => store_error(what, e),
            Fault::Silent(d) => store_error(
                what,
                format!("PostgreSQL did not answer within {} ms", d.as_millis()),
            ),
        }
    }
}

/// The client's bound on one statement, from the server's `statement_timeout`.
pub(super) fn statement_limit(statement_timeout: Option<Duration>) -> Option<Duration> {
    statement_timeout.map(|t| t + GRACE)
}

/// Awaits `call` within `limit` (`None`: unbounded).
pub(super) async fn bounded<T>(
    limit: Option<Duration>,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, Fault> {
    match limit {
        None => call.await.map_err(Fault::Db),
        Some(d) => match tokio::time::timeout(d, call).await {
            Ok(r) => r.map_err(Fault::Db),
            Err(_) => Err(Fault::Silent(d)),
        },
    }
}
