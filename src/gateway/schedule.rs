//! When a failed delivery is tried again: the configured schedule (the spec's by default),
//! jittered, and never before the endpoint's `Retry-After`.

use std::time::Duration;

/// The delay before the next attempt after `attempts` failed ones, or `None` when the
/// schedule is used up (the event becomes a dead letter). `retry_after` (the endpoint's
/// header) is a lower bound. Jitter: ±10 %, at most ±1 min.
pub(crate) fn next_delay(
    schedule: &[Duration],
    attempts: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let base = *schedule.get(usize::try_from(attempts).ok()?)?;
    let spread = (base / 10).min(Duration::from_secs(60));
    let jittered = if spread.is_zero() {
        base
    } else {
        let offset = Duration::from_nanos(fastrand::u64(0..=2 * spread.as_nanos() as u64));
        (base + offset).saturating_sub(spread)
    };
    Some(retry_after.map_or(jittered, |r| jittered.max(r)))
}

/// `Retry-After` as seconds (an HTTP date is not honoured; at most a day).
pub(crate) fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::config::DEFAULT_RETRY_SCHEDULE;

    #[test]
    fn follows_the_schedule_with_jitter_then_gives_up() {
        let s = DEFAULT_RETRY_SCHEDULE;
        for _ in 0..100 {
            let d = next_delay(&s, 1, None).unwrap_or_default();
            assert!(
                d >= Duration::from_millis(4500) && d <= Duration::from_millis(5500),
                "{d:?}"
            );
            let d = next_delay(&s, 9, None).unwrap_or_default();
            assert!(
                d >= Duration::from_secs(24 * 3600 - 60)
                    && d <= Duration::from_secs(24 * 3600 + 60)
            );
        }
        assert_eq!(
            next_delay(&s, 10, None),
            None,
            "ten attempts, then a dead letter"
        );
        let d = next_delay(&s, 1, Some(Duration::from_secs(120)));
        assert_eq!(
            d,
            Some(Duration::from_secs(120)),
            "Retry-After is a lower bound"
        );
        assert_eq!(retry_after(Some(" 30 ")), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }
}
