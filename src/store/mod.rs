//! Durable state of the engine behind one trait: the inbox, the outbox, dedupe keys, degraded
//! options and per-conversation application state.
//!
//! Three stores ship: [`MemoryStore`] (tests, one process, nothing survives a restart; it is
//! the reference the other stores are checked against), [`SqliteStore`] (the embedded default,
//! one file, WAL) and, with cargo feature `postgres`, `PgStore` (`store::postgres`: one
//! database shared by several engine instances). The two SQL stores are one engine over two
//! dialects (a crate-private `sql` module holds the group-commit writer, the logic of every
//! write and the `Store` contract; each backend keeps only its SQL, its binding of batches and
//! how it connects). Others (a third party's) implement [`Store`]
//! and prove themselves with the public conformance suite, `switchboard::store::testkit`
//! (feature `testkit`).
//!
//! # Two traits: [`Store`] for implementers, [`StoreExt`] for users
//!
//! [`Store`] is the small contract a store implements: 17 required methods, most of them
//! *batched* (they take a slice or a `Vec` and answer per item), with options structs
//! ([`Claim`], [`Prune`]) and `#[non_exhaustive]` types with constructors, so the engine can
//! grow without breaking third-party stores. New capabilities arrive as *provided* methods
//! whose default answers `Unsupported`, never as new required ones. [`StoreExt`] (implemented
//! for every store) adds one-row conveniences (`complete_inbox`, `outbox_sent`,
//! `record_proof`, …) built on the batched calls: what tests and tools use. (The split is
//! object_store's `ObjectStore` / `ObjectStoreExt`.)
//!
//! # The model: queues of conversation heads
//!
//! The inbox and the outbox are [`Queue`]s of rows ordered per conversation (a conversation
//! key, [`conversation_key`]). Only a conversation's *head* (its lowest pending sequence
//! number) can be claimed, so a conversation's rows run one at a time, in order, while many
//! conversations run in parallel. A head is *ready* at `ready_at = max(available_at,
//! lease_until)`: a new head at the time its row was written (so heads are served in arrival
//! order), a retried one at its retry time, a leased one when its lease runs out. A claim hands
//! out up to `limit` ready heads, in `ready_at` order (sequence order among equals), and leases
//! them.
//!
//! # The contract
//!
//! - **Durability.** When a call returns `Ok`, what it wrote is durable (for SQLite with
//!   `synchronous = FULL`: on disk). The engine answers a webhook only after
//!   [`insert_inbound`](Store::insert_inbound) returned, and sends only after the attempt
//!   ([`OutboxChange::Attempt`]) is recorded.
//! - **Atomicity.** Each item of a batch is atomic on its own: dedupe + insert of one event; a
//!   completion with its outbox rows and state writes; a sent row with its message ids and
//!   options. Items of one batch may be committed together (group commit) but one item's
//!   refusal never undoes another's. An `Err` for the whole call means nothing was written.
//! - **Leases and fencing.** A claim sets a fresh random token (never 0) on each row it hands
//!   out and leases it until `now + lease`. Every finish, update and renewal presents the
//!   [`Lease`] (`seq`, `token`) and is refused (`Ok(false)`, nothing written) unless the row is
//!   still pending and holds that token: a late finisher whose lease ran out and was claimed
//!   again cannot write twice. A lease that ran out but was not claimed again may still
//!   finish. Renewal ([`renew`](Store::renew)) moves `lease_until`; a lease that is not renewed
//!   runs out, and its row becomes ready again.
//! - **Recovery is lease-based.** A crashed engine's rows come back when their leases run out;
//!   no instance ever takes a live lease away. [`recover`](Store::recover), called once when an
//!   engine starts, may release leases the store *knows* are dead and nothing else: the SQLite
//!   store holds a per-file lock, so every lease in its file belongs to a dead process; a store
//!   shared by live instances (PostgreSQL) releases nothing, or only leases of its own
//!   instance identity.
//! - **Order.** A claim never hands out two rows of one conversation, nor a row whose
//!   predecessor is still pending (retrying or leased). When a head finishes (handled, sent or
//!   dead-lettered) the conversation's next pending row becomes its head, ready at once.
//! - **Dedupe.** (channel, event id) is remembered from insert until
//!   [`prune`](Store::prune) deletes a *handled* event's key received before `done_before`:
//!   pending events and dead letters deduplicate forever.
//! - **Complexity.** A claim costs O(`limit` · log n), independent of the backlog and of the
//!   rows retained: it reads an index of ready heads, never the rows behind them or the
//!   handled ones. Finishing a row costs O(log n) (the next head is found through a
//!   (conversation, sequence) index). Inserts, dedupe, receipts, status and renewals are index
//!   lookups. Only [`stats`](Store::stats), [`dead_letters`](Store::dead_letters) and
//!   [`prune`](Store::prune) may scan, and `prune` must work in chunks. The memory store meets
//!   the same bounds; the SQLite store's hot statements are checked with `EXPLAIN QUERY PLAN`.
//! - **Time** is wall-clock milliseconds. Where a decision depends on "now" it is passed in
//!   ([`Claim::now`], `at`), so tests can move time.
//!
//! # What comes next fits
//!
//! A store shared by several engines claims heads with `SELECT … FOR UPDATE SKIP LOCKED` and
//! wakes the others through its own notifications; a gateway's per-endpoint forwarding queue is
//! one more [`Queue`] with the outbox's shape; a web chat's per-conversation message log and
//! delivery receipts kept until the send they name is recorded are provided methods (or
//! [`Receipt`] handling) added without touching the required ones, as the policy facts were
//! ([`Store::contact`]: a conversation's last inbound time and its opt-outs); receipts that
//! arrive before their send came as [`Receipt`] handling (schema version 5).

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::Serialize;
use switchboard_core::model::time::to_millis;
use switchboard_core::render::TextOption;
use switchboard_core::{ConversationRef, Error, ErrorKind, InboundEvent, Result};

