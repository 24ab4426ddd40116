//! Redis outages on the connection path (a proxy the test cuts, black-holes and restores; the
//! Redis server itself is untouched): sends go on within the local share, the fallbacks are
//! counted, each outage is warned once, and the limits are shared again once Redis is back.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use super::tests::Fixture;
use crate::config::RateConfig;
use crate::metrics::RateLimitMetrics;
use crate::ratelimit::ChannelLimits;
use crate::testkit::{REDIS_ADDR, TcpProxy};

/// The log lines written while the test runs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn count(&self, level: &str, text: &str) -> usize {
        let logs = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        logs.lines()
            .filter(|l| l.contains(level) && l.contains(text))
            .count()
    }
}

/// What one phase of sending as fast as the limits allow came to.
struct Phase {
    sent: u32,
    elapsed: f64,
    slowest_check: Duration,
}

impl Phase {
    /// The most a limit of `per_second` with `burst` allows in this phase (+1 for the edges).
    fn most(&self, per_second: f64, burst: u32) -> f64 {
        f64::from(burst) + per_second * self.elapsed + 1.0
    }

    fn rate(&self) -> f64 {
        f64::from(self.sent) / self.elapsed
    }
}

/// Sends to new conversations as fast as `limits` allow, for `how_long`.
async fn send_for(limits: &ChannelLimits, how_long: Duration) -> Phase {
    let start = Instant::now();
    let mut phase = Phase {
        sent: 0,
        elapsed: 0.0,
        slowest_check: Duration::ZERO,
    };
    let mut n = 0;
    while start.elapsed() < how_long {
        n += 1;
        let check = Instant::now();
        let answer = limits.try_acquire(&format!("c{n}")).await;
        phase.slowest_check = phase.slowest_check.max(check.elapsed());
        match answer {
            Ok(()) => phase.sent += 1,
            Err(wait) => tokio::time::sleep(wait.min(Duration::from_millis(100))).await,
        }
    }
    phase.elapsed = start.elapsed().as_secs_f64();
    phase
}

async fn eventually_shared(m: &RateLimitMetrics) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if m.is_shared() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn an_outage_falls_back_to_the_local_share_warns_once_and_recovers() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let proxy = TcpProxy::start(REDIS_ADDR).await.unwrap();
    let config = f
        .config(&format!("redis://{}", proxy.addr()))
        // Generous, so a loaded machine does not fall back while Redis is there; a black hole
        // costs one check this long.
        .with_timeout(Duration::from_secs(1))
        .with_instances(2);
    // 20/s with a burst of 2; each of 2 instances' local share: 10/s with a burst of 1.
    let rate = RateConfig::new(Some(20.0), None).with_burst(2);
    let (limits, m) = Fixture::instance_with(&config, &rate).await;
    assert!(m.is_shared());
    let fallbacks = || m.fallbacks("ch").get();
    let warned = || logs.count("WARN", "is unreachable");
    let back = || logs.count("INFO", "reachable again");

    let shared = send_for(&limits, Duration::from_secs(1)).await;
    assert!(
        f64::from(shared.sent) <= shared.most(20.0, 2),
        "shared: {}",
        shared.sent
    );
    assert_eq!(fallbacks(), 0);

    // Cut: connections are closed, new ones refused.
    proxy.cut();
    let cut = send_for(&limits, Duration::from_secs(2)).await;
    let cut_fallbacks = fallbacks();
    assert!(cut.sent > 0, "sending stopped during the outage");
    assert!(
        f64::from(cut.sent) <= cut.most(10.0, 1),
        "cut: {} sends",
        cut.sent
    );
    assert!(cut_fallbacks > 0);
    assert!(!m.is_shared());
    assert_eq!(warned(), 1, "one warning per outage");
    assert!(
        cut.slowest_check < Duration::from_secs(2),
        "{:?}",
        cut.slowest_check
    );

    proxy.restore();
    assert!(
        eventually_shared(&m).await,
        "not shared again after Redis came back"
    );
    let restored = send_for(&limits, Duration::from_secs(1)).await;
    assert_eq!(
        fallbacks(),
        cut_fallbacks,
        "fallbacks after Redis came back"
    );
    assert!(f64::from(restored.sent) <= restored.most(20.0, 2));
    assert_eq!(back(), 1);

    // Black hole: the connection stays open and nothing answers; each check waits at most
    // the timeout, once, then the local share decides without waiting.
    proxy.black_hole();
    let hole = send_for(&limits, Duration::from_secs(3)).await;
    let hole_fallbacks = fallbacks() - cut_fallbacks;
    assert!(hole.sent > 0);
    assert!(
        f64::from(hole.sent) <= hole.most(10.0, 1),
        "black hole: {} sends",
        hole.sent
    );
    assert!(hole_fallbacks > 0);
    assert!(
        hole.slowest_check < Duration::from_secs(2),
        "{:?}",
        hole.slowest_check
    );
    assert_eq!(warned(), 2, "one warning per outage");

    proxy.restore();
    assert!(eventually_shared(&m).await);
    let again = send_for(&limits, Duration::from_secs(1)).await;
    assert_eq!(fallbacks(), cut_fallbacks + hole_fallbacks);
    assert_eq!(back(), 2);

    println!("phase        sends  seconds  sends/s  slowest check  fallbacks  shared");
    for (name, p, fb, shared) in [
        ("shared", &shared, 0, true),
        ("cut", &cut, cut_fallbacks, false),
        ("restored", &restored, 0, true),
        ("black hole", &hole, hole_fallbacks, false),
        ("restored", &again, 0, true),
    ] {
        println!(
            "{name:<12} {:>5}  {:>7.2}  {:>7.1}  {:>13?}  {fb:>9}  {shared}",
            p.sent,
            p.elapsed,
            p.rate(),
            p.slowest_check
        );
    }
    println!(
        "limit 20/s burst 2; local share 10/s burst 1; warnings {}, back-to-shared notices {}",
        warned(),
        back()
    );
    drop(_guard);
    f.cleanup().await;
}
