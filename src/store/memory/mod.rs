//! `MemoryStore`: the [`Store`](super::Store) in a mutex, for tests and single-process demos.
//! It is the reference the conformance suite checks other stores against, with the same
//! complexity as the SQLite store: claims read a ready queue of conversation heads
//! ([`heads`]), handled events leave the queue (their dedupe keys stay until pruned), and
//! every other operation is a map lookup.
//!
//! By concept: [`inbox`] (dedupe, insert, claim, finish), [`outbox`] (insert, claim, update,
//! status), [`receipts`] (proofs, delivery receipts); here the store value, the trait mapping,
//! state, options, dead letters, counts and pruning.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::render::TextOption;
use switchboard_core::{Contact, InboundEvent, Result};

use super::{
    Claim, DeadLetter, DeadLetterKind, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem,
    InboxFinish, InboxItem, Inserted, Lease, NewForward, NewOutbound, OutboxItem, OutboxStatus,
    OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, Store, StoreStats, millis,
};
use crate::store::{LogAppend, LogEntry, Upload};

mod contacts;
mod forward;
mod heads;
mod inbox;
mod installs;
mod outbox;
mod pending;
mod receipts;
mod webchat;

use heads::Heads;
use outbox::OutRow;

fn from_millis(ms: i64) -> SystemTime {
    switchboard_core::model::time::from_millis(ms)
}

/// A claim's `now` and lease end, in milliseconds.
fn span(claim: &Claim) -> (i64, i64) {
    let now = millis(claim.now);
    let lease = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX);
    (now, now.saturating_add(lease))
}

/// A pending inbox row.
#[derive(Debug)]
struct InboxRow {
    conversation: Arc<str>,
    /// The event; without its raw payload when `raw` holds it.
    event: InboundEvent,
    /// The raw payload this event shares with others of its request (see `store::raw`).
    raw: Option<Arc<serde_json::Value>>,
}

impl InboxRow {
    /// The event whole.
    fn event(&self) -> InboundEvent {
        let mut event = self.event.clone();
        if let Some(raw) = &self.raw {
            event.raw = (**raw).clone();
        }
        event
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: i64,
    /// (channel, event id) of every event stored and not pruned.
    keys: HashSet<(String, String)>,
    /// The same keys by (received at, seq), for pruning.
    keys_by_age: BTreeMap<(i64, i64), (String, String)>,
    /// Pending inbox rows.
    inbox: HashMap<i64, InboxRow>,
    inbox_heads: Heads,
    /// Dead letters of both kinds, by seq (one sequence for both queues).
    dead: BTreeMap<i64, DeadLetter>,
    /// Every outbox row (pending, sent until pruned, dead).
    outbox: HashMap<i64, OutRow>,
    outbox_keys: HashMap<String, i64>,
    outbox_heads: Heads,
    /// (channel, provider message id) → outbox row.
    sent_ids: HashMap<(String, String), i64>,
    /// Sent rows per conversation by (sent at, seq), for watermarks.
    sent_by_conversation: HashMap<Arc<str>, BTreeSet<(i64, i64)>>,
    /// Sent rows by (sent at, seq), for pruning.
    sent_by_age: BTreeSet<(i64, i64)>,
    /// Keyed proofs by outbox key and part, with when they were recorded.
    proofs: HashMap<String, BTreeMap<u32, (SendProof, i64)>>,
    proofs_by_age: BTreeSet<(i64, String, u32)>,
    /// Delivery receipts for messages no row has recorded yet.
    early_receipts: pending::PendingReceipts,
    state: HashMap<String, serde_json::Value>,
    options: HashMap<String, (Vec<TextOption>, i64)>,
    /// Last inbound times and opt-outs, by conversation key.
    contacts: contacts::Contacts,
    /// The gateway's forwarding queues.
    forwards: forward::Forwards,
}

impl Inner {
    fn seq(&mut self) -> i64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn write_state(&mut self, conversation: String, value: Option<serde_json::Value>) {
        match value {
            Some(v) => self.state.insert(conversation, v),
            None => self.state.remove(&conversation),
        };
    }

