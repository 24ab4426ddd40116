//! Backpressure from the inbox backlog: the events acknowledged and not yet handled.
//!
//! A durable queue absorbs a burst by acknowledging faster than it handles, but without a
//! bound the burst becomes a backlog that outlives it: on one core, hundreds of connections'
//! requests share the runtime with the claim loops, so acknowledging takes the CPU that
//! handling needs, and every event waits longer the harder the provider pushes (measured in
//! `load/README.md`, "Backpressure from the backlog": 400 connections acknowledged 14k
//! webhooks/s while 3k/s were handled, and the backlog took 12 s to drain after a 10 s burst).
//!
//! So the webhook route stores a verified webhook's events only while the backlog is below
//! `server.max_backlog`; at the bound it waits for room (each event or outbox row leaving the
//! count makes room for one waiting webhook at a time, in the order they came), holding its
//! connection and its `max_in_flight` permit but no CPU, and answers **503** with
//! `Retry-After: 1` when `server.request_timeout` passes first (the provider retries; dedupe
//! keeps a retry from running twice). Providers see slower acknowledgements, not errors,
//! unless the handlers stay behind for the whole request timeout.
//!
//! **What is counted.** The engine counts the events it stored (webhooks and web chat
//! posts; only new ones, never duplicates) until their handling ends (handled or
//! dead-lettered; a retry stays in the backlog), starting from the store's pending count when
//! it is built, **and** the replies handlers queue until their first claim ends (sent, or
//! deferred by a rate limit, or released for a retry, or dead-lettered). The application's own
//! sends ([`Switchboard::send`](crate::Switchboard::send), a broadcast) are not counted: they
//! must not hold customers' webhooks back.
//! Without the second part the bound only moves the pile: measured at 400 connections, the
//! handlers kept up with a bounded inbox while the replies they queued piled up in the outbox
//! at 2k/s. A row waiting for a rate limit or a provider's `Retry-After` leaves the count at
//! its first deferral, so a throttled channel cannot hold every webhook back. That count is exact only when this process is the store's one user, which is
//! what a store without [`wake_ups`](crate::store::Store::wake_ups) says (the memory store,
//! SQLite: one engine per file). A store shared by several processes (PostgreSQL) has a
//! backlog no instance can count alone, so there the bound is off and each instance
//! acknowledges at its own pace (open item in `DESIGN.md`).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// The backlog this process counts, and the webhooks waiting for room in it.
#[derive(Debug)]
pub(crate) struct Backlog {
    /// Events stored and not yet handled or dead-lettered, plus outbox rows queued and not yet
    /// through their first claim.
    pending: AtomicU64,
    /// `server.max_backlog`; 0: not bounded (also when the backlog cannot be counted here).
    limit: u64,
    /// One waiting webhook is woken per event or outbox row that leaves the count.
    room: Notify,
    /// The keys of the outbox rows counted in `pending`.
    queued: Mutex<HashSet<String>>,
}

impl Backlog {
    /// A backlog of `pending` events bounded by `limit` (0: unbounded).
    pub(crate) fn new(limit: usize, pending: u64) -> Self {
        Backlog {
            pending: AtomicU64::new(pending),
            limit: u64::try_from(limit).unwrap_or(u64::MAX),
            room: Notify::new(),
            queued: Mutex::new(HashSet::new()),
        }
    }

    /// Not bounded: nothing is counted, nobody waits.
    pub(crate) fn unbounded() -> Self {
        Backlog::new(0, 0)
    }

    /// Whether the backlog is bounded (and counted).
    pub(crate) fn bounded(&self) -> bool {
        self.limit > 0
    }

    /// The events counted as stored and not yet handled.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// `new` events were stored.
    pub(crate) fn added(&self, new: u64) {
        if self.bounded() && new > 0 {
            self.pending.fetch_add(new, Ordering::Relaxed);
        }
    }

