//! The store conformance suite: behaviour every [`Store`] must have (feature `testkit`).
//!
//! Every check is a plain `pub async fn(&dyn Store)` that expects an empty store and panics
//! on a violation, so a store's tests can call them one by one; [`store_conformance_tests!`](crate::store_conformance_tests)
//! expands to one `#[tokio::test]` per check, each with a fresh store from a [`Subject`]
//! maker. This crate runs them against [`MemoryStore`] and [`SqliteStore`]; a PostgreSQL or a
//! third party's store runs the same:
//!
//! ```
//! // In a store's tests (needs `switchboard` with feature `testkit`, and tokio with
//! // `macros` and `rt`): cargo test -p switchboard --features testkit
//! use std::sync::Arc;
//! use switchboard::store::testkit::Subject;
//!
//! async fn memory() -> Subject {
//!     Subject::new(Arc::new(switchboard::MemoryStore::new()))
//! }
//!
//! switchboard::store_conformance_tests!(memory);
//! # fn main() {}
//! ```
//!
//! By topic: [`inbox`] (dedupe, order, leases, completion, retries, dead letters), [`heads`]
//! (the ready queue: one head per conversation, the next row after a finish, batches),
//! [`sends`] (the outbox), [`receipts`] (proofs, delivery receipts), [`maintenance`] (state,
//! pruning), [`contacts`] (last inbound times and opt-outs, for policy checks),
//! [`webchat`] (the web chat log, uploads, secrets), [`installs`] (installations, refresh
//! leases, OAuth states).
//!
//! [`MemoryStore`]: crate::MemoryStore
//! [`SqliteStore`]: crate::SqliteStore
// The checks panic on a violation (that is how a test fails).
#![allow(clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchboard_core::model::{EventId, EventKind, InboundMessage, MessageId, Sender};
use switchboard_core::{ConversationRef, InboundEvent, OutboundMessage, SentMessage, UserId};

use super::{Claim, NewOutbound, OutboxItem, Store, StoreExt};

/// What every check module uses.
mod prelude {
    pub(super) use std::time::{Duration, SystemTime};

    pub(super) use switchboard_core::model::{ActionSource, DeliveryStatus, MessageId};
    pub(super) use switchboard_core::render::TextOption;
    pub(super) use switchboard_core::{ChannelName, ConversationRef, ErrorKind, SentMessage};

    pub(super) use super::{LEASE, claimed_reply, ev, reply, send_head};
    pub(super) use crate::store::{
        Claim, Completion, DeadLetterKind, InboxFinish, InboxOutcome, Inserted, Lease,
        OutboxChange, OutboxState, OutboxUpdate, Prune, Queue, SendProof, Store, StoreExt, millis,
        proven_ids,
    };
}

pub mod contacts;
pub mod early_receipts;
pub mod forward;
pub mod heads;
pub mod inbox;
pub mod installs;
pub mod maintenance;
pub mod outbox_media;
pub mod raw_payloads;
pub mod receipts;
pub mod sends;
pub mod webchat;

