//! The policy check when the store cannot answer it (issue 15 item 12): a store that fails the
//! lookup (an I/O error) holds the send and checks again later, nothing lost; a store that
//! keeps no policy facts (a third party's, `Unsupported`) leaves the decision to the provider.
//! `cargo test -p switchboard --features emulators --test engine -- policy_store_faults::`
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crate::common::faulty::FaultyStore;
use switchboard::core::model::{EventId, InboundMessage, Sender};
use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions};
use switchboard::store::{OutboxState, OutboxStatus};
use switchboard::{
    ConversationRef, Env, EventKind, InboundEvent, OutboundMessage, Switchboard,
    SwitchboardBuilder, UserId,
};

const PSID: &str = "6254710388245291";
const HOUR: Duration = Duration::from_secs(3600);

async fn engine(meta: &Meta, store: Arc<FaultyStore>) -> Switchboard {
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

/// Sends "Hello" to the customer; how the send ended.
async fn send_hello(sb: &Switchboard) -> OutboxStatus {
    let to = ConversationRef::parse("fb", PSID).unwrap();
    let key = sb
        .send(to, OutboundMessage::text("Hello").unwrap())
        .await
        .unwrap();
    settled(sb, &key).await
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
    let store = Arc::new(FaultyStore::new().failing_lookups(2));
    let sb = engine(&meta, store.clone()).await;
    let workers = sb.start_workers();
    customer_wrote(&meta, &sb, HOUR).await;
    let status = send_hello(&sb).await;
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
    let store = Arc::new(FaultyStore::new().without_facts());
    let sb = engine(&meta, store.clone()).await;
    let workers = sb.start_workers();
    customer_wrote(&meta, &sb, HOUR * 25).await;
    let status = send_hello(&sb).await;
    // The request went out and Meta refused it (10/2018278): the same kind, from the provider.
    assert_eq!(status.state, OutboxState::Dead);
    let error = status.error.unwrap();
    assert!(error.contains("policy_violation"), "{error}");
    assert!(error.contains("2018278"), "{error}");
    assert!(status.first_attempt_at.is_some(), "a request was made");
    workers.stop().await;
}
