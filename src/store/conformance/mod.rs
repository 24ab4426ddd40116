//! Behaviour every [`Store`] must have; run against the memory and SQLite stores.
//!
//! By topic: [`inbox`], [`sends`] (the outbox), [`receipts`], [`maintenance`] (state, pruning);
//! [`sqlite_only`] holds what only the SQLite store has. Every topic's `pub(crate)` checks are
//! run against both stores by `store_tests!` below.

use std::time::{Duration, SystemTime};

use switchboard_core::model::ActionSource;
use switchboard_core::model::{
    DeliveryStatus, EventId, EventKind, InboundMessage, MessageId, Sender,
};
use switchboard_core::render::TextOption;
use switchboard_core::{ConversationRef, InboundEvent, OutboundMessage, SentMessage, UserId};

use super::*;

mod inbox;
mod maintenance;
mod receipts;
mod sends;
mod sqlite_only;

use inbox::{
    claims_keep_conversation_order, completion_with_a_taken_outbox_key_writes_nothing,
    completion_writes_outbox_and_state, dedupe_and_insert, expired_leases_are_reclaimed,
    leases_are_renewed, retries_and_dead_letters,
};
use maintenance::{pruning_keeps_pending_and_dead_rows, state_outside_handlers};
use receipts::{delivery_watermarks, proofs_are_durable_and_complete_rows};
use sends::{
    attempts_make_rows_uncertain, deferred_sends_use_no_attempt, enqueue_outside_handlers,
    interrupted_sends_are_flagged, partial_sends_map_receipts,
};
use sqlite_only::TempDb;

fn ev(id: &str, conv: &str) -> InboundEvent {
    InboundEvent::new(
        EventId::new(id).unwrap(),
        ConversationRef::parse("mem", conv).unwrap(),
        Sender::user(UserId::new("u1").unwrap()),
        SystemTime::now(),
        EventKind::Message(InboundMessage::text(format!("text {id}"))),
        serde_json::json!({ "id": id }),
    )
}

fn reply(key: &str, conv: &str, text: &str) -> NewOutbound {
    NewOutbound {
        key: key.to_owned(),
        to: ConversationRef::parse("mem", conv).unwrap(),
        message: OutboundMessage::text(text).unwrap(),
    }
}

const LEASE: Duration = Duration::from_secs(30);

/// A head row of conversation `conv` with key `key`, claimed.
async fn claimed_reply(store: &dyn Store, key: &str, conv: &str, now: SystemTime) -> OutboxItem {
    let ok = store
        .enqueue_outbound(&[reply(key, conv, "hello")])
        .await
        .unwrap();
    assert_eq!(ok, vec![true]);
    store.claim_outbox(now, LEASE, 1).await.unwrap().remove(0)
}

/// Sends the head of the outbox now, as provider message `id`.
async fn send_head(store: &dyn Store, id: &str) -> String {
    let out = store
        .claim_outbox(SystemTime::now(), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let sent = SentMessage::new(MessageId::new(id).unwrap(), out.to.clone());
    assert!(
        store
            .outbox_sent(out.lease, &[sent], &[], SystemTime::now())
            .await
            .unwrap()
    );
    out.key
}

macro_rules! store_tests {
    ($modname:ident, $make:expr) => {
        mod $modname {
            #[allow(unused_imports)]
            use super::*;
            store_tests!(@one $make; dedupe_and_insert, claims_keep_conversation_order,
                expired_leases_are_reclaimed, completion_writes_outbox_and_state,
                retries_and_dead_letters, interrupted_sends_are_flagged, state_outside_handlers,
                enqueue_outside_handlers, leases_are_renewed, delivery_watermarks,
                pruning_keeps_pending_and_dead_rows, attempts_make_rows_uncertain,
                partial_sends_map_receipts, proofs_are_durable_and_complete_rows,
                deferred_sends_use_no_attempt,
                completion_with_a_taken_outbox_key_writes_nothing);
        }
    };
    (@one $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make.await;
                super::super::$name(&*store).await;
            }
        )*
    };
}

async fn memory() -> (std::sync::Arc<dyn Store>, ()) {
    (std::sync::Arc::new(MemoryStore::new()), ())
}

async fn sqlite() -> (std::sync::Arc<dyn Store>, TempDb) {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 3);
    (std::sync::Arc::new(store), db)
}

mod suites {
    use super::*;
    store_tests!(memory_store, memory());
    store_tests!(sqlite_store, sqlite());
}
