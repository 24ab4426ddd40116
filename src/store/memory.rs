//! `MemoryStore`: the [`Store`](super::Store) in a mutex, for tests and single-process demos.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::render::TextOption;
use switchboard_core::{ChannelName, InboundEvent, Result, SentMessage};

use super::{
    Completion, DeadLetter, DeadLetterKind, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxState, OutboxStatus, Pruned, SendProof, Store, StoreStats, conversation_key, millis,
    new_token, outbox_key_taken, proven_ids, store_error,
};

fn from_millis(ms: i64) -> SystemTime {
    switchboard_core::model::time::from_millis(ms)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowState {
    Pending,
    Done,
    Dead,
}

#[derive(Debug)]
struct Row<T> {
    conversation: String,
    state: RowState,
    attempts: u32,
    available_at: i64,
    lease_until: i64,
    token: i64,
    /// 0: not claimed; 1: claimed; 2: a send began under the claim.
    inflight: u8,
    error: Option<String>,
    /// When the row was written (ms).
    created_at: i64,
    /// When it became done/sent (ms).
    done_at: i64,
    item: T,
}

impl<T> Row<T> {
    fn new(conversation: String, item: T) -> Self {
        Row {
            conversation,
            state: RowState::Pending,
            attempts: 0,
            available_at: 0,
            lease_until: 0,
            token: 0,
            inflight: 0,
            error: None,
            created_at: millis(SystemTime::now()),
            done_at: 0,
            item,
        }
    }
}

#[derive(Debug)]
struct Outbound {
    key: String,
    to: switchboard_core::ConversationRef,
    message: switchboard_core::OutboundMessage,
    message_ids: Vec<MessageId>,
    delivery: Option<DeliveryStatus>,
    first_attempt_at: Option<i64>,
    last_attempt_at: Option<i64>,
    uncertain: bool,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: i64,
    seen: HashSet<(String, String)>,
    inbox: BTreeMap<i64, Row<InboundEvent>>,
    outbox: BTreeMap<i64, Row<Outbound>>,
    outbox_keys: HashMap<String, i64>,
    sent_ids: HashMap<(String, String), i64>,
    state: HashMap<String, serde_json::Value>,
    options: HashMap<String, (Vec<TextOption>, i64)>,
    /// Keyed proofs by outbox key and part, with when they were recorded.
    proofs: HashMap<String, BTreeMap<u32, (SendProof, i64)>>,
}

impl Inner {
    fn seq(&mut self) -> i64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Adds an outbox row unless its key is already there.
    /// Whether `out` can go in: `Ok(true)` for a new key, `Ok(false)` for a repeat of the row
    /// the key holds, an error for a key holding another row.
    fn check_new(&self, out: &NewOutbound) -> Result<bool> {
        let Some(seq) = self.outbox_keys.get(&out.key) else {
            return Ok(true);
        };
        let same = self
            .outbox
            .get(seq)
            .is_some_and(|row| row.item.to == out.to && row.item.message == out.message);
        if same {
            Ok(false)
        } else {
            Err(outbox_key_taken(&out.key))
        }
    }

    /// Inserts a row whose key [`check_new`](Self::check_new) found new.
    fn enqueue(&mut self, out: NewOutbound) {
        let seq = self.seq();
        self.outbox_keys.insert(out.key.clone(), seq);
        let conv = conversation_key(&out.to);
        let row = Row::new(
            conv,
            Outbound {
                key: out.key,
                to: out.to,
                message: out.message,
                message_ids: Vec::new(),
                delivery: None,
                first_attempt_at: None,
                last_attempt_at: None,
                uncertain: false,
            },
        );
        self.outbox.insert(seq, row);
    }
}

/// Sets `status` on the row unless it already has a more advanced one.
fn advance(row: &mut Row<Outbound>, status: DeliveryStatus) -> bool {
    let advance = match row.item.delivery {
        None => true,
        Some(old) => status.advances(old),
    };
    if advance {
        row.item.delivery = Some(status);
    }
    advance
}

fn renew<T>(rows: &mut BTreeMap<i64, Row<T>>, lease: Lease, until: SystemTime) -> bool {
    match leased(rows, lease) {
        Some(row) => {
            row.lease_until = millis(until);
            true
        }
        None => false,
    }
}

/// Heads of conversations that are available and unleased, lowest sequence first.
fn claimable<T>(rows: &BTreeMap<i64, Row<T>>, now: i64, limit: usize) -> Vec<i64> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (seq, row) in rows {
        if row.state != RowState::Pending || !seen.insert(row.conversation.as_str()) {
            continue;
        }
        if row.available_at <= now && row.lease_until <= now {
            out.push(*seq);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

fn leased<T>(rows: &mut BTreeMap<i64, Row<T>>, lease: Lease) -> Option<&mut Row<T>> {
    rows.get_mut(&lease.seq)
        .filter(|r| r.state == RowState::Pending && r.token == lease.token)
}

/// An in-memory store. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn recover(&self) -> Result<()> {
        Ok(())
    }

    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        let mut g = self.lock();
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            let key = (
                ev.conversation.channel.as_str().to_owned(),
                ev.id.as_str().to_owned(),
            );
            if !g.seen.insert(key) {
                out.push(Inserted::Duplicate);
                continue;
            }
            let seq = g.seq();
            let row = Row::new(conversation_key(&ev.conversation), ev.clone());
            g.inbox.insert(seq, row);
            out.push(Inserted::New(seq));
        }
        Ok(out)
    }

    async fn claim_inbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<InboxItem>> {
        let now = millis(now);
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let mut g = self.lock();
        let seqs = claimable(&g.inbox, now, limit);
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(row) = g.inbox.get_mut(&seq) {
                row.token = new_token();
                row.lease_until = until;
                row.attempts += 1;
                out.push(InboxItem {
                    lease: Lease {
                        seq,
                        token: row.token,
                    },
                    event: row.item.clone(),
                    attempts: row.attempts,
                });
            }
        }
        Ok(out)
    }

    async fn complete_inbox(&self, lease: Lease, completion: Completion) -> Result<bool> {
        let mut g = self.lock();
        if leased(&mut g.inbox, lease).is_none() {
            return Ok(false);
        }
        // All or nothing: every key must be new (a reply's key is never a repeat: its event's
        // completion was never written, or the lease would be gone).
        let mut keys = HashSet::new();
        for out in &completion.outbox {
            if !g.check_new(out)? || !keys.insert(out.key.as_str()) {
                return Err(outbox_key_taken(&out.key));
            }
        }
        let Some(row) = leased(&mut g.inbox, lease) else {
            return Ok(false);
        };
        row.state = RowState::Done;
        row.error = None;
        row.done_at = millis(SystemTime::now());
        for out in completion.outbox {
            g.enqueue(out);
        }
        for (conv, value) in completion.state {
            match value {
                Some(v) => g.state.insert(conv, v),
                None => g.state.remove(&conv),
            };
        }
        Ok(true)
    }

    async fn retry_inbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.inbox, lease) else {
            return Ok(false);
        };
        row.error = Some(error.to_owned());
        row.available_at = millis(at);
        row.lease_until = 0;
        row.token = 0;
        Ok(true)
    }

    async fn dead_letter_inbox(&self, lease: Lease, error: &str) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.inbox, lease) else {
            return Ok(false);
        };
        row.error = Some(error.to_owned());
        row.state = RowState::Dead;
        Ok(true)
    }

    async fn claim_outbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let now = millis(now);
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let mut g = self.lock();
        let seqs = claimable(&g.outbox, now, limit);
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(row) = g.outbox.get_mut(&seq) {
                row.token = new_token();
                row.lease_until = until;
                row.attempts += 1;
                let interrupted = row.inflight != 0;
                row.item.uncertain |= row.inflight == 2;
                row.inflight = 1;
                out.push(OutboxItem {
                    lease: Lease {
                        seq,
                        token: row.token,
                    },
                    key: row.item.key.clone(),
                    to: row.item.to.clone(),
                    message: row.item.message.clone(),
                    attempts: row.attempts,
                    interrupted,
                    uncertain: row.item.uncertain,
                    first_attempt_at: row.item.first_attempt_at.map(from_millis),
                    last_attempt_at: row.item.last_attempt_at.map(from_millis),
                });
            }
        }
        Ok(out)
    }

    async fn outbox_sent(
        &self,
        lease: Lease,
        messages: &[SentMessage],
        options: &[TextOption],
        options_expire: SystemTime,
    ) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.state = RowState::Done;
        row.inflight = 0;
        row.item.uncertain = false;
        row.error = None;
        row.done_at = millis(SystemTime::now());
        row.item.message_ids = messages.iter().map(|m| m.id.clone()).collect();
        let channel = row.item.to.channel.as_str().to_owned();
        let conv = row.conversation.clone();
        for m in messages {
            g.sent_ids
                .insert((channel.clone(), m.id.as_str().to_owned()), lease.seq);
        }
        if options.is_empty() {
            g.options.remove(&conv);
        } else {
            g.options
                .insert(conv, (options.to_vec(), millis(options_expire)));
        }
        Ok(true)
    }

    async fn retry_outbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.error = Some(error.to_owned());
        row.available_at = millis(at);
        row.lease_until = 0;
        row.token = 0;
        row.inflight = 0;
        Ok(true)
    }

    async fn defer_outbox(&self, lease: Lease, why: &str, at: SystemTime) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.error = Some(why.to_owned());
        row.available_at = millis(at);
        row.lease_until = 0;
        row.token = 0;
        row.inflight = 0;
        row.attempts = row.attempts.saturating_sub(1);
        Ok(true)
    }

    async fn outbox_attempt(&self, lease: Lease, at: SystemTime) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        let at = millis(at);
        row.inflight = 2;
        row.item.uncertain = false;
        row.item.first_attempt_at.get_or_insert(at);
        row.item.last_attempt_at = Some(at);
        Ok(true)
    }

    async fn retry_outbox_uncertain(
        &self,
        lease: Lease,
        error: &str,
        at: SystemTime,
    ) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.error = Some(error.to_owned());
        row.available_at = millis(at);
        row.lease_until = 0;
        row.token = 0;
        row.inflight = 0;
        row.item.uncertain = true;
        Ok(true)
    }

    async fn reconcile_outbox_later(
        &self,
        lease: Lease,
        why: &str,
        at: SystemTime,
    ) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.error = Some(why.to_owned());
        row.available_at = millis(at);
        row.lease_until = 0;
        row.token = 0;
        row.inflight = 0;
        row.attempts = row.attempts.saturating_sub(1);
        row.item.uncertain = true;
        Ok(true)
    }

    async fn outbox_partial(&self, lease: Lease, messages: &[SentMessage]) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.item.message_ids = messages.iter().map(|m| m.id.clone()).collect();
        let channel = row.item.to.channel.as_str().to_owned();
        for m in messages {
            g.sent_ids
                .insert((channel.clone(), m.id.as_str().to_owned()), lease.seq);
        }
        Ok(true)
    }

    async fn record_proof(&self, proof: &SendProof, now: SystemTime) -> Result<bool> {
        let mut g = self.lock();
        let parts = g.proofs.entry(proof.key.clone()).or_default();
        parts
            .entry(proof.part)
            .or_insert_with(|| (proof.clone(), millis(now)));
        let all: Vec<SendProof> = parts.values().map(|(p, _)| p.clone()).collect();
        if proven_ids(&all).is_none() {
            return Ok(false);
        }
        let Some(seq) = g.outbox_keys.get(&proof.key).copied() else {
            return Ok(false);
        };
        match g.outbox.get_mut(&seq) {
            Some(row) if row.state == RowState::Pending => {
                row.available_at = 0;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        Ok(self
            .lock()
            .proofs
            .get(key)
            .map(|parts| parts.values().map(|(p, _)| p.clone()).collect())
            .unwrap_or_default())
    }

    async fn dead_letter_outbox(&self, lease: Lease, error: &str) -> Result<bool> {
        let mut g = self.lock();
        let Some(row) = leased(&mut g.outbox, lease) else {
            return Ok(false);
        };
        row.error = Some(error.to_owned());
        row.state = RowState::Dead;
        row.inflight = 0;
        Ok(true)
    }

    async fn record_delivery(
        &self,
        channel: &ChannelName,
        messages: &[MessageId],
        status: DeliveryStatus,
    ) -> Result<u64> {
        let mut g = self.lock();
        let seqs: HashSet<i64> = messages
            .iter()
            .filter_map(|m| {
                g.sent_ids
                    .get(&(channel.as_str().to_owned(), m.as_str().to_owned()))
                    .copied()
            })
            .collect();
        let mut changed = 0;
        for seq in seqs {
            if let Some(row) = g.outbox.get_mut(&seq)
                && advance(row, status)
            {
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        let g = self.lock();
        let Some(seq) = g.outbox_keys.get(key) else {
            return Ok(None);
        };
        let row = g
            .outbox
            .get(seq)
            .ok_or_else(|| store_error("outbox", "key without row"))?;
        Ok(Some(OutboxStatus {
            state: match row.state {
                RowState::Pending => OutboxState::Pending,
                RowState::Done => OutboxState::Sent,
                RowState::Dead => OutboxState::Dead,
            },
            attempts: row.attempts,
            message_ids: row.item.message_ids.clone(),
            delivery: row.item.delivery,
            error: row.error.clone(),
            first_attempt_at: row.item.first_attempt_at.map(from_millis),
            last_attempt_at: row.item.last_attempt_at.map(from_millis),
            uncertain: row.item.uncertain,
        }))
    }

    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.lock().state.get(conversation).cloned())
    }

    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        let mut g = self.lock();
        match value {
            Some(v) => g.state.insert(conversation.to_owned(), v),
            None => g.state.remove(conversation),
        };
        Ok(())
    }

    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>> {
        let now = millis(now);
        Ok(self
            .lock()
            .options
            .get(conversation)
            .filter(|(_, exp)| *exp > now)
            .map(|(o, _)| o.clone())
            .unwrap_or_default())
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let g = self.lock();
        let mut out = Vec::new();
        for (seq, row) in &g.inbox {
            if row.state == RowState::Dead {
                out.push(DeadLetter {
                    kind: DeadLetterKind::Inbound,
                    seq: *seq,
                    conversation: row.conversation.clone(),
                    key: row.item.id.as_str().to_owned(),
                    payload: serde_json::to_value(&row.item)
                        .map_err(|e| store_error("inbox", e))?,
                    error: row.error.clone().unwrap_or_default(),
                    attempts: row.attempts,
                });
            }
        }
        for (seq, row) in &g.outbox {
            if row.state == RowState::Dead {
                out.push(DeadLetter {
                    kind: DeadLetterKind::Outbound,
                    seq: *seq,
                    conversation: row.conversation.clone(),
                    key: row.item.key.clone(),
                    payload: serde_json::to_value(&row.item.message)
                        .map_err(|e| store_error("outbox", e))?,
                    error: row.error.clone().unwrap_or_default(),
                    attempts: row.attempts,
                });
            }
        }
        out.sort_by_key(|d| d.seq);
        out.truncate(limit);
        Ok(out)
    }

    async fn stats(&self) -> Result<StoreStats> {
        let g = self.lock();
        let mut s = StoreStats::default();
        for row in g.inbox.values() {
            match row.state {
                RowState::Pending => s.inbox_pending += 1,
                RowState::Done => s.inbox_done += 1,
                RowState::Dead => s.dead += 1,
            }
        }
        for row in g.outbox.values() {
            match row.state {
                RowState::Pending => s.outbox_pending += 1,
                RowState::Done => s.outbox_sent += 1,
                RowState::Dead => s.dead += 1,
            }
        }
        Ok(s)
    }

    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        let mut g = self.lock();
        // All or nothing: check every row (against the outbox and the rows before it) first.
        let mut new = Vec::with_capacity(rows.len());
        let mut batch: HashMap<&str, &NewOutbound> = HashMap::new();
        for r in rows {
            let fresh = match batch.get(r.key.as_str()) {
                Some(earlier) if earlier.to == r.to && earlier.message == r.message => false,
                Some(_) => return Err(outbox_key_taken(&r.key)),
                None => g.check_new(r)?,
            };
            if fresh {
                batch.insert(&r.key, r);
            }
            new.push(fresh);
        }
        for (r, fresh) in rows.iter().zip(&new) {
            if *fresh {
                g.enqueue(r.clone());
            }
        }
        Ok(new)
    }

    async fn renew_inbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        Ok(renew(&mut self.lock().inbox, lease, until))
    }

    async fn renew_outbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        Ok(renew(&mut self.lock().outbox, lease, until))
    }

    async fn record_delivery_watermark(
        &self,
        conversation: &str,
        watermark: SystemTime,
        status: DeliveryStatus,
    ) -> Result<u64> {
        let watermark = millis(watermark);
        let mut g = self.lock();
        let mut changed = 0;
        for row in g.outbox.values_mut() {
            if row.state == RowState::Done
                && row.conversation == conversation
                && row.done_at <= watermark
                && advance(row, status)
            {
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn prune(&self, done_before: SystemTime, now: SystemTime) -> Result<Pruned> {
        let (before, now) = (millis(done_before), millis(now));
        let mut g = self.lock();
        let g = &mut *g;
        let mut pruned = Pruned::default();
        g.inbox.retain(|_, row| {
            let prune = row.state == RowState::Done && row.created_at < before;
            if prune {
                g.seen.remove(&(
                    row.item.conversation.channel.as_str().to_owned(),
                    row.item.id.as_str().to_owned(),
                ));
                pruned.inbox += 1;
            }
            !prune
        });
        let mut gone = HashSet::new();
        g.outbox.retain(|seq, row| {
            let prune = row.state == RowState::Done && row.done_at < before;
            if prune {
                g.outbox_keys.remove(&row.item.key);
                gone.insert(*seq);
                pruned.outbox += 1;
            }
            !prune
        });
        g.sent_ids.retain(|_, seq| !gone.contains(seq));
        for parts in g.proofs.values_mut() {
            let before_len = parts.len();
            parts.retain(|_, (_, at)| *at >= before);
            pruned.proofs += (before_len - parts.len()) as u64;
        }
        g.proofs.retain(|_, parts| !parts.is_empty());
        let options = g.options.len();
        g.options.retain(|_, (_, expires)| *expires > now);
        pruned.options = (options - g.options.len()) as u64;
        Ok(pruned)
    }
}
