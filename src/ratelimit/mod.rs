//! Outbound rate limits of one channel: the whole channel, each conversation, and a pause the
//! provider asked for (`Retry-After` on a 429 applies to the channel, not just one message).
//!
//! Without `[rate_limits]` the limits live in this process ([`local`]). With it (cargo feature
//! `redis`), every instance shares them through Redis ([`shared`]): one Lua script checks the
//! pause, the conversation's and the channel's limit in one round trip, on Redis' clock; what
//! this process already knows must wait (the pause, a wait an earlier answer announced) is
//! refused without asking; and while Redis does not answer, a local share of each limit
//! (`1 / rate_limits.instances`) decides.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchboard_core::Result;

use crate::config::{RateConfig, RateLimitsConfig};
use crate::metrics::RateLimitMetrics;

mod local;
#[cfg(feature = "redis")]
mod shared;

use local::LocalLimits;

/// The limiters of one channel.
pub(crate) struct ChannelLimits {
    pause: Pause,
    kind: Kind,
}

enum Kind {
    /// This process's own limiters (no `[rate_limits]`).
    Local(LocalLimits),
    /// Shared through Redis.
    #[cfg(feature = "redis")]
    Shared(Box<shared::SharedChannel>),
}

impl std::fmt::Debug for ChannelLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Local(_) => "local",
            #[cfg(feature = "redis")]
            Kind::Shared(_) => "shared",
        };
        f.debug_struct("ChannelLimits")
            .field("kind", &kind)
            .finish()
    }
}

/// Where the channels' limits live: in this process, or in the Redis of `[rate_limits]`.
pub(crate) struct LimitsSource {
    #[cfg(feature = "redis")]
    link: Option<std::sync::Arc<shared::Link>>,
    #[cfg(feature = "redis")]
    metrics: RateLimitMetrics,
}

impl LimitsSource {
    /// Connects to the Redis of `config` (when given). An unreachable Redis is no error: the
    /// engine starts on the local share, warns, and reconnects in the background.
    pub(crate) async fn new(
        config: Option<&RateLimitsConfig>,
        metrics: RateLimitMetrics,
    ) -> Result<Self> {
        #[cfg(feature = "redis")]
        {
            let link = match config {
                Some(c) => Some(shared::Link::connect(c, metrics.clone()).await?),
                None => None,
            };
            Ok(LimitsSource { link, metrics })
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = metrics;
            match config {
                // `Config::validate` refuses the table in such a build; this is its error.
                Some(c) => c.validate().map(|()| LimitsSource {}),
                None => Ok(LimitsSource {}),
            }
        }
    }

    /// The limits of channel `name` running at `rate`.
    pub(crate) fn channel(&self, name: &str, rate: &RateConfig) -> ChannelLimits {
        #[cfg(feature = "redis")]
        if let Some(link) = &self.link {
            return ChannelLimits {
                pause: Pause::default(),
                kind: Kind::Shared(Box::new(shared::SharedChannel::new(
                    link.clone(),
                    name,
                    rate,
                    &self.metrics,
                ))),
            };
        }
        let _ = name;
        ChannelLimits::new(rate)
    }
}

impl ChannelLimits {
    /// Limits kept in this process alone.
    pub(crate) fn new(rate: &RateConfig) -> Self {
        ChannelLimits {
            pause: Pause::default(),
            kind: Kind::Local(LocalLimits::new(rate)),
        }
    }

    /// Takes a send to `conversation` if it may go now; otherwise says how long until it may.
    /// Nothing is taken while the channel is paused or the conversation is limited; when only
    /// the channel-wide limit refuses, the conversation's token is spent (that conversation is
    /// paced a little slower, never faster). With shared limits this is at most one round trip
    /// to Redis, bounded by `rate_limits.timeout`.
    pub(crate) async fn try_acquire(&self, conversation: &str) -> Result<(), Duration> {
        if let Some(left) = self.pause.left() {
            return Err(left);
        }
        match &self.kind {
            Kind::Local(l) => l.try_acquire(conversation),
            #[cfg(feature = "redis")]
            Kind::Shared(s) => s.try_acquire(conversation, &self.pause).await,
        }
    }

    /// Waits until a send to `conversation` is allowed, and takes it.
    #[cfg(test)]
    pub(crate) async fn acquire(&self, conversation: &str) {
        while let Err(wait) = self.try_acquire(conversation).await {
            tokio::time::sleep(wait).await;
        }
    }

