//! [`Wake`]: how a claim loop learns there is work. Producers wake it at once (an insert, a
//! completion that queued replies, an application send) or at a time (a retry, a deferred
//! send: an alarm for the earliest one); polling every `engine.poll_interval` is only the
//! safety net for what no wake-up announces (leases of a crashed engine running out, another
//! process's writes).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

/// The most alarms remembered; later ones are found by polling.
const MAX_ALARMS: usize = 4096;

/// Wake-ups of one claim loop.
#[derive(Debug, Default)]
pub(crate) struct Wake {
    notify: Notify,
    alarms: Mutex<BTreeSet<Instant>>,
}

impl Wake {
    /// Work is ready now.
    pub(crate) fn notify_one(&self) {
        self.notify.notify_one();
    }

    /// Work becomes ready at `at` (a row released until then).
    pub(crate) fn at(&self, at: SystemTime) {
        let after = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        // A little after the row is due, so the claim finds it ready (times are milliseconds).
        let when = Instant::now() + after + Duration::from_millis(2);
        let earliest = {
            let mut alarms = self.lock();
            if alarms.len() >= MAX_ALARMS {
                match alarms.last().copied() {
                    Some(last) if last > when => {
                        alarms.remove(&last);
                    }
                    _ => return,
                }
            }
            alarms.insert(when);
            alarms.first().copied() == Some(when)
        };
        if earliest {
            // The loop recomputes how long to sleep.
            self.notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<Instant>> {
        self.alarms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until woken, the earliest alarm, or `poll` from now, whichever comes first.
    pub(crate) async fn wait(&self, poll: Duration) {
        let now = Instant::now();
        let alarm = {
            let mut alarms = self.lock();
            // Alarms already due are spent: the caller claims next.
            while alarms.first().is_some_and(|a| *a <= now) {
                alarms.pop_first();
            }
            alarms.first().copied()
        };
        let deadline = alarm.map_or(now + poll, |a| a.min(now + poll));
        tokio::select! {
            () = self.notify.notified() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Passes the store's wake-ups (writes of other processes sharing it) on to the claim loops
/// until `stop`.
pub(crate) async fn forward_wake_ups(
    engine: std::sync::Arc<super::Engine>,
    mut wake_ups: tokio::sync::broadcast::Receiver<crate::store::Queue>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        tokio::select! {
            got = wake_ups.recv() => match got {
                Ok(crate::store::Queue::Inbox) => engine.inbox_ready.notify_one(),
                Ok(_) => engine.outbox_ready.notify_one(),
                // Missed some: wake both.
                Err(RecvError::Lagged(_)) => {
                    engine.inbox_ready.notify_one();
                    engine.outbox_ready.notify_one();
                }
                Err(RecvError::Closed) => return,
            },
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alarms_wake_the_loop_when_due_and_polling_is_the_fallback() {
        let wake = Wake::default();
        let poll = Duration::from_millis(300);
        let start = Instant::now();
        wake.wait(poll).await;
        assert!(start.elapsed() >= poll, "polls without wake-ups");
        let long = Duration::from_secs(30);
        wake.at(SystemTime::now() + Duration::from_millis(100));
        // The alarm notified the loop (it recomputes its sleep) ...
        let start = Instant::now();
        wake.wait(long).await;
        assert!(start.elapsed() < Duration::from_millis(90));
        // ... then sleeps until the alarm, not the poll.
        wake.wait(long).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        wake.notify_one();
        let start = Instant::now();
        wake.wait(long).await;
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
