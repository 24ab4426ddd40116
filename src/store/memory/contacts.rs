//! The policy facts per conversation (see [`Store::contact`](crate::store::Store::contact)):
//! last inbound time, and the latest opt-out or opt-in per consent scope.

use std::collections::HashMap;

use switchboard_core::policy::{Contact, OptOut};

use super::from_millis;
use crate::store::contacts::{ConsentRow, ContactWrites, EventContact};

/// The facts, by conversation key.
#[derive(Debug, Default)]
pub(super) struct Contacts {
    last_inbound: HashMap<String, i64>,
    consent: HashMap<(String, String), ConsentRow>,
}

impl Contacts {
    /// Applies what new events bring (in insertion order).
    pub(super) fn record<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a str, &'a EventContact)>,
    ) {
        let writes = ContactWrites::of(events);
        for (conversation, at) in writes.inbound {
            let t = self
                .last_inbound
                .entry(conversation.to_owned())
                .or_insert(at);
            *t = (*t).max(at);
        }
        for (conversation, row) in writes.consent {
            let key = (conversation.to_owned(), row.scope.clone());
            match self.consent.get(&key) {
                Some(kept) if kept.at > row.at => {}
                _ => {
                    self.consent.insert(key, row.clone());
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