    /// Forgets the state of conversations whose limit has fully refilled (called by the
    /// pruner), so memory does not grow with every conversation ever seen. Shared state in
    /// Redis expires by itself.
    pub(crate) fn forget_idle(&self) {
        match &self.kind {
            Kind::Local(l) => l.forget_idle(),
            #[cfg(feature = "redis")]
            Kind::Shared(s) => s.forget_idle(),
        }
    }

    /// How many conversations the per-conversation limiter remembers.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        match &self.kind {
            Kind::Local(l) => l.remembered(),
            #[cfg(feature = "redis")]
            Kind::Shared(_) => 0,
        }
    }

    /// The provider asked the channel to wait `after`: this process waits at once, and every
    /// instance does when the limits are shared (the pause is stored in Redis, expiring then).
    pub(crate) async fn pause(&self, after: Duration) {
        self.pause.extend(after);
        #[cfg(feature = "redis")]
        if let Kind::Shared(s) = &self.kind {
            s.pause(after).await;
        }
    }
}

/// The end of the provider's pause as this process knows it.
#[derive(Default)]
struct Pause(Mutex<Option<Instant>>);

impl Pause {
    /// How much of the pause is left.
    fn left(&self) -> Option<Duration> {
        let until = *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Pauses for `after` from now, unless a longer pause is on.
    fn extend(&self, after: Duration) {
        let now = Instant::now();
        // A pause too far to represent is as good as the longest one an error carries.
        let until = now
            .checked_add(after)
            .unwrap_or(now + switchboard_core::error::MAX_RETRY_AFTER);
        let mut p = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if p.is_none_or(|old| old < until) {
            *p = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn per_conversation_rate_is_enforced() {
        let limits = ChannelLimits::new(&RateConfig::new(None, Some(20.0)));
        let start = Instant::now();
        for _ in 0..5 {
            limits.acquire("a").await;
        }
        // 1 immediately, then 4 more at 50 ms intervals (a loaded machine is only slower).
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn conversations_are_limited_separately() {
        // One send per 2 s per conversation: "a" is used up, "b" is not. The margins are
        // seconds, so a stalled test thread cannot flip either check.
        let limits = ChannelLimits::new(&RateConfig::new(None, Some(0.5)));
        limits.acquire("a").await;
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), limits.acquire("b"))
                .await
                .is_ok(),
            "another conversation waited for the first one's limit"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(200), limits.acquire("a"))
                .await
                .is_err(),
            "the first conversation was not limited"
        );
    }

    #[tokio::test]
    async fn try_acquire_says_how_long_to_wait() {
        let limits = ChannelLimits::new(&RateConfig::new(Some(0.5), None));
        assert_eq!(limits.try_acquire("a").await, Ok(()));
        let wait = limits.try_acquire("b").await.unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        limits.pause(Duration::from_secs(30)).await;
        let wait = limits.try_acquire("b").await.unwrap_err();
        assert!(wait > Duration::from_secs(20), "{wait:?}");
    }

    #[tokio::test]
    async fn idle_conversations_are_forgotten() {
        // 1000/s: every conversation's limit has refilled a few milliseconds after its send.
        let limits = ChannelLimits::new(&RateConfig::new(None, Some(1000.0)));
        for c in 0..100 {
            limits.acquire(&format!("c{c}")).await;
        }
        assert_eq!(limits.remembered(), 100);
        tokio::time::sleep(Duration::from_millis(50)).await;
        limits.forget_idle();
        assert_eq!(limits.remembered(), 0);
    }

    #[tokio::test]
    async fn pause_blocks_the_channel() {
        let limits = ChannelLimits::new(&RateConfig::default());
        limits.pause(Duration::from_millis(100)).await;
        let start = Instant::now();
        limits.acquire("x").await;
        assert!(start.elapsed() >= Duration::from_millis(95));
    }

    /// Issue 15, item 13: a pause too long to represent does not panic.
    #[tokio::test]
    async fn an_endless_pause_does_not_panic() {
        let limits = ChannelLimits::new(&RateConfig::default());
        limits.pause(Duration::MAX).await;
        let left = limits.pause.left().unwrap_or_default();
        assert!(left > Duration::from_secs(3600), "{left:?}");
    }
}