pub use contacts::{
    claimed_sends_carry_the_contact_facts, last_inbound_times_are_kept_with_the_insert,
    opt_outs_follow_the_latest_keyword,
};
pub use early_receipts::early_delivery_receipts_are_kept_until_the_send_is_recorded;
pub use forward::{
    delivered_forwards_deduplicate_until_pruned, forward_delivery_writes_replies_atomically,
    forward_leases_fence_and_expire, forward_retries_disable_and_dead_letters,
    forwarding_is_supported, forwards_deduplicate_and_keep_conversation_order,
};
pub use heads::{
    a_batch_with_a_lost_lease_writes_nothing_for_that_row,
    a_claim_hands_out_one_head_per_conversation, due_heads_are_claimed_before_new_ones,
    handled_events_deduplicate_until_pruned, the_next_row_becomes_ready_after_a_finish,
};
pub use inbox::{
    claims_keep_conversation_order, completion_with_a_taken_outbox_key_writes_nothing,
    completion_writes_outbox_and_state, dedupe_and_insert, expired_leases_are_reclaimed,
    leases_are_renewed, retries_and_dead_letters,
};
pub use installs::{
    installs_are_kept_replaced_and_deleted, oauth_states_are_spent_once,
    refresh_claims_are_exclusive_until_released,
};
pub use maintenance::{pruning_keeps_pending_and_dead_rows, state_outside_handlers};
pub use outbox_media::byte_attachments_round_trip;
pub use raw_payloads::shared_raw_payloads_come_back_whole;
pub use receipts::{delivery_watermarks, proofs_are_durable_and_complete_rows};
pub use sends::{
    attempts_make_rows_uncertain, deferred_sends_use_no_attempt, enqueue_outside_handlers,
    interrupted_sends_are_flagged, partial_sends_map_receipts,
};
pub use webchat::{
    log_retention_prunes_the_oldest_and_remembers_how_far, log_sequences_grow_and_keys_append_once,
    uploads_and_secrets_are_kept,
};

/// A store under test, and whatever must live as long as it (a temporary file, a test
/// database's handle), dropped after the check.
pub struct Subject {
    store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("store", &self.store)
            .finish()
    }
}

impl Subject {
    /// A store with nothing else to keep alive.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Subject::with_guard(store, ())
    }

    /// A store and a guard dropped after it.
    pub fn with_guard(store: Arc<dyn Store>, guard: impl Any + Send) -> Self {
        Subject {
            store,
            _guard: Box::new(guard),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }
}

/// Expands to one `#[tokio::test]` per conformance check, each calling `$make().await` (an
/// `async fn() -> Subject` giving an empty store) and running the check on it. See
/// [`testkit`](crate::store::testkit).
///
/// `store_conformance_tests!(optional make)` takes an `async fn() -> Option<Subject>`: a store
/// that needs a service (PostgreSQL) gives `None` where the service is not there (after
/// [`require_service`](crate::testkit::require_service) printed the skip line), and the
/// checks return at once.
#[macro_export]
macro_rules! store_conformance_tests {
    (@all [$mode:ident] $make:path) => {
        $crate::store_conformance_tests!(@$mode $make;
            dedupe_and_insert,
            claims_keep_conversation_order,
            expired_leases_are_reclaimed,
            completion_writes_outbox_and_state,
            retries_and_dead_letters,
            completion_with_a_taken_outbox_key_writes_nothing,
            leases_are_renewed,
            a_claim_hands_out_one_head_per_conversation,
            the_next_row_becomes_ready_after_a_finish,
            due_heads_are_claimed_before_new_ones,
            handled_events_deduplicate_until_pruned,
            a_batch_with_a_lost_lease_writes_nothing_for_that_row,
            interrupted_sends_are_flagged,
            attempts_make_rows_uncertain,
            deferred_sends_use_no_attempt,
            partial_sends_map_receipts,
            enqueue_outside_handlers,
            proofs_are_durable_and_complete_rows,
            delivery_watermarks,
            state_outside_handlers,
            pruning_keeps_pending_and_dead_rows,
            early_delivery_receipts_are_kept_until_the_send_is_recorded,
            byte_attachments_round_trip,
            shared_raw_payloads_come_back_whole,
            last_inbound_times_are_kept_with_the_insert,
            opt_outs_follow_the_latest_keyword,
            claimed_sends_carry_the_contact_facts,
            log_sequences_grow_and_keys_append_once,
            log_retention_prunes_the_oldest_and_remembers_how_far,
            uploads_and_secrets_are_kept,
            forwards_deduplicate_and_keep_conversation_order,
            forward_leases_fence_and_expire,
            forward_retries_disable_and_dead_letters,
            forward_delivery_writes_replies_atomically,
            delivered_forwards_deduplicate_until_pruned,
            installs_are_kept_replaced_and_deleted,
            refresh_claims_are_exclusive_until_released,
            oauth_states_are_spent_once,
        );
    };
    (@checks $make:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let subject = $make().await;
                $crate::store::testkit::$check(subject.store()).await;
            }
        )*
    };
    (@optional $make:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                // `None`: the store's service is not there (the maker printed why).
                let Some(subject) = $make().await else { return };
                $crate::store::testkit::$check(subject.store()).await;
            }
        )*
    };
    (optional $make:path) => {
        $crate::store_conformance_tests!(@all [optional] $make);
    };
    ($make:path) => {
        $crate::store_conformance_tests!(@all [checks] $make);
    };
}

