//! Two engines (two instances, a memory store each) sending on the same channel with
//! `[rate_limits]` on the same Redis: together they stay within the channel's rate, and a
//! provider's `Retry-After` answered to one of them pauses both.
//!
//! Needs Redis on 127.0.0.1:6379: skipped without it, failed without it where
//! `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`.
//! `cargo test -p switchboard --features redis,testkit --test engine -- shared_limits::`
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use switchboard::core::memory::faults;
use switchboard::testkit::{REDIS_ADDR, require_service};
use switchboard::{
    ChannelName, ChannelSettings, Config, ConversationId, ConversationRef, MemoryStore,
    OutboundMessage, RateConfig, RateLimitsConfig, Switchboard,
};

/// Per-second rate and burst of the shared channel.
const RATE: f64 = 10.0;
const BURST: u32 = 2;

fn prefix() -> String {
    format!("sbtest-{:016x}", fastrand::u64(..))
}

/// One instance: its own memory store, the shared channel served by `adapter`.
async fn instance(adapter: &Timed, prefix: &str) -> Switchboard {
    let mut config = Config::default();
    config.engine.poll_interval = Duration::from_millis(20);
    // A generous timeout: this tests sharing, not outages (a late answer on a loaded machine
    // would put one instance on its local share for a moment).
    config.rate_limits = Some(
        RateLimitsConfig::new(format!("redis://{REDIS_ADDR}"))
            .with_key_prefix(prefix)
            .with_timeout(Duration::from_secs(1)),
    );
    Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(
            Arc::new(adapter.clone()),
            ChannelSettings::default()
                .with_rate(RateConfig::new(Some(RATE), None).with_burst(BURST)),
        )
        .build()
        .await
        .unwrap()
}

/// Two instances sharing `prefix` each send `per_instance` messages through `adapter`; returns
/// once all went out.
async fn two_instances_send(adapter: &Timed, prefix: &str, per_instance: usize) {
    let a = instance(adapter, prefix).await;
    let b = instance(adapter, prefix).await;
    assert_eq!(
        (a.rate_limits_shared(), b.rate_limits_shared()),
        (Some(true), Some(true))
    );
    enqueue(&a, "a", per_instance).await;
    enqueue(&b, "b", per_instance).await;
    let (wa, wb) = (a.start_workers(), b.start_workers());
    let all = 2 * per_instance;
    assert!(
        eventually(Duration::from_secs(60), || async {
            adapter.inner.sent().len() == all
        })
        .await,
        "sent {} of {all}",
        adapter.inner.sent().len()
    );
    wa.stop().await;
    wb.stop().await;
}

async fn enqueue(sb: &Switchboard, who: &str, n: usize) {
    for i in 0..n {
        let to = ConversationRef::new(
            ChannelName::new("shared").unwrap(),
            ConversationId::new(format!("{who}-{i}")).unwrap(),
        );
        sb.send(to, OutboundMessage::text(format!("{who} {i}")).unwrap())
            .await
            .unwrap();
    }
}

/// The most sends that started within any window of `window` after the first one.
fn busiest(times: &[Instant], window: Duration) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn delete_keys(prefix: &str) {
    let client = redis::Client::open(format!("redis://{REDIS_ADDR}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_together_stay_within_the_channels_rate() {
    if !require_service("Redis", REDIS_ADDR).await {
        return;
    }
    let prefix = prefix();
    let adapter = Timed::new(memory("shared"));
    two_instances_send(&adapter, &prefix, 30).await;
    let mut times = adapter.times.lock().unwrap().clone();
    times.sort();
    let span = (times[times.len() - 1] - times[0]).as_secs_f64();
    let overall = (times.len() - f64::from(BURST) as usize) as f64 / span;
    let in_a_second = busiest(&times, Duration::from_secs(1));
    let in_two = busiest(&times, Duration::from_secs(2));
    println!(
        "60 sends by two instances in {span:.2} s: {overall:.1}/s after the burst; \
         busiest 1 s: {in_a_second}, busiest 2 s: {in_two} (limit {RATE}/s, burst {BURST})"
    );
    // Unshared, the two would send 20/s. Margins for scheduling noise between the check and
    // the adapter's clock.
    assert!(overall <= RATE * 1.2, "{overall:.1}/s");
    assert!(
        in_a_second <= BURST as usize + RATE as usize + 2,
        "{in_a_second} in 1 s"
    );
    assert!(
        in_two <= BURST as usize + 2 * RATE as usize + 2,
        "{in_two} in 2 s"
    );
    delete_keys(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_answered_to_one_instance_pauses_both() {
    if !require_service("Redis", REDIS_ADDR).await {
        return;
    }
    let prefix = prefix();
    let adapter = Timed::new(memory("shared"));
    let pause = Duration::from_secs(3);
    // The first send (whichever instance makes it) is answered 429 with Retry-After 3 s.
    adapter.inner.fail_next(faults::rate_limited(pause));
    two_instances_send(&adapter, &prefix, 10).await;
    let answers = adapter.answers.lock().unwrap().clone();
    let limited_at = answers.iter().find(|(_, limited)| *limited).unwrap().0;
    let times = adapter.times.lock().unwrap().clone();
    // A call the other instance let through just before the pause reached Redis may start
    // right after the 429; none starts later within the pause (500 ms margin at each end).
    let during: Vec<Duration> = times
        .iter()
        .filter_map(|t| t.checked_duration_since(limited_at))
        .filter(|d| *d > Duration::from_millis(500) && *d < pause - Duration::from_millis(500))
        .collect();
    println!(
        "429 at +0; calls at {:?}",
        times
            .iter()
            .filter_map(|t| t.checked_duration_since(limited_at))
            .take(6)
            .collect::<Vec<_>>()
    );
    assert!(
        during.is_empty(),
        "calls during the shared pause: {during:?}"
    );
    delete_keys(&prefix).await;
}
