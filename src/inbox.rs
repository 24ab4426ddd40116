//! The inbox side of the data flow, for the claim loop: the workers claim ready conversation
//! heads (one event at a time per conversation, up to `engine.workers` conversations at
//! once) and [`worker`](crate::worker) handles each. Finishing an event (handled, retried,
//! dead-lettered) goes through here, so a retry wakes the loop when it comes due.

use std::sync::Arc;

use switchboard_core::Result;

use crate::claim_loop::{Queue, Slot};
use crate::engine::{Engine, Wake};
use crate::store::{self, Claim, InboxFinish, InboxItem, InboxOutcome, Lease};

/// The inbox, as the workers' claim loop sees it.
pub(crate) struct Inbox;

impl Queue for Inbox {
    type Item = InboxItem;
    const KIND: store::Queue = store::Queue::Inbox;

    fn capacity(engine: &Engine) -> usize {
        engine.config.engine.workers
    }

    fn wake(engine: &Engine) -> &Wake {
        &engine.inbox_ready
    }

    async fn claim(engine: &Engine, claim: Claim) -> Result<Vec<InboxItem>> {
        engine.store.claim_inbox(claim).await
    }

    fn lease(item: &InboxItem) -> Lease {
        item.lease
    }

    async fn process(engine: Arc<Engine>, item: InboxItem, slot: Slot) {
        crate::worker::handle(engine, item, slot).await;
    }
}

/// Finishes a claimed event: `Ok(true)` done, `Ok(false)` its lease was lost, an error when
/// the store refused it (nothing written). A retry wakes the workers when it is due, and a
/// completion that queued replies wakes the sender.
pub(crate) async fn finish(engine: &Engine, lease: Lease, outcome: InboxOutcome) -> Result<bool> {
    let retry_at = match &outcome {
        InboxOutcome::Retry { at, .. } => Some(*at),
        _ => None,
    };
    let ends = matches!(
        outcome,
        InboxOutcome::Done(_) | InboxOutcome::DeadLetter { .. }
    );
    let replies = match &outcome {
        InboxOutcome::Done(c) => c.outbox.len(),
        _ => 0,
    };
    // The replies join the backlog before they are committed, so the sender can never end
    // their first claim before they are counted (`crate::backlog`); undone if nothing was
    // written.
    let queued: Vec<String> = match &outcome {
        InboxOutcome::Done(c) if engine.backlog.bounded() => {
            c.outbox.iter().map(|o| o.key.clone()).collect()
        }
        _ => Vec::new(),
    };
    engine.backlog.queued(queued.iter().map(String::as_str));
    let answer = engine
        .store
        .finish_inbox(vec![InboxFinish::new(lease, outcome)])
        .await
        .and_then(|mut answers| {
            answers
                .pop()
                .unwrap_or_else(|| Err(store::store_error("finish", "no answer")))
        });
    if !matches!(answer, Ok(true)) {
        queued.iter().for_each(|k| engine.backlog.claimed(k));
    }
    let done = answer?;
    if done {
        if ends {
            // Room in the backlog for a waiting webhook (`crate::backlog`).
            engine.backlog.ended();
        }
        if let Some(at) = retry_at {
            engine.inbox_ready.at(at);
        }
        if replies > 0 {
            engine.outbox_ready.notify_one();
        }
    }
    Ok(done)
}