/// A text message event `id` from user u1 in conversation `conv` of channel `mem`.
pub fn event(id: &str, conv: &str) -> InboundEvent {
    InboundEvent::new(
        EventId::new(id).unwrap(),
        ConversationRef::parse("mem", conv).unwrap(),
        Sender::user(UserId::new("u1").unwrap()),
        SystemTime::now(),
        EventKind::Message(InboundMessage::text(format!("text {id}"))),
        serde_json::json!({ "id": id }),
    )
}

fn ev(id: &str, conv: &str) -> InboundEvent {
    event(id, conv)
}

/// An outbox row `key` with `text` to conversation `conv` of channel `mem`.
pub fn reply(key: &str, conv: &str, text: &str) -> NewOutbound {
    NewOutbound::new(
        key,
        ConversationRef::parse("mem", conv).unwrap(),
        OutboundMessage::text(text).unwrap(),
    )
}

/// The lease the checks claim with.
pub const LEASE: Duration = Duration::from_secs(30);

/// A head row of conversation `conv` with key `key`, claimed.
async fn claimed_reply(store: &dyn Store, key: &str, conv: &str, now: SystemTime) -> OutboxItem {
    let ok = store
        .enqueue_outbound(&[reply(key, conv, "hello")])
        .await
        .unwrap();
    assert_eq!(ok, vec![true]);
    store
        .claim_outbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0)
}

/// Whether `store` reads the policy facts with its outbox claims
/// ([`OutboxItem::contact`]): panics if a claimed row comes without them (the conformance check
/// [`claimed_sends_carry_the_contact_facts`] accepts that; a store that means to carry them
/// runs this too).
pub async fn claims_carry_contact_facts(store: &dyn Store) {
    let item = claimed_reply(store, "facts:0", "facts", SystemTime::now()).await;
    assert!(
        item.contact.is_some(),
        "the claimed row carries no contact facts"
    );
}

/// Sends the head of the outbox now, as provider message `id`.
async fn send_head(store: &dyn Store, id: &str) -> String {
    let out = store
        .claim_outbox(Claim::new(SystemTime::now(), LEASE, 1))
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

#[cfg(test)]
mod suites {
    use super::Subject;

    async fn memory() -> Subject {
        Subject::new(std::sync::Arc::new(crate::MemoryStore::new()))
    }

    async fn sqlite() -> Subject {
        let db = crate::store::sqlite::tests::TempDb::new();
        let store = crate::SqliteStore::connect(&db.url()).await.unwrap();
        Subject::with_guard(std::sync::Arc::new(store), db)
    }

    mod memory_store {
        crate::store_conformance_tests!(super::memory);
    }

    mod sqlite_store {
        crate::store_conformance_tests!(super::sqlite);
    }

    /// The contact-facts check accepts a claim without them: ours must read them.
    #[tokio::test]
    async fn memory_and_sqlite_claims_carry_the_contact_facts() {
        for subject in [memory().await, sqlite().await] {
            crate::store::testkit::claims_carry_contact_facts(subject.store()).await;
        }
    }

    /// The forwarding checks skip a store without the queue: ours must have it.
    #[tokio::test]
    async fn memory_and_sqlite_have_a_forwarding_queue() {
        crate::store::testkit::forwarding_is_supported(memory().await.store()).await;
        crate::store::testkit::forwarding_is_supported(sqlite().await.store()).await;
    }
}
