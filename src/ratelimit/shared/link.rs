//! The connection to the Redis behind the shared limits: opened at start (bounded by
//! `rate_limits.connect_timeout`), given up after any failed or late answer, and opened again in
//! the background with backoff (100 ms doubling to 5 s, with jitter). Going down is warned
//! once per outage, coming back is logged once, and the `switchboard_rate_limits_shared` gauge
//! follows. Nobody waits for a reconnection: while the link is down the local share decides.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, ScriptInvocation};
use switchboard_core::{Error, ErrorKind, Result};

use crate::config::RateLimitsConfig;
use crate::metrics::RateLimitMetrics;

use super::{CHECK, PAUSE};

/// First and longest delay between two connection attempts.
const RECONNECT_BASE: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// The engine's one connection to Redis, shared by every channel (requests are pipelined).
pub(crate) struct Link {
    client: Client,
    pub(super) config: RateLimitsConfig,
    state: Mutex<State>,
    metrics: RateLimitMetrics,
}

struct State {
    /// The connection in use; `None` while down.
    conn: Option<MultiplexedConnection>,
    /// Bumped at each change, so a late failure of a replaced connection is ignored.
    generation: u64,
}

impl Link {
    /// Opens the connection; an unreachable Redis leaves the link down (warned, reconnecting).
    pub(crate) async fn connect(
        config: &RateLimitsConfig,
        metrics: RateLimitMetrics,
    ) -> Result<Arc<Link>> {
        config.validate()?;
        let client = Client::open(config.url.as_str())
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("rate_limits.url: {e}")))?;
        let link = Arc::new(Link {
            client,
            config: config.clone(),
            state: Mutex::new(State {
                conn: None,
                generation: 0,
            }),
            metrics,
        });
        link.metrics.set_shared(false);
        match link.open().await {
            Ok(conn) => {
                link.set_up(conn);
                tracing::info!(url = %config.redacted_url(), "rate limits shared through Redis");
            }
            Err(e) => {
                link.warn_down(&e);
                link.clone().reconnect_later();
            }
        }
        Ok(link)
    }

    /// Runs a script within the timeout: its answer, or `None` when the link is down, or goes
    /// down because Redis failed or did not answer in time.
    pub(super) async fn run<T: FromRedisValue>(
        self: &Arc<Self>,
        call: &ScriptInvocation<'_>,
    ) -> Option<T> {
        let (mut conn, generation) = {
            let state = self.lock();
            (state.conn.clone()?, state.generation)
        };
        let timeout = self.config.timeout;
        let error = match tokio::time::timeout(timeout, call.invoke_async(&mut conn)).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        self.failed(generation, &error);
        None
    }

    /// A call on the connection of `generation` failed or came too late: the link goes down
    /// (unless that connection was already replaced), with one warning, and reconnects.
    fn failed(self: &Arc<Self>, generation: u64, error: &str) {
        {
            let mut state = self.lock();
            if state.generation != generation || state.conn.is_none() {
                return;
            }
            state.conn = None;
            state.generation += 1;
        }
        self.metrics.set_shared(false);
        self.warn_down(error);
        self.clone().reconnect_later();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_up(&self, conn: MultiplexedConnection) {
        {
            let mut state = self.lock();
            state.conn = Some(conn);
            state.generation += 1;
        }
        self.metrics.set_shared(true);
    }

    fn warn_down(&self, error: &str) {
        tracing::warn!(
            url = %self.config.redacted_url(),
            %error,
            instances = self.config.instances,
            "Redis for the shared rate limits is unreachable: until it is back, this instance \
             sends within 1/instances of every limit (and keeps provider pauses to itself)"
        );
    }

    /// A connection, checked with a real round trip (loading the scripts), within the
    /// connect timeout plus one call's timeout.
    async fn open(&self) -> std::result::Result<MultiplexedConnection, String> {
        let c = &self.config;
        let settings = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(c.connect_timeout))
            .set_response_timeout(Some(c.timeout));
        let attempt = async {
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&settings)
                .await?;
            CHECK.load_async(&mut conn).await?;
            PAUSE.load_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match tokio::time::timeout(c.connect_timeout + c.timeout, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no connection within {:?}", c.connect_timeout)),
        }
    }

    /// Tries to connect again in the background, with backoff, until it succeeds or the
    /// engine is gone.
    fn reconnect_later(self: Arc<Self>) {
        let weak: Weak<Link> = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                attempt += 1;
                tokio::time::sleep(crate::backoff::delay(
                    attempt,
                    RECONNECT_BASE,
                    RECONNECT_MAX,
                ))
                .await;
                let Some(link) = weak.upgrade() else {
                    return;
                };
                match link.open().await {
                    Ok(conn) => {
                        link.set_up(conn);
                        tracing::info!(
                            url = %link.config.redacted_url(),
                            attempts = attempt,
                            "Redis for the shared rate limits is reachable again: limits are shared"
                        );
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, attempt, "reconnecting to Redis failed"),
                }
            }
        });
    }
}
