//! Outbox rows of the memory store: inserting, claiming heads, changing claimed rows, renewing
//! leases, statuses, pruning sent rows.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::{ConversationRef, OutboundMessage, Result, SentMessage};

use super::heads::Head;
use super::{Inner, from_millis, span};
use crate::store::{
    Claim, DeadLetter, DeadLetterKind, Lease, NewOutbound, OutboxChange, OutboxItem, OutboxState,
    OutboxStatus, OutboxUpdate, Queue, conversation_key, millis, outbox_key_taken,
};

/// An outbox row. While it is pending its claim state lives in its conversation's
/// [`Head`]; once sent or dead, the final values are copied here.
#[derive(Debug)]
pub(super) struct OutRow {
    key: String,
    to: ConversationRef,
    message: OutboundMessage,
    conversation: Arc<str>,
    state: OutboxState,
    attempts: u32,
    error: Option<String>,
    first_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    uncertain: bool,
    pub(super) message_ids: Vec<MessageId>,
    pub(super) delivery: Option<DeliveryStatus>,
    sent_at: i64,
}

impl OutRow {
    /// Copies a finished head's claim state onto the row.
    fn settle(&mut self, head: &Head, state: OutboxState) {
        self.state = state;
        self.attempts = head.attempts;
        self.error.clone_from(&head.error);
        self.first_attempt_at = head.first_attempt_at;
        self.last_attempt_at = head.last_attempt_at;
        self.uncertain = head.uncertain;
    }
}

/// Sets `status` on the row unless it already has a more advanced one.
pub(super) fn advance(row: &mut OutRow, status: DeliveryStatus) -> bool {
    let advance = row.delivery.is_none_or(|old| status.advances(old));
    if advance {
        row.delivery = Some(status);
    }
    advance
}

impl Inner {
    /// Whether `out` can go in: `Ok(true)` for a new key, `Ok(false)` for a repeat of the row
    /// the key holds, an error for a key holding another row.
    fn check_new(&self, out: &NewOutbound) -> Result<bool> {
        let Some(seq) = self.outbox_keys.get(&out.key) else {
            return Ok(true);
        };
        let same = self
            .outbox
            .get(seq)
            .is_some_and(|row| row.to == out.to && row.message == out.message);
        if same {
            Ok(false)
        } else {
            Err(outbox_key_taken(&out.key))
        }
    }

    /// Inserts a row whose key is new at the end of its conversation.
    pub(super) fn enqueue(&mut self, out: NewOutbound) {
        let seq = self.seq();
        self.outbox_keys.insert(out.key.clone(), seq);
        let conversation = self.outbox_heads.push(&conversation_key(&out.to), seq);
        let row = OutRow {
            key: out.key,
            to: out.to,
            message: out.message,
            conversation,
            state: OutboxState::Pending,
            attempts: 0,
            error: None,
            first_attempt_at: None,
            last_attempt_at: None,
            uncertain: false,
            message_ids: Vec::new(),
            delivery: None,
            sent_at: 0,
        };
        self.outbox.insert(seq, row);
    }

    pub(super) fn enqueue_outbound(&mut self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        // All or nothing: check every row (against the outbox and the rows before it) first.
        let mut new = Vec::with_capacity(rows.len());
        let mut batch: HashMap<&str, &NewOutbound> = HashMap::new();
        for r in rows {
            let fresh = match batch.get(r.key.as_str()) {
                Some(earlier) if earlier.to == r.to && earlier.message == r.message => false,
                Some(_) => return Err(outbox_key_taken(&r.key)),
                None => self.check_new(r)?,
            };
            if fresh {
                batch.insert(&r.key, r);
            }
            new.push(fresh);
        }
        for (r, fresh) in rows.iter().zip(&new) {
            if *fresh {
                self.enqueue(r.clone());
            }
        }
        Ok(new)
    }