    fn prune_keys(&mut self, before: i64) -> u64 {
        let old: Vec<(i64, i64)> = self
            .keys_by_age
            .range(..(before, i64::MIN))
            .map(|(k, _)| *k)
            .collect();
        let mut pruned = 0;
        for (at, seq) in old {
            // Pending events and dead letters deduplicate for as long as they are kept.
            if self.inbox.contains_key(&seq) || self.dead.contains_key(&seq) {
                continue;
            }
            if let Some(key) = self.keys_by_age.remove(&(at, seq)) {
                self.keys.remove(&key);
                pruned += 1;
            }
        }
        pruned
    }

    fn prune_proofs(&mut self, before: i64) -> u64 {
        let old: Vec<(i64, String, u32)> = self
            .proofs_by_age
            .range(..(before, String::new(), 0))
            .cloned()
            .collect();
        for entry in &old {
            self.proofs_by_age.remove(entry);
            let (_, key, part) = entry;
            if let Some(parts) = self.proofs.get_mut(key) {
                parts.remove(part);
                if parts.is_empty() {
                    self.proofs.remove(key);
                }
            }
        }
        old.len() as u64
    }
}

/// An in-memory store. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    webchat: Mutex<webchat::Webchat>,
    installs: Mutex<installs::Installs>,
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

