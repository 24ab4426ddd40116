//! Outbound rate limits of one channel: the whole channel, each conversation, and a pause the
//! provider asked for (`Retry-After` on a 429 applies to the channel, not just one message).

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

    /// Waits until a send to `conversation` is allowed.
    pub(crate) async fn acquire(&self, conversation: &str) {
        loop {
            let pause = *self
                .paused_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match pause {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until.into()).await;
                }
                _ => break,
            }
        }
        if let Some(l) = &self.conversation {
            l.until_key_ready(&conversation.to_owned()).await;
        }
        if let Some(l) = &self.channel {
            l.until_ready().await;
        }
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
    async fn pause_blocks_the_channel() {
        let limits = ChannelLimits::new(&RateConfig::default());
        limits.pause(Duration::from_millis(100));
        let start = Instant::now();
        limits.acquire("x").await;
        assert!(start.elapsed() >= Duration::from_millis(95));
    }
}