mod contacts;
mod ext;
pub mod forward;
pub mod installs;
mod media;
mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
mod raw;
mod sql;
mod sqlite;
mod types;
pub mod webchat;

pub use ext::StoreExt;
pub use forward::{
    ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome, NewForward,
};
pub use installs::InstallRow;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgStore};
pub use sqlite::{SqliteStore, Synchronous};
/// What [`Store::contact`] answers (from `switchboard_core::policy`).
pub use switchboard_core::policy::{Contact, OptOut};
pub use types::{
    Claim, Completion, ContactFacts, DeadLetter, DeadLetterKind, InboxFinish, InboxItem,
    InboxOutcome, Inserted, Lease, NewOutbound, OutboxChange, OutboxItem, OutboxState,
    OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, StoreStats, proven_ids,
};
pub use webchat::{LogAppend, LogEntry, LogRetention, Upload};

/// The ordering and state key of a conversation: `"{channel}/{conversation}"` (threads share
/// their conversation's order).
pub fn conversation_key(to: &ConversationRef) -> String {
    format!("{}/{}", to.channel, to.conversation)
}

/// The engine's durable state: what a store implements (see the [module docs](self) for the
/// contract every method keeps).
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Called once when an engine starts, before it claims anything. Releases the leases the
    /// store knows belong to dead processes, and nothing else (see the module docs).
    async fn recover(&self) -> Result<()>;

    /// Deduplicates by (channel, event id) and inserts the new events at the end of their
    /// conversations. Returns one answer per event, in order (a repeat inside the batch is a
    /// `Duplicate`). When this returns `Ok`, the new events are durable.
    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>>;

    /// Leases up to `claim.limit` ready inbox heads (see the module docs), each with its
    /// conversation's live degraded options ([`InboxItem::options`]).
    async fn claim_inbox(&self, claim: Claim) -> Result<Vec<InboxItem>>;

    /// Finishes claimed inbox rows. One answer per item, in order: `Ok(true)` done,
    /// `Ok(false)` the lease was lost (nothing written), `Err` refused (nothing written; see
    /// [`InboxOutcome::Done`]).
    async fn finish_inbox(&self, finishes: Vec<InboxFinish>) -> Result<Vec<Result<bool>>>;

    /// Inserts outbox rows written outside a handler
    /// ([`Switchboard::send`](crate::Switchboard::send)), all in one transaction. Returns, per
    /// row, whether it was new (`false`: the key already holds the same destination and
    /// message, a repeat, and nothing was written). A key holding another destination or
    /// message is an error (`InvalidMessage`), and nothing is written.
    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>>;

    /// Leases up to `claim.limit` ready outbox heads. A head whose previous claim began a
    /// send ([`OutboxChange::Attempt`]) and never recorded an outcome comes back
    /// [`uncertain`](OutboxItem::uncertain).
    async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>>;

    /// Applies changes to claimed outbox rows. One answer per item, in order: `true` applied,
    /// `false` the lease was lost (nothing written).
    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>>;

    /// Extends held leases of `queue` to `until` (handlers and sends still running). One
    /// answer per lease: `false` when it was lost.
    async fn renew(&self, queue: Queue, leases: &[Lease], until: SystemTime) -> Result<Vec<bool>>;

    /// Records what providers reported, in order, at `now`. One count per receipt (see
    /// [`Receipt`] for what each counts). A delivery naming messages no row has recorded yet
    /// is kept and applied when a send records them ([`Receipt::Delivery`]): it is never
    /// dropped, and counts 0 now.
    async fn record_receipts(&self, receipts: &[Receipt], now: SystemTime) -> Result<Vec<u64>>;

    /// The proofs recorded for an outbox key, by part.
    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>>;

    /// The outbox row with this idempotency key (pending, sent until pruned, or dead).
    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>>;

    /// The application's state for a conversation key.
    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>>;

    /// Writes (or deletes, with `None`) the application's state outside a handler.
    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()>;

    /// The degraded options live for a conversation key at `now`.
    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>>;

    /// Dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// Row counts (may scan; not for hot paths).
    async fn stats(&self) -> Result<StoreStats>;

    /// Deletes what is no longer needed: dedupe keys of handled events received before
    /// `done_before`, sent outbox rows sent before it (with their message ids), keyed proofs
    /// recorded before it, and degraded options expired at `now`. Pending rows and dead
    /// letters are never pruned.
    async fn prune(&self, prune: Prune) -> Result<Pruned>;

    /// Whether the store answers (readiness probes): cheap, no scan. The default counts rows
    /// with [`stats`](Self::stats); override it.
    async fn ping(&self) -> Result<()> {
        self.stats().await.map(|_| ())
    }

    /// Whether this process is the store's only user (the memory store; SQLite, one engine per
    /// file): then the engine can count the backlog itself and bound it (`server.max_backlog`,
    /// see [`crate::docs`], "A bounded backlog"). `false`, the default: a store that others may
    /// share, whose backlog no single process sees, is not bounded.
    fn exclusive(&self) -> bool {
        false
    }

    /// Wake-ups from other processes sharing the store: each message names a queue that got
    /// ready rows (the engine wakes that queue's claim loop; polling stays the safety net).
    /// `None`, the default: no other process writes to this store.
    fn wake_ups(&self) -> Option<tokio::sync::broadcast::Receiver<Queue>> {
        None
    }

    /// What the store knows of a conversation's customer, for the policy check before a send
    /// ([`switchboard_core::policy`]): the latest `at` of its events that
    /// [count as inbound](switchboard_core::policy::counts_as_inbound), and the opt-out in
    /// force under `scope` (none without a scope).
    ///
    /// A store that answers it keeps these facts in [`insert_inbound`](Self::insert_inbound),
    /// in the same transaction as the events and only for new ones (a duplicate changes
    /// nothing): the conversation's last inbound time only moves forward (events may arrive
    /// out of order), and an event's [`ConsentChange`](switchboard_core::ConsentChange)
    /// replaces the one recorded for its (conversation, scope) unless that one is later (an
    /// opt-out is an `OptOut` change, cleared by an `OptIn`; `Help` changes nothing). The facts
    /// are kept for as long as the store (one small row per conversation and per opt-out);
    /// pruning never removes them. A lookup is one or two index reads.
    ///
    /// The sender asks only when a claimed row came without the facts: a store that reads
    /// them in [`claim_outbox`](Self::claim_outbox) ([`OutboxItem::contact`], as the stores in
    /// this crate do) saves a read per send.
    ///
    /// The default answers `Unsupported`: the engine then sends without the check and leaves
    /// the policy to the provider.
    async fn contact(&self, conversation: &str, scope: Option<&str>) -> Result<Contact> {
        let _ = (conversation, scope);
        Err(Error::unsupported(
            "policy facts (last inbound time, opt-outs) in this store",
        ))
    }

    /// Appends records to web chat conversations' logs (see [`webchat`] for the contract: per
    /// conversation sequence numbers that only grow, idempotent on `key`). Returns each
    /// record's sequence number, in order. The default: `Unsupported`.
    async fn log_append(&self, appends: &[LogAppend]) -> Result<Vec<u64>> {
        let _ = appends;
        Err(Error::unsupported(
            "the web chat log (this store keeps none)",
        ))
    }

    /// At most `limit` records of `conversation`'s log after sequence number `after`, oldest
    /// first. The default: `Unsupported`.
    async fn log_read(
        &self,
        conversation: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LogEntry>> {
        let _ = (conversation, after, limit);
        Err(Error::unsupported(
            "the web chat log (this store keeps none)",
        ))
    }

    /// Conversation keys whose logs other processes sharing the store appended to (after
    /// their commit). `None`, the default: no other process writes to this store.
    fn log_wake_ups(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
        None
    }

    /// Deletes what `retention` no longer keeps of its channel's logs (see [`webchat`]: from
    /// each log's oldest record on, in bounded chunks, the highest sequence number pruned
    /// remembered per conversation). Returns how many records went. The default:
    /// `Unsupported`.
    async fn log_prune(&self, retention: &LogRetention) -> Result<u64> {
        let _ = retention;
        Err(Error::unsupported(
            "pruning the web chat log (this store does not)",
        ))
    }

    /// The highest sequence number pruned from `conversation`'s log (0: none ever was). The
    /// default: 0 (a store that never prunes).
    async fn log_pruned(&self, conversation: &str) -> Result<u64> {
        let _ = conversation;
        Ok(0)
    }

    /// Keeps a visitor's upload. The default: `Unsupported`.
    async fn put_upload(&self, upload: &Upload) -> Result<()> {
        let _ = upload;
        Err(Error::unsupported(
            "web chat uploads (this store keeps none)",
        ))
    }

    /// The upload with this id, if kept. The default: `Unsupported`.
    async fn get_upload(&self, id: &str) -> Result<Option<Upload>> {
        let _ = id;
        Err(Error::unsupported(
            "web chat uploads (this store keeps none)",
        ))
    }

    /// Keeps `proposed` under `name` unless a secret is kept there already, and returns the
    /// kept one: every instance sharing the store (and every restart) gets the same secret,
    /// whoever proposed first. The default: `Unsupported`.
    async fn keep_secret(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
        let _ = (name, proposed);
        Err(Error::unsupported("named secrets (this store keeps none)"))
    }

    // Installations of multi-tenant channels ([`installs`](self::installs) has the contract).
    // Provided methods: a store without them answers `Unsupported`, and the engine refuses to
    // start a channel that needs them.

    /// Keeps `row`, replacing the one of its (channel, tenant), and releases its refresh lease.
    async fn put_install(&self, row: &InstallRow) -> Result<()> {
        let _ = row;
        Err(no_installs())
    }

    /// The row of `tenant` on `channel`, if any.
    async fn get_install(&self, channel: &str, tenant: &str) -> Result<Option<InstallRow>> {
        let _ = (channel, tenant);
        Err(no_installs())
    }

    /// The rows of `channel` (or of every channel), by channel and tenant.
    async fn list_installs(&self, channel: Option<&str>) -> Result<Vec<InstallRow>> {
        let _ = channel;
        Err(no_installs())
    }

    /// Deletes the row of `tenant` on `channel`; whether there was one.
    async fn delete_install(&self, channel: &str, tenant: &str) -> Result<bool> {
        let _ = (channel, tenant);
        Err(no_installs())
    }

    /// Takes the refresh lease of a row until `until` when it has run out at `now`.
    async fn claim_install_refresh(
        &self,
        channel: &str,
        tenant: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<bool> {
        let _ = (channel, tenant, now, until);
        Err(no_installs())
    }

    /// Spends an OAuth state nonce: `true` the first time (see [`installs`]).
    async fn spend_oauth_state(
        &self,
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool> {
        let _ = (nonce, expires_at, now);
        Err(no_installs())
    }

    // The gateway's forwarding queue ([`forward`](self::forward) has the contract). Provided
    // methods: a store without them answers `Unsupported`, and a gateway refuses to start on it.

    /// Appends events to their endpoints' queues at `now`, deduplicated by (endpoint, event
    /// id). One answer per row: `true` new, `false` already known (nothing written).
    async fn enqueue_forwards(&self, rows: &[NewForward], now: SystemTime) -> Result<Vec<bool>> {
        let _ = (rows, now);
        Err(unsupported("forwarding"))
    }

    /// Leases up to `claim.limit` ready heads of enabled endpoints' queues.
    async fn claim_forwards(&self, claim: Claim) -> Result<Vec<ForwardItem>> {
        let _ = claim;
        Err(unsupported("forwarding"))
    }

    /// Finishes claimed forwarding rows at `now`. One answer per item: `Ok(true)` done,
    /// `Ok(false)` the lease was lost, `Err` refused (a reply's outbox key is taken); nothing
    /// of a refused or lost item is written.
    async fn finish_forwards(
        &self,
        finishes: Vec<ForwardFinish>,
        now: SystemTime,
    ) -> Result<Vec<Result<bool>>> {
        let _ = (finishes, now);
        Err(unsupported("forwarding"))
    }

    /// Disables an endpoint with `reason` (`Some`), or enables it (`None`: its ready rows are
    /// handed out again from `now`).
    async fn set_forward_disabled(
        &self,
        endpoint: &str,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        let _ = (endpoint, reason, now);
        Err(unsupported("forwarding"))
    }

    /// Every endpoint the store knows (one with rows, or disabled), by name.
    async fn forward_endpoints(&self) -> Result<Vec<ForwardEndpoint>> {
        Err(unsupported("forwarding"))
    }

    /// Forwarding dead letters (of `endpoint`, or all), oldest first, at most `limit`.
    async fn forward_dead_letters(
        &self,
        endpoint: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ForwardDead>> {
        let _ = (endpoint, limit);
        Err(unsupported("forwarding"))
    }

    /// Queues `endpoint`'s dead letters again at the end of their conversations, attempts
    /// reset, ready at `now`. Returns how many.
    async fn replay_forwards(&self, endpoint: &str, now: SystemTime) -> Result<u64> {
        let _ = (endpoint, now);
        Err(unsupported("forwarding"))
    }

    /// Deletes delivered rows delivered before `before` (their dedupe keys go with them).
    async fn prune_forwards(&self, before: SystemTime) -> Result<u64> {
        let _ = before;
        Err(unsupported("forwarding"))
    }
}

/// The error of a provided method a store does not implement.
fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("store: this store has no {what} queue"),
    )
}

/// The error of the installation methods of a store that keeps none.
fn no_installs() -> Error {
    Error::unsupported("installations (this store keeps none)")
}

/// The error for an outbox key that already holds another row.
pub(crate) fn outbox_key_taken(key: &str) -> Error {
    Error::new(
        ErrorKind::InvalidMessage,
        format!("outbox key {key:?} already holds another message"),
    )
}

/// A store error (I/O, SQL, corrupt row) as a Switchboard error.
pub(crate) fn store_error(context: &str, e: impl fmt::Display) -> Error {
    Error::new(ErrorKind::Transport, format!("store: {context}: {e}"))
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    to_millis(t)
}

pub(crate) fn new_token() -> i64 {
    // Non-zero so that a token can never equal the "no lease" value.
    fastrand::i64(1..i64::MAX)
}

pub(crate) fn to_json<T: Serialize + ?Sized>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| store_error(what, e))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| store_error(what, e))
}

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