    /// One event's handling ended (handled or dead-lettered): room for one waiting webhook.
    pub(crate) fn ended(&self) {
        if !self.bounded() {
            return;
        }
        // Never below zero (an event stored before a count that missed it).
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        self.room.notify_one();
    }

    /// Outbox rows with these keys were queued (the replies of a handled event): counted
    /// until their first claim ends.
    pub(crate) fn queued<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        if !self.bounded() {
            return;
        }
        let mut queued = self.lock();
        let mut new = 0;
        for key in keys {
            if queued.insert(key.to_owned()) {
                new += 1;
            }
        }
        drop(queued);
        self.added(new);
    }

    /// The claim of the outbox row `key` ended (sent, deferred, retried later, dead-lettered):
    /// the first such end takes the row out of the count. A row waiting for a rate limit or a
    /// retry is no longer the handlers' backlog, and must not hold webhooks back.
    pub(crate) fn claimed(&self, key: &str) {
        if self.bounded() && self.lock().remove(key) {
            self.ended();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns once the backlog is below the bound (at once when unbounded).
    pub(crate) async fn room(&self) {
        if !self.bounded() {
            return;
        }
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the check, so an `ended` between the two is not missed.
            notified.as_mut().enable();
            if self.pending() < self.limit {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn unbounded_never_waits_and_counts_nothing() {
        let b = Backlog::unbounded();
        b.added(1_000_000);
        assert_eq!(b.pending(), 0);
        tokio::time::timeout(Duration::from_secs(1), b.room())
            .await
            .expect("no wait");
    }

    #[tokio::test]
    async fn a_full_backlog_waits_until_an_event_ends() {
        let b = Arc::new(Backlog::new(2, 0));
        b.added(1);
        tokio::time::timeout(Duration::from_secs(1), b.room())
            .await
            .expect("room below the bound");
        b.added(1);
        assert_eq!(b.pending(), 2);
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.room().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the bound holds the webhook back");
        b.ended();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("woken by the event that ended")
            .unwrap();
        assert_eq!(b.pending(), 1);
    }

    #[tokio::test]
    async fn one_ended_event_admits_one_of_several_waiters() {
        let b = Arc::new(Backlog::new(1, 1));
        let admitted = Arc::new(AtomicU64::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (b, admitted) = (b.clone(), admitted.clone());
                tokio::spawn(async move {
                    b.room().await;
                    admitted.fetch_add(1, Ordering::SeqCst);
                    // The admitted webhook stores its event.
                    b.added(1);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(admitted.load(Ordering::SeqCst), 0);
        for expected in 1..=3 {
            b.ended();
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(admitted.load(Ordering::SeqCst), expected);
        }
        for w in waiters {
            w.await.unwrap();
        }
    }

    #[test]
    fn outbox_rows_count_until_their_first_claim_ends() {
        let b = Backlog::new(10, 0);
        b.queued(["a", "b"]);
        b.queued(["a"]);
        assert_eq!(b.pending(), 2, "a key queued twice counts once");
        b.claimed("a");
        assert_eq!(b.pending(), 1);
        b.claimed("a");
        assert_eq!(
            b.pending(),
            1,
            "a later claim of the same row changes nothing"
        );
        b.claimed("unknown");
        assert_eq!(
            b.pending(),
            1,
            "a row queued before the count changes nothing"
        );
        b.claimed("b");
        assert_eq!(b.pending(), 0);
        let unbounded = Backlog::unbounded();
        unbounded.queued(["a"]);
        assert_eq!(unbounded.pending(), 0);
        assert!(unbounded.lock().is_empty(), "no key kept without a bound");
    }

    #[test]
    fn the_count_never_goes_below_zero() {
        let b = Backlog::new(10, 0);
        b.ended();
        b.ended();
        assert_eq!(b.pending(), 0);
        b.added(3);
        assert_eq!(b.pending(), 3);
    }
}
