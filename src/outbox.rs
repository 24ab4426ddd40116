//! The outbox side of the data flow: application sends are written here
//! ([`enqueue`]); the sender's claim loop claims ready conversation heads (one message at a
//! time per destination conversation, up to `engine.senders` at once) and
//! [`sender`](crate::sender) sends each. Releasing a row until later (a retry, a deferral, a
//! reconciliation asked again) goes through [`release`], so the loop wakes when it is due.

use std::sync::Arc;
use std::time::SystemTime;

use switchboard_core::{ConversationRef, Error, ErrorKind, OutboundMessage, Result};

use crate::claim_loop::{Queue, Slot};
use crate::engine::{Engine, Wake};
use crate::store::{self, Claim, Lease, NewOutbound, OutboxChange, OutboxItem, StoreExt};

/// The outbox, as the sender's claim loop sees it.
pub(crate) struct Outbox;

impl Queue for Outbox {
    type Item = OutboxItem;
    const KIND: store::Queue = store::Queue::Outbox;

    fn capacity(engine: &Engine) -> usize {
        engine.config.engine.senders
    }

    fn wake(engine: &Engine) -> &Wake {
        &engine.outbox_ready
    }

    async fn claim(engine: &Engine, claim: Claim) -> Result<Vec<OutboxItem>> {
        engine.store.claim_outbox(claim).await
    }

    fn lease(item: &OutboxItem) -> Lease {
        item.lease
    }

    async fn process(engine: Arc<Engine>, item: OutboxItem, slot: Slot) {
        crate::sender::send_item(engine, item, slot).await;
    }
}

/// Releases a claimed row until `at` with `change` (one of the releasing changes), and wakes
/// the sender then. `Ok(false)`: the lease was lost.
pub(crate) async fn release(
    engine: &Engine,
    lease: Lease,
    at: SystemTime,
    change: OutboxChange,
) -> Result<bool> {
    let released = engine.store.update_one(lease, change).await?;
    if released {
        engine.outbox_ready.at(at);
    }
    Ok(released)
}

/// Writes an application send to the outbox (see [`Switchboard::send`](crate::Switchboard::send)
/// for the key rules) and wakes the sender; returns the outbox key.
pub(crate) async fn enqueue(
    engine: &Engine,
    to: ConversationRef,
    mut message: OutboundMessage,
) -> Result<String> {
    message.validate()?;
    if !engine.channels.contains_key(to.channel.as_str()) {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no channel named '{}'", to.channel),
        ));
    }
    let own = match &message.idempotency_key {
        Some(k) => k.clone(),
        None => format!(
            "{}-{:016x}",
            switchboard_core::model::time::to_millis(SystemTime::now()),
            fastrand::u64(..)
        ),
    };
    let key = format!("{}/app/{own}", to.channel);
    message.idempotency_key = Some(key.clone());
    let row = NewOutbound::new(key.clone(), to, message);
    // Not counted in the backlog (`crate::backlog`): an application's broadcast must not hold
    // customers' webhooks back.
    engine.store.enqueue_outbound(&[row]).await?;
    engine.outbox_ready.notify_one();
    Ok(key)
}
