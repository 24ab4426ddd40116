//! Outbound rate limits of one channel: the whole channel, each conversation, and a pause the
//! provider asked for (`Retry-After` on a 429 applies to the channel, not just one message).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateConfig;

/// The limiters of one channel.
pub(crate) struct ChannelLimits {
    channel: Option<DefaultDirectRateLimiter>,
    conversation: Option<DefaultKeyedRateLimiter<String>>,
    paused_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for ChannelLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelLimits")
            .field("channel", &self.channel.is_some())
            .field("conversation", &self.conversation.is_some())
            .finish()
    }
}

fn quota(per_second: f64, burst: Option<u32>) -> Option<Quota> {
    let period = Duration::try_from_secs_f64(1.0 / per_second).ok()?;
    let burst = NonZeroU32::new(burst.unwrap_or(1).max(1))?;
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

impl ChannelLimits {
    pub(crate) fn new(rate: &RateConfig) -> Self {
        ChannelLimits {
            channel: rate
                .per_second
                .and_then(|r| quota(r, rate.burst))
                .map(RateLimiter::direct),
            conversation: rate
                .per_conversation_per_second
                .and_then(|r| quota(r, rate.per_conversation_burst))
                .map(RateLimiter::keyed),
            paused_until: Mutex::new(None),
        }
    }

    /// How much of a provider's pause is left.
    fn paused_for(&self) -> Option<Duration> {
        let pause = *self
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pause
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Takes a send to `conversation` if it may go now; otherwise says how long until it may.
    /// Nothing is taken while the channel is paused or the conversation is limited; when only
    /// the channel-wide limit refuses, the conversation's token is spent (that conversation is
    /// paced a little slower, never faster).
    pub(crate) fn try_acquire(&self, conversation: &str) -> Result<(), Duration> {
        if let Some(left) = self.paused_for() {
            return Err(left);
        }
        if let Some(l) = &self.conversation
            && let Err(not_until) = l.check_key(&conversation.to_owned())
        {
            return Err(not_until.wait_time_from(l.clock().now()));
        }
        if let Some(l) = &self.channel
            && let Err(not_until) = l.check()
        {
            return Err(not_until.wait_time_from(l.clock().now()));
        }
        Ok(())
    }

    /// Waits until a send to `conversation` is allowed, and takes it.
    #[cfg(test)]
    pub(crate) async fn acquire(&self, conversation: &str) {
        while let Err(wait) = self.try_acquire(conversation) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Forgets the per-conversation limiter's state of conversations whose limit has fully
    /// refilled (called by the pruner), so its memory does not grow with every conversation
    /// ever seen.
    pub(crate) fn forget_idle(&self) {
        if let Some(l) = &self.conversation {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// How many conversations the per-conversation limiter remembers.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.conversation.as_ref().map_or(0, |l| l.len())
    }

    /// The provider asked the channel to wait `after`.
    pub(crate) fn pause(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut p = self
            .paused_until
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
        assert_eq!(limits.try_acquire("a"), Ok(()));
        let wait = limits.try_acquire("b").unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        limits.pause(Duration::from_secs(30));
        let wait = limits.try_acquire("b").unwrap_err();
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
        limits.pause(Duration::from_millis(100));
        let start = Instant::now();
        limits.acquire("x").await;
        assert!(start.elapsed() >= Duration::from_millis(95));
    }
}
