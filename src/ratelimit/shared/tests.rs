//! The script against a real Redis, through two `ChannelLimits` values that share it as two
//! instances would. Each test has its own random key prefix and deletes its keys.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

use crate::config::{RateConfig, RateLimitsConfig};
use crate::metrics::{Metrics, RateLimitMetrics};
use crate::ratelimit::{ChannelLimits, LimitsSource};
use crate::testkit::{REDIS_ADDR, require_service};

/// A test's corner of the Redis at [`REDIS_ADDR`].
pub(super) struct Fixture {
    pub(super) prefix: String,
    redis: MultiplexedConnection,
}

impl Fixture {
    /// `None` (after a skip line) when Redis is not reachable and not required.
    pub(super) async fn new() -> Option<Fixture> {
        if !require_service("Redis", REDIS_ADDR).await {
            return None;
        }
        let client = redis::Client::open(format!("redis://{REDIS_ADDR}")).unwrap();
        let redis = client.get_multiplexed_async_connection().await.unwrap();
        Some(Fixture {
            prefix: format!("sbtest-{:016x}", fastrand::u64(..)),
            redis,
        })
    }

    /// Limits through Redis at `url` under this test's prefix; a generous timeout, so a
    /// loaded machine does not fall back in tests of the script itself.
    pub(super) fn config(&self, url: &str) -> RateLimitsConfig {
        RateLimitsConfig::new(url)
            .with_key_prefix(&self.prefix)
            .with_timeout(Duration::from_secs(2))
    }

    /// One instance's limits of channel `ch`, and its metrics.
    pub(super) async fn instance_with(
        config: &RateLimitsConfig,
        rate: &RateConfig,
    ) -> (ChannelLimits, RateLimitMetrics) {
        let metrics = Metrics::new().rate_limits();
        let source = LimitsSource::new(Some(config), metrics.clone())
            .await
            .unwrap();
        (source.channel("ch", rate), metrics)
    }

    async fn instance(&self, rate: &RateConfig) -> (ChannelLimits, RateLimitMetrics) {
        Fixture::instance_with(&self.config(&format!("redis://{REDIS_ADDR}")), rate).await
    }

    /// This test's keys.
    pub(super) async fn keys(&mut self) -> Vec<String> {
        let mut iter: redis::AsyncIter<'_, String> = self
            .redis
            .scan_match(format!("{}:*", self.prefix))
            .await
            .unwrap();
        let mut keys = Vec::new();
        while let Some(k) = iter.next_item().await {
            keys.push(k.unwrap());
        }
        keys
    }

    async fn pttl(&mut self, key: &str) -> i64 {
        self.redis
            .pttl(format!("{}:{key}", self.prefix))
            .await
            .unwrap()
    }

    pub(super) async fn cleanup(mut self) {
        let keys = self.keys().await;
        if !keys.is_empty() {
            let _: () = self.redis.del(keys).await.unwrap();
        }
    }
}

fn fallbacks(m: &RateLimitMetrics) -> u64 {
    m.fallbacks("ch").get()
}

#[tokio::test]
async fn a_channels_burst_and_rate_hold_across_instances() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    // Burst: one send per 2 s with a burst of 3. Both instances together get exactly 3 at
    // once (refills take seconds, far longer than these checks on any machine).
    let slow = RateConfig::new(Some(0.5), None).with_burst(3);
    let (a, ma) = f.instance(&slow).await;
    let (b, mb) = f.instance(&slow).await;
    let mut taken = 0;
    let mut waits = Vec::new();
    for i in 0..8 {
        let limits = if i % 2 == 0 { &a } else { &b };
        match limits.try_acquire(&format!("c{i}")).await {
            Ok(()) => taken += 1,
            Err(wait) => waits.push(wait),
        }
    }
    assert_eq!(taken, 3, "{waits:?}");
    assert!(
        waits
            .iter()
            .all(|w| *w > Duration::from_millis(500) && *w <= Duration::from_secs(2)),
        "{waits:?}"
    );

    // Rate: 20/s with a burst of 1, both instances acquiring as fast as they may for ~1 s.
    let fast = RateConfig::new(Some(20.0), None);
    let f2 = Fixture::new().await.unwrap();
    let (a2, _) = f2.instance(&fast).await;
    let (b2, _) = f2.instance(&fast).await;
    let start = Instant::now();
    let mut sent = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        for limits in [&a2, &b2] {
            match limits.try_acquire("c").await {
                Ok(()) => sent += 1,
                Err(wait) => tokio::time::sleep(wait.min(Duration::from_millis(10))).await,
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let most = 1.0 + 20.0 * elapsed + 1.0;
    assert!(f64::from(sent) <= most, "{sent} sends in {elapsed:.2}s");
    assert!(
        f64::from(sent) >= 5.0,
        "{sent} sends in {elapsed:.2}s: the limiter stalls"
    );
    assert_eq!((fallbacks(&ma), fallbacks(&mb)), (0, 0));
    f.cleanup().await;
    f2.cleanup().await;
}

#[tokio::test]
async fn a_conversations_limit_holds_across_instances_and_others_are_free() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let rate = RateConfig::new(None, Some(0.5)).with_conversation_burst(2);
    let (a, _) = f.instance(&rate).await;
    let (b, _) = f.instance(&rate).await;
    assert_eq!(a.try_acquire("x").await, Ok(()));
    assert_eq!(b.try_acquire("x").await, Ok(()));
    for limits in [&a, &b] {
        let wait = limits.try_acquire("x").await.unwrap_err();
        assert!(wait > Duration::from_millis(500), "{wait:?}");
    }
    assert_eq!(a.try_acquire("y").await, Ok(()));
    assert_eq!(b.try_acquire("z").await, Ok(()));
    f.cleanup().await;
}

