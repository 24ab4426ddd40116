//! The policy check when the store cannot answer it (issue 15 item 12): a store that fails the
//! lookup (an I/O error) holds the send and checks again later, nothing lost; a store that
//! keeps no policy facts (a third party's, `Unsupported`) leaves the decision to the provider.
#![cfg(all(feature = "emulators", feature = "messenger"))]
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use switchboard::core::model::{EventId, InboundMessage, Sender};
use switchboard::core::render::TextOption;
use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions};
use switchboard::store::{
    Claim, Contact, DeadLetter, InboxFinish, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxState, OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, StoreStats,
};
use switchboard::{
    ConversationRef, Env, Error, ErrorKind, EventKind, InboundEvent, MemoryStore, OutboundMessage,
    Result, Store, Switchboard, SwitchboardBuilder, UserId, async_trait,
};

const PSID: &str = "6254710388245291";
const HOUR: Duration = Duration::from_secs(3600);

/// A memory store whose policy lookups fail `failures` times (`Transport`), or are not
/// implemented at all (`facts: false`).
#[derive(Debug)]
struct Faulty {
    inner: MemoryStore,
    facts: bool,
    failures: AtomicUsize,
    lookups: AtomicUsize,
}

#[async_trait]
impl Store for Faulty {
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
    async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>> {
        self.inner.claim_outbox(claim).await
    }
    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>> {
        self.inner.update_outbox(updates).await
    }
    async fn renew(&self, queue: Queue, leases: &[Lease], until: SystemTime) -> Result<Vec<bool>> {
        self.inner.renew(queue, leases, until).await
    }
    async fn record_receipts(&self, receipts: &[Receipt], now: SystemTime) -> Result<Vec<u64>> {
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
        self.inner.stats().await
    }
    async fn prune(&self, prune: Prune) -> Result<Pruned> {
        self.inner.prune(prune).await
    }
    async fn contact(&self, conversation: &str, scope: Option<&str>) -> Result<Contact> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if !self.facts {
            return Err(Error::unsupported("policy facts in this store"));
        }
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(Error::new(ErrorKind::Transport, "store: disk I/O error"));
        }
        self.inner.contact(conversation, scope).await
    }
}

async fn engine(meta: &Meta, store: Arc<Faulty>) -> Switchboard {
    let text = format!(
        "[engine]\npoll_interval = \"20ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"100ms\"\n\n\
         [channels.fb]\n{}",
        meta.channel_toml()
    );
    SwitchboardBuilder::from_config_str(&text, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .store(store)
        .build()
        .await
        .unwrap()
}

/// The customer wrote `ago` before now: at the emulator (its window) and in the store.
async fn customer_wrote(meta: &Meta, sb: &Switchboard, ago: Duration) {
    let at = SystemTime::now() - ago;
    meta.user_messaged_at(PSID, at);
    let event = InboundEvent::new(
        EventId::new(format!("m_{}", ago.as_secs())).unwrap(),
        ConversationRef::parse("fb", PSID).unwrap(),
        Sender::user(UserId::new(PSID).unwrap()),
        at,
        EventKind::Message(InboundMessage::text("hi")),
        serde_json::Value::Null,
    );
    sb.store().insert_inbound(&[event]).await.unwrap();
}

async fn settled(sb: &Switchboard, key: &str) -> OutboxStatus {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(s) = sb.store().outbox_status(key).await.unwrap()
            && s.state != OutboxState::Pending
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("outbox row {key} still pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_policy_lookup_holds_the_send_and_checks_again() {
    let meta = Meta::start(EmulatorOptions::default()).await.unwrap();
    let store = Arc::new(Faulty {
        inner: MemoryStore::new(),
        facts: true,
        failures: AtomicUsize::new(2),
        lookups: AtomicUsize::new(0),
    });
    let sb = engine(&meta, store.clone()).await;
    let workers = sb.start_workers();
    customer_wrote(&meta, &sb, HOUR).await;
    let key = sb
        .send(
            ConversationRef::parse("fb", PSID).unwrap(),
            OutboundMessage::text("Hello").unwrap(),
        )
        .await
        .unwrap();
    let status = settled(&sb, &key).await;
    assert_eq!(status.state, OutboxState::Sent, "{:?}", status.error);
    assert_eq!(
        store.lookups.load(Ordering::SeqCst),
        3,
        "two failures, then the answer"
    );
    assert_eq!(meta.messages().len(), 1, "sent once");
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_policy_facts_leaves_the_window_to_the_provider() {
    let meta = Meta::start(EmulatorOptions::default()).await.unwrap();
    let store = Arc::new(Faulty {
        inner: MemoryStore::new(),
        facts: false,
        failures: AtomicUsize::new(0),
        lookups: AtomicUsize::new(0),
    });
    let sb = engine(&meta, store.clone()).await;
    let workers = sb.start_workers();
    customer_wrote(&meta, &sb, HOUR * 25).await;
    let key = sb
        .send(
            ConversationRef::parse("fb", PSID).unwrap(),
            OutboundMessage::text("Hello").unwrap(),
        )
        .await
        .unwrap();
    let status = settled(&sb, &key).await;
    // The request went out and Meta refused it (10/2018278): the same kind, from the provider.
    assert_eq!(status.state, OutboxState::Dead);
    let error = status.error.unwrap();
    assert!(error.contains("policy_violation"), "{error}");
    assert!(error.contains("2018278"), "{error}");
    assert!(status.first_attempt_at.is_some(), "a request was made");
    workers.stop().await;
}
