//! [`Hub`]: the live event streams of this process, by conversation. An append wakes the
//! conversation's streams (they read the new records from the store: the log, never the
//! wake-up, carries content); an ephemeral event (typing) is handed to the streams open now.
//! A conversation nobody follows costs nothing: its entry leaves with its last stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use switchboard_webchat::wire::Event;
use tokio::sync::broadcast;

/// How many signals a slow stream may fall behind before it re-reads the log (it then misses
/// only ephemeral events). Every conversation followed keeps this many slots, so few: a stream
/// that falls behind loses no record, since records are read from the log, never from the
/// signal (`events::tests::a_stream_that_falls_behind_loses_no_record`).
pub(crate) const SIGNALS: usize = 4;

/// What a stream is told.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    /// Records were appended: read the log after the cursor.
    Appended,
    /// An ephemeral event to pass on as it is.
    Ephemeral(Arc<Event>),
}

/// The streams of this process, by conversation key (one allocation of the key per
/// conversation followed, shared by its streams).
#[derive(Debug, Default)]
pub(crate) struct Hub {
    conversations: Mutex<HashMap<Arc<str>, broadcast::Sender<Signal>>>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, broadcast::Sender<Signal>>> {
        self.conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows `conversation` (a conversation key) until the subscription is dropped.
    pub(crate) fn subscribe(self: &Arc<Self>, conversation: &str) -> Subscription {
        let mut all = self.lock();
        let (conversation, rx) = match all.get_key_value(conversation) {
            Some((key, tx)) => (key.clone(), tx.subscribe()),
            None => {
                let key: Arc<str> = conversation.into();
                let (tx, rx) = broadcast::channel(SIGNALS);
                all.insert(key.clone(), tx);
                (key, rx)
            }
        };
        drop(all);
        Subscription {
            hub: self.clone(),
            conversation,
            rx,
        }
    }

    /// Records were appended to `conversation`'s log (called after the commit).
    pub(crate) fn wake(&self, conversation: &str) {
        if let Some(tx) = self.lock().get(conversation) {
            let _ = tx.send(Signal::Appended);
        }
    }

    /// Wakes every stream (after missed wake-ups).
    pub(crate) fn wake_all(&self) {
        for tx in self.lock().values() {
            let _ = tx.send(Signal::Appended);
        }
    }

    /// Hands `event` to the streams of `conversation` open now.
    pub(crate) fn publish(&self, conversation: &str, event: Event) {
        if let Some(tx) = self.lock().get(conversation) {
            let _ = tx.send(Signal::Ephemeral(Arc::new(event)));
        }
    }

    /// Conversations followed now.
    #[cfg(test)]
    pub(crate) fn followed(&self) -> usize {
        self.lock().len()
    }
}

/// A stream's subscription to its conversation.
#[derive(Debug)]
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    conversation: Arc<str>,
    rx: broadcast::Receiver<Signal>,
}

impl Subscription {
    /// The conversation key followed (the hub's own copy: a stream keeps no other).
    pub(crate) fn conversation(&self) -> &Arc<str> {
        &self.conversation
    }

    /// The next signal; a stream that fell behind gets `Appended` (it re-reads the log).
    pub(crate) async fn next(&mut self) -> Signal {
        match self.rx.recv().await {
            Ok(signal) => signal,
            Err(broadcast::error::RecvError::Lagged(_)) => Signal::Appended,
            // The hub keeps the sender while any subscription lives: not reached.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut all = self.hub.lock();
        // This receiver still counts: it is the last one when the count is 1.
        if all
            .get(&*self.conversation)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            all.remove(&*self.conversation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_webchat::wire::{Author, Role, TypingEvent};

    #[tokio::test]
    async fn streams_are_woken_and_entries_leave_with_the_last_stream() {
        let hub = Arc::new(Hub::default());
        hub.wake("site/a"); // nobody follows: nothing kept
        assert_eq!(hub.followed(), 0);
        let mut one = hub.subscribe("site/a");
        let mut two = hub.subscribe("site/a");
        hub.wake("site/a");
        assert!(matches!(one.next().await, Signal::Appended));
        assert!(matches!(two.next().await, Signal::Appended));
        let typing = Event::Typing(TypingEvent {
            from: Author::new(Role::Agent),
            active: true,
        });
        hub.publish("site/a", typing.clone());
        match one.next().await {
            Signal::Ephemeral(e) => assert_eq!(*e, typing),
            Signal::Appended => panic!("expected the typing event"),
        }
        // One copy of the key, shared by the conversation's streams.
        assert!(Arc::ptr_eq(one.conversation(), two.conversation()));
        drop(one);
        assert_eq!(hub.followed(), 1);
        drop(two);
        assert_eq!(hub.followed(), 0);
    }

    #[tokio::test]
    async fn a_stream_that_falls_behind_re_reads_the_log() {
        let hub = Arc::new(Hub::default());
        let mut s = hub.subscribe("site/a");
        for _ in 0..SIGNALS * 2 {
            hub.publish(
                "site/a",
                Event::Typing(TypingEvent {
                    from: Author::new(Role::Bot),
                    active: true,
                }),
            );
        }
        assert!(matches!(s.next().await, Signal::Appended));
    }
}
