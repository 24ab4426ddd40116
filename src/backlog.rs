//! Backpressure from the backlog: the events acknowledged and not yet handled, and the
//! replies queued and not yet sent.
//!
//! A durable queue absorbs a burst by acknowledging faster than it handles, but without a
//! bound the burst becomes a backlog that outlives it: on one core, hundreds of connections'
//! requests share the runtime with the claim loops, so acknowledging takes the CPU that
//! handling and sending need, and every event waits longer the harder the provider pushes
//! (`load/README.md`, "Backpressure from the backlog": 400 connections were acknowledged at
//! 12–14k webhooks/s while 3k replies/s went out, and the last reply came 11–13 s after a 10 s
//! burst).
//!
//! So the webhook route stores a verified webhook's events only while the backlog is below
//! `server.max_backlog`; at the bound it waits for room (each event or reply leaving the count
//! wakes one waiting webhook; one admitted that stores nothing new passes the wake-up on),
//! holding its connection and its `max_in_flight` permit but no CPU, and answers **503** with
//! `Retry-After: 1` when `server.request_timeout` passes first (the provider retries; dedupe
//! keeps a retry from running twice). Providers see slower acknowledgements; errors come when
//! the engine stays behind for the whole request timeout, or when every `max_in_flight`
//! permit is held by a waiting webhook (503 at once, as without the bound).
//!
//! **What is counted.** The engine counts the events it stored (webhooks and web chat posts;
//! only new ones, never duplicates; web chat posts are counted but never wait) until their
//! handling ends (handled or dead-lettered; a retry stays in the backlog), starting from the
//! store's pending count when it is built, **and** the replies handlers queue until their
//! first claim ends (sent, or deferred by a rate limit or a provider's `Retry-After`, or
//! released for a retry, or dead-lettered). Without the replies the bound only moves the pile:
//! measured at 400 connections, the handlers kept up with a bounded inbox while their replies
//! piled up in the outbox at 2k/s. The application's own sends
//! ([`Switchboard::send`](crate::Switchboard::send), a broadcast) are not counted.
//!
//! **The trade-off.** What cannot make progress stays counted: events whose handler keeps
//! failing until they are dead-lettered, and replies queued behind a conversation's head
//! that waits for a rate limit or a provider's pause (only a conversation's head is claimed).
//! A handler dependency or a provider that stays down while customers keep writing fills the
//! bound, and then every channel's webhooks are answered 503 until it drains: the bound
//! trades an unbounded pile for refusals the providers retry (Meta retries for hours; Twilio
//! retries little). Raise `max_backlog`, or set it to 0 for no bound, where absorbing a long
//! outage matters more than how far behind the engine may fall.
//!
//! **Where it applies.** The count is exact only when this process is the store's one user
//! ([`Store::exclusive`](crate::store::Store::exclusive): the memory store; SQLite, one engine
//! per file). A store shared by several processes (PostgreSQL) has a backlog no instance can
//! count alone, and a store that does not say it is exclusive (the default) is not bounded.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

/// The backlog this process counts, and the webhooks waiting for room in it.
#[derive(Debug)]
pub(crate) struct Backlog {
    /// Events stored and not yet handled or dead-lettered, plus replies queued and not yet
    /// through their first claim. Signed, read as at least zero: an event can be handled
    /// before the webhook that stored it has counted it (the writer commits the insert and
    /// the claim together), so an end may come before its start.
    pending: AtomicI64,
    /// `server.max_backlog`; 0: not bounded (also when the backlog cannot be counted here).
    limit: i64,
    /// One waiting webhook is woken per event or reply that leaves the count.
    room: Notify,
    /// The keys of the outbox rows counted in `pending`.
    queued: Mutex<HashSet<String>>,
}

impl Backlog {
    /// A backlog of `pending` events bounded by `limit` (0: unbounded).
    pub(crate) fn new(limit: usize, pending: u64) -> Self {
        Backlog {
            pending: AtomicI64::new(i64::try_from(pending).unwrap_or(i64::MAX)),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
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

    /// The events and replies counted (never below zero).
    pub(crate) fn pending(&self) -> u64 {
        u64::try_from(self.pending.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// An admitted webhook stored `new` events (0: all duplicates, or the insert failed).
    /// One that stored nothing passes its wake-up on to the next waiting webhook while there
    /// is room, so the room it was admitted to is not left unused.
    pub(crate) fn added(&self, new: u64) {
        if !self.bounded() {
            return;
        }
        if new > 0 {
            self.pending
                .fetch_add(i64::try_from(new).unwrap_or(i64::MAX), Ordering::Relaxed);
        } else if self.pending.load(Ordering::Relaxed) < self.limit {
            self.room.notify_one();
        }
    }

    /// One event's handling ended (handled or dead-lettered): room for one waiting webhook.
    pub(crate) fn ended(&self) {
        if !self.bounded() {
            return;
        }
        // An event stored before the count began (not counted) may take it below zero for a
        // while; `pending` reads that as zero.
        self.pending.fetch_sub(1, Ordering::Relaxed);
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
            if self.pending.load(Ordering::Relaxed) < self.limit {
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
        let admitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
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
    fn an_end_counted_before_its_start_is_not_lost() {
        let b = Backlog::new(10, 0);
        // The event was handled before its webhook counted it.
        b.ended();
        assert_eq!(b.pending(), 0, "read as zero");
        b.added(1);
        assert_eq!(b.pending(), 0, "the start matched the end that came first");
        b.added(3);
        assert_eq!(b.pending(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_admitted_webhook_that_stores_nothing_passes_the_wake_up_on() {
        let b = Arc::new(Backlog::new(1, 1));
        let waiter = |b: Arc<Backlog>| tokio::spawn(async move { b.room().await });
        let (first, second) = (waiter(b.clone()), waiter(b.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.ended();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            u8::from(first.is_finished()) + u8::from(second.is_finished()),
            1,
            "one ended event admits one webhook"
        );
        // The admitted webhook's events were all duplicates.
        b.added(0);
        tokio::time::timeout(Duration::from_secs(1), async {
            first.await.unwrap();
            second.await.unwrap();
        })
        .await
        .expect("the room left by a webhook that stored nothing went unused");
    }
}
