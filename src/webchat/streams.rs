//! [`Streams`]: the open event streams of this process, by session token, so that a token has
//! at most [`PER_TOKEN`] of them. A stream over the limit closes the token's *oldest*
//! stream (the protocol's choice: the newest tab, the one the visitor is looking at, wins; a
//! tab left in the background is the one told `status closed`). A token is one issued
//! session: the conversation and the issue time its signature covers.
//!
//! The limit is per instance, as the visitor limits are: streams of one token spread over
//! several instances are capped on each.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The most event streams one token keeps open on one instance.
pub(crate) const PER_TOKEN: usize = 5;

/// A token: its conversation (the hub's copy of its key) and its issue time (Unix ms).
type TokenKey = (Arc<str>, i64);

/// A token's open streams, oldest first: (stream number, how to close it).
type Open = VecDeque<(u64, oneshot::Sender<()>)>;

/// The open streams of each token.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    open: Mutex<HashMap<TokenKey, Open>>,
    next: AtomicU64,
}

impl Streams {
    fn lock(&self) -> MutexGuard<'_, HashMap<TokenKey, Open>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new stream of the token (`conversation`, `issued_at`); when that makes more
    /// than [`PER_TOKEN`], the token's oldest stream is told to close.
    pub(crate) fn open(self: &Arc<Self>, conversation: &Arc<str>, issued_at: i64) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let key = (conversation.clone(), issued_at);
        let mut all = self.lock();
        let open = all.entry(key.clone()).or_default();
        open.push_back((id, tx));
        while open.len() > PER_TOKEN {
            if let Some((_, oldest)) = open.pop_front() {
                // A stream that already ended has dropped its receiver: nothing to tell.
                let _ = oldest.send(());
            }
        }
        Slot {
            streams: self.clone(),
            key,
            id,
            closed: rx,
        }
    }

    /// Streams open now for the token (`conversation`, `issued_at`).
    #[cfg(test)]
    pub(crate) fn count(&self, conversation: &str, issued_at: i64) -> usize {
        self.lock()
            .get(&(Arc::from(conversation), issued_at))
            .map_or(0, VecDeque::len)
    }
}

/// One stream's place among its token's streams; dropping it (the stream ended) frees it.
#[derive(Debug)]
pub(crate) struct Slot {
    streams: Arc<Streams>,
    key: TokenKey,
    id: u64,
    /// Resolves when a newer stream of the same token took this one's place.
    pub(crate) closed: oneshot::Receiver<()>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut all = self.streams.lock();
        if let Some(open) = all.get_mut(&self.key) {
            open.retain(|(id, _)| *id != self.id);
            if open.is_empty() {
                all.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sixth_stream_of_a_token_closes_the_oldest() {
        let streams = Arc::new(Streams::default());
        let a: Arc<str> = "site/a".into();
        let mut slots: Vec<Slot> = (0..PER_TOKEN).map(|_| streams.open(&a, 1)).collect();
        // Another token of the same conversation has its own five.
        let other = streams.open(&a, 2);
        assert_eq!(streams.count("site/a", 1), PER_TOKEN);
        assert!(slots.iter_mut().all(|s| s.closed.try_recv().is_err()));
        let mut sixth = streams.open(&a, 1);
        assert_eq!(streams.count("site/a", 1), PER_TOKEN);
        assert!(slots[0].closed.try_recv().is_ok(), "the oldest is closed");
        assert!(slots[1..].iter_mut().all(|s| s.closed.try_recv().is_err()));
        assert!(sixth.closed.try_recv().is_err());
        // The closed one leaving changes nothing; the others leaving free their places.
        drop(slots.remove(0));
        assert_eq!(streams.count("site/a", 1), PER_TOKEN);
        drop(slots);
        drop(sixth);
        assert_eq!(streams.count("site/a", 1), 0);
        assert_eq!(streams.count("site/a", 2), 1);
        drop(other);
        assert!(
            streams.lock().is_empty(),
            "nothing kept for tokens without streams"
        );
    }
}
