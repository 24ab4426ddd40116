//! Lease renewal for a claim loop: every lease its tasks hold is extended every
//! `engine.lease / 3`, all in one batched store call, so a handler or send that takes longer
//! than the lease keeps it. A crashed engine stops renewing, and its rows come back after at
//! most one lease.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::engine::Engine;
use crate::store::{Lease, Queue};

/// The leases a claim loop's tasks hold.
#[derive(Debug)]
pub(crate) struct Leases {
    queue: Queue,
    held: Mutex<HashSet<Lease>>,
}

impl Leases {
    pub(crate) fn new(queue: Queue) -> Self {
        Leases {
            queue,
            held: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Lease>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A task holds `lease` from now on.
    pub(crate) fn hold(&self, lease: Lease) {
        self.lock().insert(lease);
    }

    /// The task holding `lease` is over.
    pub(crate) fn release(&self, lease: Lease) {
        self.lock().remove(&lease);
    }
}

/// Renews every held lease every `engine.lease / 3`, until the claim loop aborts it (after its
/// tasks are over, or their shutdown grace).
pub(crate) async fn renew(engine: Arc<Engine>, leases: Arc<Leases>) {
    let length = engine.config.engine.lease;
    let period = (length / 3).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let held: Vec<Lease> = leases.lock().iter().copied().collect();
        if held.is_empty() {
            continue;
        }
        let queue = leases.queue.name();
        match engine
            .store
            .renew(leases.queue, &held, SystemTime::now() + length)
            .await
        {
            Ok(renewed) => {
                let lost = renewed.iter().filter(|r| !**r).count();
                if lost > 0 {
                    tracing::warn!(queue, lost, "leases lost while still running");
                }
                tracing::trace!(queue, renewed = held.len() - lost, "leases renewed");
            }
            Err(e) => tracing::warn!(queue, error = %e, "renewing leases failed"),
        }
    }
}
