//! The policy check before a send (issue 15 item 12): the adapter declares the send's window
//! and consent scope ([`Adapter::send_policy`]), the store gives what it knows of the customer
//! ([`Store::contact`]; the stores in this crate read it with the claim,
//! [`OutboxItem::contact`]), and [`Adapter::check_send`] decides, before the rate limiters and
//! before any request. A refusal (`PolicyViolation`, `OptedOut`) is final: the row is
//! dead-lettered with the error and never retried, since waiting cannot reopen a window or undo
//! an opt-out (only the customer can, by writing again).
//!
//! Why here and not in each adapter's `send`: the facts live in the store, which adapters never
//! see, and one place keeps the rule the same for every channel, including third-party
//! adapters that only declare [`Capabilities::messaging_window`].
//!
//! [`Adapter::send_policy`]: switchboard_core::Adapter::send_policy
//! [`Adapter::check_send`]: switchboard_core::Adapter::check_send
//! [`Store::contact`]: crate::store::Store::contact
//! [`OutboxItem::contact`]: crate::store::OutboxItem::contact
//! [`Capabilities::messaging_window`]: switchboard_core::Capabilities::messaging_window

use std::time::SystemTime;

use switchboard_core::{Contact, Error, ErrorKind};

use crate::engine::{ChannelEntry, Engine};
use crate::store::{OutboxItem, conversation_key};

/// What the check came to.
pub(super) enum Verdict {
    /// Send.
    Allowed,
    /// Not sent, never will be: the adapter's refusal.
    Refused(Error),
    /// The store could not answer: nothing was sent; try again later.
    Unknown(Error),
}

/// Checks `item` against its channel's policy at `now`.
pub(super) async fn check(
    engine: &Engine,
    entry: &ChannelEntry,
    item: &OutboxItem,
    now: SystemTime,
) -> Verdict {
    let policy = entry.adapter.send_policy(&item.to, &item.message);
    if policy.is_open() {
        return Verdict::Allowed;
    }
    let scope = policy.consent_scope.as_deref();
    // The facts read with the claim when the store gives them (one read fewer per send).
    let asked = match &item.contact {
        Some(facts) => Ok(facts.contact(scope)),
        None => {
            engine
                .store
                .contact(&conversation_key(&item.to), scope)
                .await
        }
    };
    let contact = match asked {
        Ok(contact) => contact,
        // A store that keeps no facts: the provider decides (and its refusal maps the same).
        Err(e) if e.kind() == ErrorKind::Unsupported => Contact::default(),
        Err(e) => return Verdict::Unknown(e),
    };
    match entry
        .adapter
        .check_send(&item.to, &item.message, &contact, now)
        .await
    {
        Ok(()) => Verdict::Allowed,
        Err(e) => Verdict::Refused(e),
    }
}
