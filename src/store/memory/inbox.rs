//! Inbox rows of the memory store: dedupe and insert, claiming heads, finishing them.

use std::collections::HashSet;
use std::sync::Arc;

use switchboard_core::{InboundEvent, Result};

use super::{InboxRow, Inner, span};
use crate::store::contacts::EventContact;
use crate::store::{
    Claim, Completion, DeadLetter, DeadLetterKind, InboxFinish, InboxItem, InboxOutcome, Inserted,
    Lease, conversation_key, millis, outbox_key_taken, store_error,
};

impl Inner {
    pub(super) fn insert_inbound(&mut self, events: &[InboundEvent], now: i64) -> Vec<Inserted> {
        // Events of one request with the same raw payload share one copy (see `store::raw`).
        let mut shared: Vec<Option<Arc<serde_json::Value>>> = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let same =
                i > 0 && (ev.raw.is_object() || ev.raw.is_array()) && events[i - 1].raw == ev.raw;
            let next_same = events.get(i + 1).is_some_and(|n| n.raw == ev.raw)
                && (ev.raw.is_object() || ev.raw.is_array());
            shared.push(match (same, shared.last()) {
                (true, Some(Some(prev))) => Some(prev.clone()),
                _ if next_same => Some(Arc::new(ev.raw.clone())),
                _ => None,
            });
        }
        events
            .iter()
            .zip(shared)
            .map(|(ev, raw)| {
                let key = (
                    ev.conversation.channel.as_str().to_owned(),
                    ev.id.as_str().to_owned(),
                );
                if self.keys.contains(&key) {
                    return Inserted::Duplicate;
                }
                let seq = self.seq();
                self.keys.insert(key.clone());
                self.keys_by_age.insert((now, seq), key);
                let key = conversation_key(&ev.conversation);
                let contact = EventContact::of(ev);
                if !contact.is_empty() {
                    self.contacts.record([(key.as_str(), &contact)]);
                }
                let conversation = self.inbox_heads.push(&key, seq);
                let mut event = ev.clone();
                if raw.is_some() {
                    event.raw = serde_json::Value::Null;
                }
                self.inbox.insert(
                    seq,
                    InboxRow {
                        conversation,
                        event,
                        raw,
                    },
                );
                Inserted::New(seq)
            })
            .collect()
    }

    pub(super) fn claim_inbox(&mut self, claim: &Claim) -> Vec<InboxItem> {
        let (now, until) = span(claim);
        self.inbox_heads
            .claim(now, until, claim.limit)
            .into_iter()
            .filter_map(|(conversation, head)| {
                let row = self.inbox.get(&head.seq)?;
                let lease = Lease::new(head.seq, head.token);
                let mut item = InboxItem::new(lease, row.event(), head.attempts);
                if let Some((options, expires)) = self.options.get(conversation.as_ref())
                    && *expires > now
                {
                    item.options.clone_from(options);
                }
                Some(item)
            })
            .collect()
    }

    /// Every outbox key of `completion` is new and none repeats: all or nothing.
    fn check_completion(&self, completion: &Completion) -> Result<()> {
        let mut keys = HashSet::new();
        for out in &completion.outbox {
            if self.outbox_keys.contains_key(&out.key) || !keys.insert(out.key.as_str()) {
                return Err(outbox_key_taken(&out.key));
            }
        }
        Ok(())
    }

    pub(super) fn finish_inbox(&mut self, finish: InboxFinish) -> Result<bool> {
        let seq = finish.lease.seq;
        let Some(conversation) = self.inbox.get(&seq).map(|r| r.conversation.clone()) else {
            return Ok(false);
        };
        let Some(head) = self.inbox_heads.leased(&conversation, finish.lease) else {
            return Ok(false);
        };
        match finish.outcome {
            InboxOutcome::Done(completion) => {
                self.check_completion(&completion)?;
                self.inbox_heads.pop(&conversation);
                self.inbox.remove(&seq);
                for out in completion.outbox {
                    self.enqueue(out);
                }
                for (conversation, value) in completion.state {
                    self.write_state(conversation, value);
                }
            }
            InboxOutcome::Retry { at, error } => {
                head.error = Some(error);
                head.token = 0;
                self.inbox_heads.set_ready(&conversation, millis(at));
            }
            InboxOutcome::DeadLetter { error } => {
                let payload = match self.inbox.get(&seq) {
                    Some(row) => {
                        serde_json::to_value(row.event()).map_err(|e| store_error("inbox", e))?
                    }
                    None => return Ok(false),
                };
                let attempts = head.attempts;
                self.inbox_heads.pop(&conversation);
                if let Some(row) = self.inbox.remove(&seq) {
                    let mut dead = DeadLetter::new(
                        DeadLetterKind::Inbound,
                        seq,
                        conversation.as_ref(),
                        row.event.id.as_str(),
                        payload,
                    );
                    dead.error = error;
                    dead.attempts = attempts;
                    self.dead.insert(seq, dead);
                }
            }
        }
        Ok(true)
    }
}
