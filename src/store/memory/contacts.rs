//! The policy facts per conversation (see [`Store::contact`](crate::store::Store::contact)):
//! last inbound time, and the latest opt-out or opt-in per consent scope.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use switchboard_core::policy::{Contact, OptOut};

use super::from_millis;
use crate::store::ContactFacts;
use crate::store::contacts::{ConsentRow, EventContact};

/// The facts, by conversation key; consent rows by conversation, then scope (a claimed outbox
/// row gets all of its conversation's at once).
#[derive(Debug, Default)]
pub(super) struct Contacts {
    last_inbound: HashMap<String, i64>,
    consent: HashMap<String, BTreeMap<String, ConsentRow>>,
}

impl Contacts {
    /// Applies what new events bring, one at a time in insertion order (the same outcome as
    /// merging them first, [`ContactWrites::of`](crate::store::contacts::ContactWrites::of):
    /// the latest inbound time, a later consent change replaces an earlier one), without the
    /// merge's maps or a key copied for a conversation already known.
    pub(super) fn record<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a str, &'a EventContact)>,
    ) {
        for (conversation, c) in events {
            if let Some(at) = c.inbound_at {
                match self.last_inbound.get_mut(conversation) {
                    Some(t) => *t = (*t).max(at),
                    None => {
                        self.last_inbound.insert(conversation.to_owned(), at);
                    }
                }
            }
            if let Some(row) = &c.consent {
                let scopes = self.consent.entry(conversation.to_owned()).or_default();
                match scopes.get(&row.scope) {
                    Some(kept) if kept.at > row.at => {}
                    _ => {
                        scopes.insert(row.scope.clone(), row.clone());
                    }
                }
            }
        }
    }

    /// Every scope's facts of `conversation`, for a claimed outbox row
    /// ([`OutboxItem::contact`](crate::store::OutboxItem::contact)).
    pub(super) fn facts(&self, conversation: &str) -> ContactFacts {
        let opted_out = self
            .consent
            .get(conversation)
            .into_iter()
            .flatten()
            .filter(|(_, row)| row.opted_out)
            .map(|(scope, row)| (scope.clone(), opt_out(row)))
            .collect();
        ContactFacts::new(self.last_inbound(conversation), opted_out)
    }

    pub(super) fn contact(&self, conversation: &str, scope: Option<&str>) -> Contact {
        let opted_out = scope
            .and_then(|s| self.consent.get(conversation)?.get(s))
            .filter(|row| row.opted_out)
            .map(opt_out);
        Contact::new(self.last_inbound(conversation), opted_out)
    }

    fn last_inbound(&self, conversation: &str) -> Option<SystemTime> {
        self.last_inbound
            .get(conversation)
            .copied()
            .map(from_millis)
    }
}

fn opt_out(row: &ConsentRow) -> OptOut {
    OptOut {
        keyword: row.keyword.clone(),
        at: from_millis(row.at),
    }
}
