//! A memory store that fails what a test asks it to: receipts (a full disk), statistics and
//! readiness (an unreadable file), policy lookups (an I/O error, or a store that keeps no
//! policy facts at all). Its claims carry no policy facts, so the sender asks `contact`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::SystemTime;

use switchboard::core::render::TextOption;
use switchboard::store::{
    Claim, Contact, DeadLetter, InboxFinish, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, StoreStats,
};
use switchboard::{Error, ErrorKind, InboundEvent, MemoryStore, Result, Store};

/// A [`MemoryStore`] with faults; every fault is off in [`FaultyStore::new`].
#[derive(Debug)]
pub struct FaultyStore {
    pub inner: MemoryStore,
    /// `record_receipts` fails this many more times (`Transport`, a full disk).
    pub fail_receipts: AtomicUsize,
    /// `stats` and `ping` fail (`Transport`, naming a file the answer must not show).
    pub fail_stats: AtomicBool,
    /// `contact` fails this many more times (`Transport`, an I/O error).
    pub fail_lookups: AtomicUsize,
    /// `contact` answers `Unsupported`: a store that keeps no policy facts.
    pub no_facts: AtomicBool,
    /// `contact` calls so far.
    pub lookups: AtomicUsize,
}

impl FaultyStore {
    pub fn new() -> Self {
        FaultyStore {
            inner: MemoryStore::new(),
            fail_receipts: AtomicUsize::new(0),
            fail_stats: AtomicBool::new(false),
            fail_lookups: AtomicUsize::new(0),
            no_facts: AtomicBool::new(false),
            lookups: AtomicUsize::new(0),
        }
    }

    /// With `contact` answering `Unsupported`.
    pub fn without_facts(self) -> Self {
        self.no_facts.store(true, Ordering::SeqCst);
        self
    }

    /// With `contact` failing the first `n` times.
    pub fn failing_lookups(self, n: usize) -> Self {
        self.fail_lookups.store(n, Ordering::SeqCst);
        self
    }

    /// With `stats` and `ping` failing.
    pub fn failing_stats(self) -> Self {
        self.fail_stats.store(true, Ordering::SeqCst);
        self
    }

    fn unavailable(&self) -> Result<()> {
        if self.fail_stats.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::Transport,
                "store: unable to open /srv/secret/engine.db: disk I/O error",
            ));
        }
        Ok(())
    }
}

/// Takes one from `left` unless it is 0; whether it did.
fn take(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[switchboard::async_trait]
impl Store for FaultyStore {
    async fn recover(&self) -> Result<()> {
        self.inner.recover().await
    }
    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        self.inner.insert_inbound(events).await
    }
    async fn claim_inbox(&self, claim: Claim) -> Result<Vec<InboxItem>> {
        self.inner.claim_inbox(claim).await
    }
    async fn finish_inbox(&self, finishes: Vec<InboxFinish>) -> Result<Vec<Result<bool>>> {
        self.inner.finish_inbox(finishes).await
    }
    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        self.inner.enqueue_outbound(rows).await
    }
    /// Without the policy facts the memory store reads with its claim
    /// ([`OutboxItem::contact`]): like a third-party store, the sender then asks `contact`,
    /// where the faults are.
    async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>> {
        let mut items = self.inner.claim_outbox(claim).await?;
        for item in &mut items {
            item.contact = None;
        }
        Ok(items)
    }
    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>> {
        self.inner.update_outbox(updates).await
    }
    async fn renew(&self, queue: Queue, leases: &[Lease], until: SystemTime) -> Result<Vec<bool>> {
        self.inner.renew(queue, leases, until).await
    }
    async fn record_receipts(&self, receipts: &[Receipt], now: SystemTime) -> Result<Vec<u64>> {
        if take(&self.fail_receipts) {
            return Err(Error::new(ErrorKind::Transport, "store: disk full"));
        }
        self.inner.record_receipts(receipts, now).await
    }
    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        self.inner.proofs(key).await
    }
    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        self.inner.outbox_status(key).await
    }
    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        self.inner.get_state(conversation).await
    }
    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()> {
        self.inner.set_state(conversation, value).await
    }
    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>> {
        self.inner.get_options(conversation, now).await
    }
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        self.inner.dead_letters(limit).await
    }
    async fn stats(&self) -> Result<StoreStats> {
        self.unavailable()?;
        self.inner.stats().await
    }
    async fn prune(&self, prune: Prune) -> Result<Pruned> {
        self.inner.prune(prune).await
    }
    async fn ping(&self) -> Result<()> {
        self.unavailable()?;
        self.inner.ping().await
    }
    async fn contact(&self, conversation: &str, scope: Option<&str>) -> Result<Contact> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.no_facts.load(Ordering::SeqCst) {
            return Err(Error::unsupported("policy facts in this store"));
        }
        if take(&self.fail_lookups) {
            return Err(Error::new(ErrorKind::Transport, "store: disk I/O error"));
        }
        self.inner.contact(conversation, scope).await
    }
}