    pub(super) fn claim_outbox(&mut self, claim: &Claim) -> Vec<OutboxItem> {
        let (now, until) = span(claim);
        let claimed = self.outbox_heads.claim(now, until, claim.limit);
        let mut out = Vec::with_capacity(claimed.len());
        for (conversation, head) in claimed {
            let lease = Lease::new(head.seq, head.token);
            let (Some(row), Some(head)) = (
                self.outbox.get(&head.seq),
                self.outbox_heads.leased(&conversation, lease),
            ) else {
                continue;
            };
            // A claim that finds the previous one never recorded an outcome was interrupted,
            // and one that finds a send had begun cannot know whether it arrived.
            let interrupted = head.inflight != 0;
            head.uncertain |= head.inflight == 2;
            head.inflight = 1;
            let mut item = OutboxItem::new(
                lease,
                row.key.clone(),
                row.to.clone(),
                row.message.clone(),
                head.attempts,
            );
            item.interrupted = interrupted;
            item.uncertain = head.uncertain;
            item.first_attempt_at = head.first_attempt_at.map(from_millis);
            item.last_attempt_at = head.last_attempt_at.map(from_millis);
            item.contact = Some(self.contacts.facts(&conversation));
            out.push(item);
        }
        out
    }

    /// Maps provider message ids to row `seq` (receipts find it).
    fn map_ids(&mut self, seq: i64, messages: &[SentMessage]) {
        let Some(row) = self.outbox.get_mut(&seq) else {
            return;
        };
        row.message_ids = messages.iter().map(|m| m.id.clone()).collect();
        let channel = row.to.channel.as_str().to_owned();
        for m in messages {
            // A delivery receipt that came first is applied now.
            if let Some(status) = self.early_receipts.take(&channel, m.id.as_str()) {
                advance(row, status);
            }
            self.sent_ids
                .insert((channel.clone(), m.id.as_str().to_owned()), seq);
        }
    }

    pub(super) fn update_outbox(&mut self, update: OutboxUpdate, now: i64) -> bool {
        let seq = update.lease.seq;
        let Some(conversation) = self
            .outbox
            .get(&seq)
            .filter(|r| r.state == OutboxState::Pending)
            .map(|r| r.conversation.clone())
        else {
            return false;
        };
        let Some(head) = self.outbox_heads.leased(&conversation, update.lease) else {
            return false;
        };
        let (at, why, counts, uncertain) = match update.change {
            OutboxChange::Attempt { at } => {
                let at = millis(at);
                head.inflight = 2;
                head.uncertain = false;
                head.first_attempt_at.get_or_insert(at);
                head.last_attempt_at = Some(at);
                return true;
            }
            OutboxChange::Partial { messages } => {
                self.map_ids(seq, &messages);
                return true;
            }
            OutboxChange::Sent {
                messages,
                options,
                options_expire,
            } => {
                head.uncertain = false;
                head.error = None;
                self.finish(&conversation, seq, OutboxState::Sent, now);
                self.map_ids(seq, &messages);
                self.sent_by_conversation
                    .entry(conversation.clone())
                    .or_default()
                    .insert((now, seq));
                self.sent_by_age.insert((now, seq));
                if options.is_empty() {
                    self.options.remove(conversation.as_ref());
                } else {
                    let expire = millis(options_expire);
                    self.options
                        .insert(conversation.to_string(), (options, expire));
                }
                return true;
            }
            OutboxChange::DeadLetter { error } => {
                head.error = Some(error);
                self.finish(&conversation, seq, OutboxState::Dead, now);
                return true;
            }
            OutboxChange::Retry { at, error } => (at, error, true, false),
            OutboxChange::RetryUncertain { at, error } => (at, error, true, true),
            OutboxChange::Defer { at, why } => (at, why, false, false),
            OutboxChange::ReconcileLater { at, why } => (at, why, false, true),
        };
        head.error = Some(why);
        head.token = 0;
        head.inflight = 0;
        head.uncertain |= uncertain;
        if !counts {
            head.attempts = head.attempts.saturating_sub(1);
        }
        self.outbox_heads.set_ready(&conversation, millis(at));
        true
    }

    /// The head row of `conversation` leaves the queue as `state`.
    fn finish(&mut self, conversation: &str, seq: i64, state: OutboxState, now: i64) {
        let Some(mut head) = self.outbox_heads.pop(conversation) else {
            return;
        };
        head.inflight = 0;
        let Some(row) = self.outbox.get_mut(&seq) else {
            return;
        };
        row.settle(&head, state);
        if state == OutboxState::Sent {
            row.sent_at = now;
        } else if state == OutboxState::Dead {
            let payload = serde_json::to_value(&row.message).unwrap_or_default();
            let mut dead = DeadLetter::new(
                DeadLetterKind::Outbound,
                seq,
                row.conversation.as_ref(),
                row.key.clone(),
                payload,
            );
            dead.error = row.error.clone().unwrap_or_default();
            dead.attempts = row.attempts;
            self.dead.insert(seq, dead);
        }
    }

