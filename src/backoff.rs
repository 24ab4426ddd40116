//! Exponential backoff with jitter for handler and send retries.

use std::time::Duration;

/// The delay before retry number `attempt` (1 = the first retry): `base · 2^(attempt-1)`,
/// capped at `max`, then "equal jitter": a random point in the upper half, so retries of many
/// rows spread out while each still waits at least half the nominal delay.
pub(crate) fn delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let nominal = base.saturating_mul(1u32 << exp).min(max);
    let half = nominal / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(fastrand::u64(0..=jitter_ms))
}

/// The delay honouring a provider's `Retry-After`: never shorter than it asks.
pub(crate) fn delay_after(
    attempt: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let d = delay(attempt, base, max);
    match retry_after {
        Some(after) => d.max(after),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for _ in 0..100 {
            let d1 = delay(1, base, max);
            assert!(d1 >= Duration::from_millis(50) && d1 <= base, "{d1:?}");
            let d3 = delay(3, base, max);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d20 = delay(20, base, max);
            assert!(d20 >= Duration::from_secs(1) && d20 <= max);
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| delay(5, base, max)).collect();
        assert!(spread.len() > 5, "jitter spreads retries");
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let d = delay_after(
            1,
            Duration::from_millis(10),
            Duration::from_secs(1),
            Some(Duration::from_secs(3)),
        );
        assert_eq!(d, Duration::from_secs(3));
    }
}
