//! The limits one process keeps by itself: a GCRA limiter (governor) for the whole channel and
//! one per conversation. Without `[rate_limits]` they are the channel's limits; with it, a
//! share of them ([`LocalLimits::share`]) decides while Redis is unreachable.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateConfig;

/// A channel's limiters in this process.
pub(super) struct LocalLimits {
    channel: Option<DefaultDirectRateLimiter>,
    conversation: Option<DefaultKeyedRateLimiter<String>>,
}

fn quota(per_second: f64, burst: Option<u32>) -> Option<Quota> {
    let period = Duration::try_from_secs_f64(1.0 / per_second).ok()?;
    let burst = NonZeroU32::new(burst.unwrap_or(1).max(1))?;
    Quota::with_period(period).map(|q| q.allow_burst(burst))
}

impl LocalLimits {
    pub(super) fn new(rate: &RateConfig) -> Self {
        LocalLimits {
            channel: rate
                .per_second
                .and_then(|r| quota(r, rate.burst))
                .map(RateLimiter::direct),
            conversation: rate
                .per_conversation_per_second
                .and_then(|r| quota(r, rate.per_conversation_burst))
                .map(RateLimiter::keyed),
        }
    }

    /// One of `instances` equal shares of `rate`: each rate divided by `instances`, each burst
    /// too (rounded up, at least 1). `instances` engines keeping their shares stay within
    /// `rate` over time; their bursts together may exceed the burst by the rounding.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn share(rate: &RateConfig, instances: u32) -> Self {
        let n = instances.max(1);
        let burst = |b: Option<u32>| Some(b.unwrap_or(1).div_ceil(n).max(1));
        LocalLimits::new(&RateConfig {
            per_second: rate.per_second.map(|r| r / f64::from(n)),
            burst: burst(rate.burst),
            per_conversation_per_second: rate.per_conversation_per_second.map(|r| r / f64::from(n)),
            per_conversation_burst: burst(rate.per_conversation_burst),
        })
    }

    /// Takes a send to `conversation` if it may go now; otherwise says how long until it may.
    /// Nothing is taken while the conversation is limited; when only the channel-wide limit
    /// refuses, the conversation's token is spent (that conversation is paced a little slower,
    /// never faster).
    pub(super) fn try_acquire(&self, conversation: &str) -> Result<(), Duration> {
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

    /// Forgets the per-conversation state of conversations whose limit has fully refilled.
    pub(super) fn forget_idle(&self) {
        if let Some(l) = &self.conversation {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// How many conversations the per-conversation limiter remembers.
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.conversation.as_ref().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_divides_rates_and_bursts() {
        let rate = RateConfig::new(Some(10.0), Some(1.0))
            .with_burst(5)
            .with_conversation_burst(3);
        let share = LocalLimits::share(&rate, 2);
        // Channel: 5/s with a burst of 3 (5 / 2 rounded up).
        let taken = (0..10)
            .filter(|i| share.try_acquire(&format!("c{i}")).is_ok())
            .count();
        assert_eq!(taken, 3);
        // Conversation: 0.5/s with a burst of 2 (3 / 2 rounded up); the next one waits ~2 s.
        let share = LocalLimits::share(
            &RateConfig::new(None, Some(1.0)).with_conversation_burst(3),
            2,
        );
        assert!(share.try_acquire("a").is_ok());
        assert!(share.try_acquire("a").is_ok());
        let wait = share.try_acquire("a").unwrap_err();
        assert!(wait > Duration::from_millis(1500), "{wait:?}");
        // One instance: the whole limit.
        let whole = LocalLimits::share(&RateConfig::new(Some(10.0), None).with_burst(4), 1);
        assert_eq!(
            (0..10).filter(|_| whole.try_acquire("x").is_ok()).count(),
            4
        );
    }
}
