//! The rate limits of one instance (GCRA, PROTOCOL.md section 10): requests per visitor
//! (`visitor_rate`, keyed by conversation) and new sessions per client IP address. Over a limit
//! is `429 rate_limited` with `Retry-After`.
//!
//! These are in-process limits: each instance keeps its own (PROTOCOL.md section 10 says so to
//! clients); the engine does not share them through its Redis limiter, so N instances behind a
//! load balancer without sticky sessions allow a visitor up to N times them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::config::VisitorRate;
use crate::error::WebchatError;

/// New sessions per client IP: 10 a minute.
pub const SESSIONS_PER_IP_PER_MINUTE: u32 = 10;
/// New sessions per client IP at once.
pub const SESSIONS_PER_IP_BURST: u32 = 20;
/// Keys kept before expired ones are dropped.
const PRUNE_AT: usize = 10_000;

/// One generic cell rate limiter over string keys.
#[derive(Debug)]
pub(crate) struct Gcra {
    /// Time between two requests at the sustained rate.
    interval: Duration,
    /// How far ahead of now the theoretical arrival time may run (the burst).
    tolerance: Duration,
    tats: Mutex<HashMap<String, SystemTime>>,
}

impl Gcra {
    pub(crate) fn new(per_second: f64, burst: u32) -> Self {
        let interval = Duration::try_from_secs_f64(1.0 / per_second).unwrap_or(Duration::MAX);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(burst),
            tats: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` at `now`, or says how long to wait.
    pub(crate) fn check(&self, key: &str, now: SystemTime) -> Result<(), WebchatError> {
        let mut tats = self.tats.lock().unwrap_or_else(PoisonError::into_inner);
        if tats.len() >= PRUNE_AT {
            tats.retain(|_, tat| *tat > now);
        }
        let tat = tats.get(key).copied().filter(|t| *t > now).unwrap_or(now);
        let next = tat + self.interval;
        let ahead = next.duration_since(now).unwrap_or_default();
        if ahead > self.tolerance {
            return Err(WebchatError::rate_limited(ahead - self.tolerance));
        }
        tats.insert(key.to_owned(), next);
        Ok(())
    }
}

/// The limits of one channel.
#[derive(Debug)]
pub(crate) struct Limits {
    visitors: Gcra,
    sessions: Gcra,
}

impl Limits {
    pub(crate) fn new(rate: VisitorRate) -> Self {
        Limits {
            visitors: Gcra::new(rate.per_second, rate.burst),
            sessions: Gcra::new(
                f64::from(SESSIONS_PER_IP_PER_MINUTE) / 60.0,
                SESSIONS_PER_IP_BURST,
            ),
        }
    }

    /// One request of the visitor of `conversation`.
    pub(crate) fn visitor(&self, conversation: &str, now: SystemTime) -> Result<(), WebchatError> {
        self.visitors.check(conversation, now)
    }

    /// One new session from `ip`.
    pub(crate) fn session(&self, ip: IpAddr, now: SystemTime) -> Result<(), WebchatError> {
        self.sessions.check(&ip.to_string(), now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::error::Reason;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let g = Gcra::new(2.0, 10);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        for i in 0..10 {
            assert!(g.check("a", t0).is_ok(), "request {i} of the burst");
        }
        let e = g
            .check("a", t0)
            .err()
            .unwrap_or_else(|| panic!("11th passed"));
        assert_eq!(e.reason(), Reason::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(500)));
        assert!(g.check("b", t0).is_ok(), "keys are separate");
        assert!(g.check("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(g.check("a", t0 + Duration::from_millis(500)).is_err());
        assert!(
            g.check("a", t0 + Duration::from_secs(60)).is_ok(),
            "the bucket refills"
        );
    }

    #[test]
    fn sessions_per_ip() {
        let l = Limits::new(VisitorRate::default());
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let ip: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..SESSIONS_PER_IP_BURST {
            assert!(l.session(ip, t0).is_ok());
        }
        let e = l.session(ip, t0).err().map(|e| e.retry_after());
        assert_eq!(e, Some(Some(Duration::from_secs(6))));
        assert!(l.session([192, 0, 2, 2].into(), t0).is_ok());
    }
}
