//! The policy facts per conversation (see [`Store::contact`](crate::store::Store::contact)):
//! last inbound time, and the latest opt-out or opt-in per consent scope.

use std::collections::HashMap;

use switchboard_core::policy::{Contact, OptOut};

use super::from_millis;
use crate::store::contacts::{ConsentRow, EventContact};

/// The facts, by conversation key.
#[derive(Debug, Default)]
pub(super) struct Contacts {
    last_inbound: HashMap<String, i64>,
    consent: HashMap<(String, String), ConsentRow>,
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
                let key = (conversation.to_owned(), row.scope.clone());
                match self.consent.get(&key) {
                    Some(kept) if kept.at > row.at => {}
                    _ => {
                        self.consent.insert(key, row.clone());
                    }
                }
            }
        }
    }

    pub(super) fn contact(&self, conversation: &str, scope: Option<&str>) -> Contact {
        let last = self
            .last_inbound
            .get(conversation)
            .copied()
            .map(from_millis);
        let opted_out = scope
            .and_then(|s| self.consent.get(&(conversation.to_owned(), s.to_owned())))
            .filter(|row| row.opted_out)
            .map(|row| OptOut {
                keyword: row.keyword.clone(),
                at: from_millis(row.at),
            });
        Contact::new(last, opted_out)
    }
}
