//! The one claim loop shared by the workers (inbox) and the sender (outbox): claim up to the
//! free capacity of ready conversation heads, process each in its own task while its lease is
//! renewed ([`lease`](crate::lease)), and when nothing is ready sleep until woken
//! ([`Wake`](crate::engine::Wake): new work, a retry coming due, or the polling safety net).
//! On stop, running tasks get `server.shutdown_grace`; the rest keep their leases and run
//! again after them.
//!
//! A task gives its [`Slot`] back when its work is done and only its final write is left (a
//! completion, a send marked sent): the next claim then goes to the store while that write
//! waits for its commit, so both share one group commit (one fsync) instead of taking one
//! each. The write keeps its lease until it is committed, so at most `2 × capacity` rows are
//! leased at once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchboard_core::Result;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::engine::{Engine, Wake};
use crate::lease::Leases;
use crate::store::{Claim, Lease};

/// A task's place in its claim loop's capacity; [`free`](Slot::free) (or dropping it) lets
/// the loop claim another row.
#[derive(Debug)]
pub(crate) struct Slot(Option<OwnedSemaphorePermit>);

impl Slot {
    /// The task's work is done but for its final write: the loop may claim in its place.
    pub(crate) fn free(&mut self) {
        self.0 = None;
    }
}

/// A queue the claim loop drains.
pub(crate) trait Queue: Send + Sync + 'static {
    /// What a claim hands out.
    type Item: Send + 'static;

    /// The store's name of the queue (leases are renewed on it).
    const KIND: crate::store::Queue;

    /// Rows processed at once.
    fn capacity(engine: &Engine) -> usize;

    /// The loop's wake-ups.
    fn wake(engine: &Engine) -> &Wake;

    /// Claims ready heads.
    fn claim(engine: &Engine, claim: Claim)
    -> impl Future<Output = Result<Vec<Self::Item>>> + Send;

    /// The lease an item was claimed under.
    fn lease(item: &Self::Item) -> Lease;

    /// Processes one item to its end (finished, released or dead-lettered), freeing `slot`
    /// before its final write.
    fn process(
        engine: Arc<Engine>,
        item: Self::Item,
        slot: Slot,
    ) -> impl Future<Output = ()> + Send;
}

/// Claims and processes `Q`'s rows until `stop`.
pub(crate) async fn run<Q: Queue>(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    let capacity = Q::capacity(&engine).max(1);
    let slots = Arc::new(Semaphore::new(capacity));
    let leases = Arc::new(Leases::new(Q::KIND));
    let renewal = tokio::spawn(crate::lease::renew(engine.clone(), leases.clone()));
    let wake = Q::wake(&engine);
    let mut running = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        // Every slot given back so far (not only the one that woke the loop): a claim fills
        // all free slots at once.
        let free = slots.available_permits();
        let mut claimed = 0;
        if free > 0 {
            let claim = Claim::new(SystemTime::now(), engine.config.engine.lease, free);
            match Q::claim(&engine, claim).await {
                Ok(items) => {
                    claimed = items.len();
                    for item in items {
                        // Only this loop takes slots, and it claimed at most the free ones.
                        let slot = Slot(slots.clone().try_acquire_owned().ok());
                        let lease = Q::lease(&item);
                        leases.hold(lease);
                        let (engine, leases) = (engine.clone(), leases.clone());
                        running.spawn(async move {
                            Q::process(engine, item, slot).await;
                            leases.release(lease);
                        });
                    }
                }
                Err(e) => tracing::error!(queue = Q::KIND.name(), error = %e, "claiming failed"),
            }
        }
        if claimed > 0 {
            // More may be ready: claim again once a slot is free (at once if one is).
            if claimed == free {
                tokio::select! {
                    _ = slots.acquire() => {}
                    _ = stop.changed() => {}
                }
                // The task that gave its slot back woke this loop first: let the others that
                // are done too give theirs back, so the next claim fills them all at once.
                tokio::task::yield_now().await;
            }
            continue;
        }
        tokio::select! {
            () = wake.wait(engine.config.engine.poll_interval) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = stop.changed() => {}
        }
    }
    drain(running, engine.config.server.shutdown_grace).await;
    renewal.abort();
}
/// Lets running tasks finish up to `grace`, then aborts the rest (their leases bring them back).
async fn drain(mut running: JoinSet<()>, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while !running.is_empty() {
        if tokio::time::timeout_at(deadline, running.join_next())
            .await
            .is_err()
        {
            tracing::warn!(
                left = running.len(),
                "shutdown grace over; leaving rows leased"
            );
            running.abort_all();
            break;
        }
    }
}