/// As the local limiter does: when only the channel refuses, the conversation's token is
/// spent. Seen in Redis: the conversation's state moved two intervals ahead, not one.
#[tokio::test]
async fn the_conversation_token_is_spent_when_only_the_channel_refuses() {
    let Some(mut f) = Fixture::new().await else {
        return;
    };
    // Conversation: 1/s, burst 2 (T = 1 s). Channel: one per 5 s.
    let rate = RateConfig::new(Some(0.2), Some(1.0)).with_conversation_burst(2);
    let (a, _) = f.instance(&rate).await;
    let (b, _) = f.instance(&rate).await;
    assert_eq!(a.try_acquire("x").await, Ok(()));
    let wait = b.try_acquire("x").await.unwrap_err();
    assert!(
        wait > Duration::from_secs(3),
        "the channel's wait: {wait:?}"
    );
    // Two tokens spent: it expires about 2 s after the first check (one token: 1 s).
    let ttl = f.pttl("{ch}:c:x").await;
    assert!(
        (1001..=2000).contains(&ttl),
        "conversation state expires in {ttl} ms"
    );
    // The channel's state expires when its limit has refilled (5 s).
    let ttl = f.pttl("{ch}:rate").await;
    assert!(
        (2500..=5000).contains(&ttl),
        "channel state expires in {ttl} ms"
    );
    f.cleanup().await;
}

#[tokio::test]
async fn a_providers_pause_is_shared_and_only_grows() {
    let Some(mut f) = Fixture::new().await else {
        return;
    };
    let rate = RateConfig::default();
    let (a, _) = f.instance(&rate).await;
    let (b, mb) = f.instance(&rate).await;
    assert_eq!(b.try_acquire("x").await, Ok(()));
    a.pause(Duration::from_secs(3)).await;
    let wait = b.try_acquire("x").await.unwrap_err();
    assert!(
        wait > Duration::from_secs(1) && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
    // A shorter pause does not cut the longer one.
    b.pause(Duration::from_millis(200)).await;
    let ttl = f.pttl("{ch}:pause").await;
    assert!(ttl > 1000, "pause left: {ttl} ms");
    // B now knows the pause: it refuses without asking (nothing falls back, nothing fails).
    let wait = b.try_acquire("y").await.unwrap_err();
    assert!(wait > Duration::from_secs(1), "{wait:?}");
    assert_eq!(fallbacks(&mb), 0);
    f.cleanup().await;
}

#[tokio::test]
async fn idle_state_expires_by_itself() {
    let Some(mut f) = Fixture::new().await else {
        return;
    };
    // 2/s per conversation and 20/s on the channel: each key lives until its limit has
    // refilled (500 ms, 50 ms), the pause as long as it lasts.
    let rate = RateConfig::new(Some(20.0), Some(2.0));
    let (a, _) = f.instance(&rate).await;
    for c in 0..3 {
        a.acquire(&format!("c{c}")).await;
    }
    a.pause(Duration::from_millis(500)).await;
    let keys = f.keys().await;
    assert!(keys.iter().any(|k| k.ends_with(":pause")), "{keys:?}");
    for key in keys {
        let ttl: i64 = f.redis.pttl(&key).await.unwrap();
        // -2: expired meanwhile; -1 (no TTL) would stay forever.
        assert!(ttl == -2 || (1..=500).contains(&ttl), "{key}: {ttl}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(f.keys().await, Vec::<String>::new());
    f.cleanup().await;
}

#[test]
fn gcra_parameters_match_governors() {
    use super::Gcra;
    assert_eq!(Gcra::new(None, Some(3)), Gcra::default());
    assert_eq!(Gcra::new(Some(20.0), None), Gcra { t: 50_000, tau: 0 });
    assert_eq!(
        Gcra::new(Some(0.5), Some(3)),
        Gcra {
            t: 2_000_000,
            tau: 4_000_000
        }
    );
}