    fn installs(&self) -> MutexGuard<'_, installs::Installs> {
        self.installs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn webchat(&self) -> MutexGuard<'_, webchat::Webchat> {
        self.webchat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn recover(&self) -> Result<()> {
        // Nothing outlives the process, so no lease of a dead engine can be in here.
        Ok(())
    }

    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        Ok(self
            .lock()
            .insert_inbound(events, millis(SystemTime::now())))
    }

    async fn claim_inbox(&self, claim: Claim) -> Result<Vec<InboxItem>> {
        Ok(self.lock().claim_inbox(&claim))
    }

    async fn finish_inbox(&self, finishes: Vec<InboxFinish>) -> Result<Vec<Result<bool>>> {
        let mut g = self.lock();
        Ok(finishes.into_iter().map(|f| g.finish_inbox(f)).collect())
    }

    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        self.lock().enqueue_outbound(rows)
    }

    async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>> {
        Ok(self.lock().claim_outbox(&claim))
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>> {
        let mut g = self.lock();
        let now = millis(SystemTime::now());
        Ok(updates
            .into_iter()
            .map(|u| g.update_outbox(u, now))
            .collect())
    }

    async fn renew(&self, queue: Queue, leases: &[Lease], until: SystemTime) -> Result<Vec<bool>> {
        let mut g = self.lock();
        let until = millis(until);
        Ok(leases
            .iter()
            .map(|lease| g.renew(queue, *lease, until))
            .collect())
    }

    async fn record_receipts(&self, receipts: &[Receipt], now: SystemTime) -> Result<Vec<u64>> {
        let mut g = self.lock();
        let now = millis(now);
        Ok(receipts.iter().map(|r| g.record_receipt(r, now)).collect())
    }

    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        Ok(self
            .lock()
            .proofs
            .get(key)
            .map(|parts| parts.values().map(|(p, _)| p.clone()).collect())
            .unwrap_or_default())
    }

    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        Ok(self.lock().outbox_status(key))
    }

    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        Ok(self.lock().state.get(conversation).cloned())
    }

    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        self.lock().write_state(conversation.to_owned(), value);
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
        Ok(self.lock().dead.values().take(limit).cloned().collect())
    }

    async fn stats(&self) -> Result<StoreStats> {
        let g = self.lock();
        let dead_inbound = g
            .dead
            .values()
            .filter(|d| d.kind == DeadLetterKind::Inbound)
            .count();
        Ok(StoreStats {
            inbox_pending: g.inbox.len() as u64,
            inbox_done: g.keys.len().saturating_sub(g.inbox.len() + dead_inbound) as u64,
            outbox_pending: g.outbox_heads.len() as u64,
            outbox_sent: g.sent_by_age.len() as u64,
            dead: g.dead.len() as u64,
        })
    }

    async fn prune(&self, prune: Prune) -> Result<Pruned> {
        let (before, now) = (millis(prune.done_before), millis(prune.now));
        let mut g = self.lock();
        let options = g.options.len();
        g.options.retain(|_, (_, expires)| *expires > now);
        Ok(Pruned {
            inbox: g.prune_keys(before),
            outbox: g.prune_sent(before),
            proofs: g.prune_proofs(before),
            receipts: g.early_receipts.prune(before),
            // Shared payloads go with the last row that holds them.
            raw_payloads: 0,
            options: (options - g.options.len()) as u64,
        })
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    fn exclusive(&self) -> bool {
        true
    }

    async fn contact(&self, conversation: &str, scope: Option<&str>) -> Result<Contact> {
        Ok(self.lock().contacts.contact(conversation, scope))
    }

    async fn log_append(&self, appends: &[LogAppend]) -> Result<Vec<u64>> {
        Ok(self.webchat().append(appends))
    }

    async fn log_read(
        &self,
        conversation: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        Ok(self.webchat().read(conversation, after, limit))
    }

    async fn log_prune(&self, retention: &crate::store::LogRetention) -> Result<u64> {
        Ok(self.webchat().prune(retention))
    }

    async fn log_pruned(&self, conversation: &str) -> Result<u64> {
        Ok(self.webchat().pruned(conversation))
    }

    async fn put_upload(&self, upload: &Upload) -> Result<()> {
        self.webchat().put_upload(upload);
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>> {
        Ok(self.webchat().get_upload(id))
    }

    async fn keep_secret(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
        Ok(self.webchat().keep_secret(name, proposed))
    }

    async fn put_install(&self, row: &crate::store::InstallRow) -> Result<()> {
        self.installs().put(row);
        Ok(())
    }

    async fn get_install(
        &self,
        channel: &str,
        tenant: &str,
    ) -> Result<Option<crate::store::InstallRow>> {
        Ok(self.installs().get(channel, tenant))
    }

    async fn list_installs(&self, channel: Option<&str>) -> Result<Vec<crate::store::InstallRow>> {
        Ok(self.installs().list(channel))
    }

    async fn delete_install(&self, channel: &str, tenant: &str) -> Result<bool> {
        Ok(self.installs().delete(channel, tenant))
    }

    async fn claim_install_refresh(
        &self,
        channel: &str,
        tenant: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<bool> {
        Ok(self
            .installs()
            .claim_refresh(channel, tenant, millis(now), millis(until)))
    }

    async fn spend_oauth_state(
        &self,
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool> {
        Ok(self
            .installs()
            .spend_state(nonce, millis(expires_at), millis(now)))
    }

    async fn enqueue_forwards(&self, rows: &[NewForward], now: SystemTime) -> Result<Vec<bool>> {
        Ok(self.lock().enqueue_forwards(rows, millis(now)))
    }

    async fn claim_forwards(&self, claim: Claim) -> Result<Vec<ForwardItem>> {
        Ok(self.lock().claim_forwards(&claim))
    }

    async fn finish_forwards(
        &self,
        finishes: Vec<ForwardFinish>,
        now: SystemTime,
    ) -> Result<Vec<Result<bool>>> {
        let mut g = self.lock();
        Ok(finishes
            .into_iter()
            .map(|f| g.finish_forward(f, millis(now)))
            .collect())
    }

    async fn set_forward_disabled(
        &self,
        endpoint: &str,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        self.lock()
            .set_forward_disabled(endpoint, reason, millis(now));
        Ok(())
    }

    async fn forward_endpoints(&self) -> Result<Vec<ForwardEndpoint>> {
        Ok(self.lock().forward_endpoints())
    }

    async fn forward_dead_letters(
        &self,
        endpoint: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ForwardDead>> {
        Ok(self.lock().forward_dead_letters(endpoint, limit))
    }

    async fn replay_forwards(&self, endpoint: &str, now: SystemTime) -> Result<u64> {
        Ok(self.lock().replay_forwards(endpoint, millis(now)))
    }

    async fn prune_forwards(&self, before: SystemTime) -> Result<u64> {
        Ok(self.lock().prune_forwards(millis(before)))
    }
}