    pub(super) fn renew(&mut self, queue: Queue, lease: Lease, until: i64) -> bool {
        let (heads, conversation) = match queue {
            Queue::Inbox => (
                &mut self.inbox_heads,
                self.inbox.get(&lease.seq).map(|r| r.conversation.clone()),
            ),
            Queue::Outbox => (
                &mut self.outbox_heads,
                self.outbox.get(&lease.seq).map(|r| r.conversation.clone()),
            ),
        };
        let Some(conversation) = conversation else {
            return false;
        };
        if heads.leased(&conversation, lease).is_none() {
            return false;
        }
        heads.set_ready(&conversation, until);
        true
    }

    pub(super) fn outbox_status(&self, key: &str) -> Option<OutboxStatus> {
        let seq = self.outbox_keys.get(key)?;
        let row = self.outbox.get(seq)?;
        let mut st = OutboxStatus::new(row.state);
        st.message_ids.clone_from(&row.message_ids);
        st.delivery = row.delivery;
        st.to = Some(row.to.clone());
        let head = self
            .outbox_heads
            .head(&row.conversation)
            .filter(|h| row.state == OutboxState::Pending && h.seq == *seq);
        match head {
            Some(h) => {
                st.attempts = h.attempts;
                st.error.clone_from(&h.error);
                st.first_attempt_at = h.first_attempt_at.map(from_millis);
                st.last_attempt_at = h.last_attempt_at.map(from_millis);
                st.uncertain = h.uncertain;
            }
            None => {
                st.attempts = row.attempts;
                st.error.clone_from(&row.error);
                st.first_attempt_at = row.first_attempt_at.map(from_millis);
                st.last_attempt_at = row.last_attempt_at.map(from_millis);
                st.uncertain = row.uncertain;
            }
        }
        Some(st)
    }

    pub(super) fn prune_sent(&mut self, before: i64) -> u64 {
        let old: Vec<(i64, i64)> = self
            .sent_by_age
            .range(..(before, i64::MIN))
            .copied()
            .collect();
        for (at, seq) in &old {
            self.sent_by_age.remove(&(*at, *seq));
            let Some(row) = self.outbox.remove(seq) else {
                continue;
            };
            self.outbox_keys.remove(&row.key);
            let channel = row.to.channel.as_str();
            for id in &row.message_ids {
                self.sent_ids
                    .remove(&(channel.to_owned(), id.as_str().to_owned()));
            }
            if let Some(sent) = self.sent_by_conversation.get_mut(&row.conversation) {
                sent.remove(&(*at, *seq));
                if sent.is_empty() {
                    self.sent_by_conversation.remove(&row.conversation);
                }
            }
        }
        old.len() as u64
    }

    /// Sent rows of `conversation` sent at or before `watermark`, oldest first.
    pub(super) fn sent_until(&self, conversation: &str, watermark: i64) -> Vec<i64> {
        self.sent_by_conversation
            .get(conversation)
            .map(|sent| {
                sent.range(..=(watermark, i64::MAX))
                    .map(|(_, seq)| *seq)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn outbox_row_mut(&mut self, seq: i64) -> Option<&mut OutRow> {
        self.outbox.get_mut(&seq)
    }

    /// Row `seq` of the outbox, if it is the ready-able head of its conversation with no live
    /// lease at `now`: it is made ready at once (a completed proof).
    pub(super) fn ready_now(&mut self, seq: i64, now: i64) -> bool {
        let Some(row) = self
            .outbox
            .get(&seq)
            .filter(|r| r.state == OutboxState::Pending)
        else {
            return false;
        };
        let conversation = row.conversation.clone();
        let idle = self
            .outbox_heads
            .head(&conversation)
            .is_some_and(|h| h.seq == seq && (h.token == 0 || h.ready_at <= now));
        if idle {
            self.outbox_heads.set_ready(&conversation, 0);
        }
        true
    }
}
