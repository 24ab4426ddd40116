//! What an inbound event changes in the policy facts a store keeps per conversation (see
//! [`Store::contact`](super::Store::contact) and [`switchboard_core::policy`]): the customer's
//! last inbound time, and their latest opt-out or opt-in per consent scope. Every store derives
//! its writes from here, so all of them keep the same facts.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use switchboard_core::InboundEvent;
use switchboard_core::policy::{ConsentAction, counts_as_inbound};

use super::millis;

/// The policy facts one new event brings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventContact {
    /// Its time in milliseconds, when it is the customer's own message or action.
    pub(crate) inbound_at: Option<i64>,
    /// Its opt-out or opt-in (help requests change nothing).
    pub(crate) consent: Option<ConsentRow>,
}

/// One opt-out or opt-in under a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsentRow {
    pub(crate) scope: String,
    pub(crate) opted_out: bool,
    pub(crate) keyword: String,
    pub(crate) at: i64,
}

impl EventContact {
    /// The facts `event` brings.
    pub(crate) fn of(event: &InboundEvent) -> Self {
        let at = millis(event.at);
        let consent = event.consent.as_ref().and_then(|c| {
            let opted_out = match c.action {
                ConsentAction::OptOut => true,
                ConsentAction::OptIn => false,
                ConsentAction::Help => return None,
            };
            Some(ConsentRow {
                scope: c.scope.clone(),
                opted_out,
                keyword: c.keyword.clone(),
                at,
            })
        });
        EventContact {
            inbound_at: counts_as_inbound(event).then_some(at),
            consent,
        }
    }

    /// Whether the event changes nothing (most events: receipts, the business's own).
    pub(crate) fn is_empty(&self) -> bool {
        self.inbound_at.is_none() && self.consent.is_none()
    }
}

/// The writes of one batch of new events, one per key (a SQL upsert may touch a row once
/// per statement): the latest inbound time per conversation, the latest consent change per
/// (conversation, scope) (the later one in batch order among equal times).
#[derive(Debug, Default)]
pub(crate) struct ContactWrites<'a> {
    /// `(conversation, last inbound ms)`.
    pub(crate) inbound: Vec<(&'a str, i64)>,
    /// `(conversation, the change)`.
    pub(crate) consent: Vec<(&'a str, &'a ConsentRow)>,
}

impl<'a> ContactWrites<'a> {
    /// The writes for `events`, `(conversation key, facts)` in insertion order.
    pub(crate) fn of(events: impl IntoIterator<Item = (&'a str, &'a EventContact)>) -> Self {
        let mut writes = ContactWrites::default();
        let mut inbound: HashMap<&str, usize> = HashMap::new();
        let mut consent: HashMap<(&str, &str), usize> = HashMap::new();
        for (conversation, c) in events {
            if let Some(at) = c.inbound_at {
                match inbound.entry(conversation) {
                    Entry::Occupied(i) => {
                        let t = &mut writes.inbound[*i.get()].1;
                        *t = (*t).max(at);
                    }
                    Entry::Vacant(v) => {
                        v.insert(writes.inbound.len());
                        writes.inbound.push((conversation, at));
                    }
                }
            }
            if let Some(row) = &c.consent {
                match consent.entry((conversation, row.scope.as_str())) {
                    Entry::Occupied(i) => {
                        let kept = &mut writes.consent[*i.get()].1;
                        if row.at >= kept.at {
                            *kept = row;
                        }
                    }
                    Entry::Vacant(v) => {
                        v.insert(writes.consent.len());
                        writes.consent.push((conversation, row));
                    }
                }
            }
        }
        writes
    }

    /// Nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.inbound.is_empty() && self.consent.is_empty()
    }
}
