//! Durable state of the engine behind one trait: the inbox, the outbox, dedupe keys, degraded
//! options and per-conversation application state.
//!
//! Two stores ship: [`MemoryStore`] (tests, one process, nothing survives a restart) and
//! [`SqliteStore`] (the embedded default, one file, WAL). The trait is shaped so that a
//! PostgreSQL store for several engine instances fits without engine changes:
//!
//! - every claim is a *lease* (`lease_until` + a random token), so a crashed instance's work
//!   comes back once the lease runs out, and a late finisher whose lease was taken over is
//!   refused (`Ok(false)`) instead of writing twice; a PostgreSQL claim is
//!   `UPDATE … WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED)`;
//! - a claim only hands out the *head* (lowest sequence number still pending) of each
//!   conversation, and only when that head is not leased: one event at a time per
//!   conversation, in arrival order, with many conversations in parallel;
//! - everything that must happen together is one call (and one transaction): dedupe + insert,
//!   completion + outbox rows + state writes.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_core::model::{DeliveryStatus, MessageId, time::to_millis};
use switchboard_core::render::TextOption;
use switchboard_core::{
    ChannelName, ConversationRef, Error, ErrorKind, InboundEvent, OutboundMessage, Result,
    SentMessage,
};

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::{SqliteStore, Synchronous};

/// The ordering and state key of a conversation: `"{channel}/{conversation}"` (threads share
/// their conversation's order).
pub fn conversation_key(to: &ConversationRef) -> String {
    format!("{}/{}", to.channel, to.conversation)
}

/// What happened to one event offered to [`Store::insert_inbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored with this inbox sequence number.
    New(i64),
    /// Already seen: (channel, event id) was stored before. Nothing was written.
    Duplicate,
}

/// Proof of a lease: which row, and the token the claim set. Finishing calls check both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The row's sequence number.
    pub seq: i64,
    /// The claim's random token.
    pub token: i64,
}

/// An inbox row handed to a worker.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// The lease to finish it with.
    pub lease: Lease,
    /// The event, as stored.
    pub event: InboundEvent,
    /// How many times it has been claimed, this claim included.
    pub attempts: u32,
}

/// A reply or send the handler produced, to be written with the inbox row's completion.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbound {
    /// Unique idempotency key: `"{channel}:{event id}:{index}"` for handler output.
    pub key: String,
    /// Where it goes.
    pub to: ConversationRef,
    /// What (with `idempotency_key` set to `key`).
    pub message: OutboundMessage,
}

/// Everything a successful handler run commits, atomically with the inbox row's completion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    /// Outbox rows to insert (a key already present is skipped).
    pub outbox: Vec<NewOutbound>,
    /// Per-conversation state writes: (conversation key, value or `None` to delete).
    pub state: Vec<(String, Option<serde_json::Value>)>,
}

/// An outbox row handed to the sender.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// The lease to finish it with.
    pub lease: Lease,
    /// Its idempotency key.
    pub key: String,
    /// Where it goes.
    pub to: ConversationRef,
    /// What.
    pub message: OutboundMessage,
    /// How many times it has been claimed, this claim included.
    pub attempts: u32,
    /// A previous claim never recorded an outcome (the process died while it held the row).
    pub interrupted: bool,
    /// The last send attempt may have reached the provider and its outcome is unknown: it was
    /// interrupted after it began (the process died mid-send), or it failed `Ambiguous` or after
    /// some of its parts ([`Store::retry_outbox_uncertain`]). The sender settles such a row
    /// (keyed proofs, then the adapter's `reconcile`, then the channel's delivery policy) before
    /// sending it again.
    pub uncertain: bool,
    /// When the first send attempt began (`None`: never attempted).
    pub first_attempt_at: Option<SystemTime>,
    /// When the last send attempt began.
    pub last_attempt_at: Option<SystemTime>,
}

/// A keyed proof that one part of an outbox row's send reached the provider: an inbound
/// `Delivery` event carrying [`OUTBOX_KEY_ATTRIBUTE`](switchboard_core::reconcile::OUTBOX_KEY_ATTRIBUTE)
/// (a Twilio status callback, a Messenger echo), recorded durably by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendProof {
    /// The outbox key the provider echoed back.
    pub key: String,
    /// The channel it came in on.
    pub channel: ChannelName,
    /// Which part of the send, from 0.
    pub part: u32,
    /// How many parts the send has.
    pub parts: u32,
    /// The provider's id of that part.
    pub message_id: MessageId,
}

/// Whether `proofs` (of one key) cover every part, and if so the message ids in part order.
pub fn proven_ids(proofs: &[SendProof]) -> Option<Vec<MessageId>> {
    let parts = proofs.iter().map(|p| p.parts).max()?;
    (0..parts)
        .map(|i| {
            proofs
                .iter()
                .find(|p| p.part == i)
                .map(|p| p.message_id.clone())
        })
        .collect()
}

/// The state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (or retried).
    Pending,
    /// Accepted by the provider.
    Sent,
    /// Given up; see the dead letters.
    Dead,
}

/// What the store knows about one outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Pending, sent or dead.
    pub state: OutboxState,
    /// Attempts so far.
    pub attempts: u32,
    /// The provider's ids of the messages it became.
    pub message_ids: Vec<MessageId>,
    /// The most advanced delivery status reported for them.
    pub delivery: Option<DeliveryStatus>,
    /// The last error, if any.
    pub error: Option<String>,
    /// When the first send attempt began.
    pub first_attempt_at: Option<SystemTime>,
    /// When the last send attempt began.
    pub last_attempt_at: Option<SystemTime>,
    /// The last attempt's outcome is unknown (see [`OutboxItem::uncertain`]).
    pub uncertain: bool,
}

/// Where a dead letter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterKind {
    /// An inbound event whose handler kept failing.
    Inbound,
    /// An outbound message that could not be sent.
    Outbound,
}

/// An event or message the engine gave up on, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Inbound or outbound.
    pub kind: DeadLetterKind,
    /// The row's sequence number in its table.
    pub seq: i64,
    /// The conversation key.
    pub conversation: String,
    /// The event id (inbound) or idempotency key (outbound).
    pub key: String,
    /// The stored event or message as JSON.
    pub payload: serde_json::Value,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
}

/// Counts for readiness and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Inbox rows not yet handled.
    pub inbox_pending: u64,
    /// Inbox rows handled.
    pub inbox_done: u64,
    /// Outbox rows not yet sent.
    pub outbox_pending: u64,
    /// Outbox rows sent.
    pub outbox_sent: u64,
    /// Dead letters (both kinds).
    pub dead: u64,
}

/// The error for an outbox key that already holds another row.
pub(crate) fn outbox_key_taken(key: &str) -> Error {
    Error::new(
        ErrorKind::InvalidMessage,
        format!("outbox key {key:?} already holds another message"),
    )
}

/// The engine's durable state. All times are wall-clock; `now` is passed in where a decision
/// depends on it so tests can move time.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Called once when an engine starts. A store that serves exactly one engine (SQLite) may
    /// release the leases a crashed predecessor held; a shared store does nothing.
    async fn recover(&self) -> Result<()>;

    /// Deduplicates by (channel, event id) and inserts the new events, all in one transaction.
    /// Returns one answer per event, in order. When this returns `Ok`, the events are durable.
    async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>>;

    /// Leases up to `limit` inbox rows that are the head of their conversation, available at
    /// `now` and not leased.
    async fn claim_inbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<InboxItem>>;

    /// Marks the row done and writes the completion, in one transaction. `Ok(false)` if the
    /// lease was lost (nothing was written). An outbox key of the completion that the outbox
    /// already holds is an error (`InvalidMessage`), and nothing is written.
    async fn complete_inbox(&self, lease: Lease, completion: Completion) -> Result<bool>;

    /// Releases the row to run again at `at`, recording `error`.
    async fn retry_inbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool>;

    /// Dead-letters the row with `error`; later events of the conversation proceed.
    async fn dead_letter_inbox(&self, lease: Lease, error: &str) -> Result<bool>;

    /// Leases up to `limit` outbox rows that are the head of their conversation.
    async fn claim_outbox(
        &self,
        now: SystemTime,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxItem>>;

    /// Marks the row sent with the provider's message ids, and replaces the conversation's
    /// degraded options (`options` empty clears them) expiring at `options_expire`.
    async fn outbox_sent(
        &self,
        lease: Lease,
        messages: &[SentMessage],
        options: &[TextOption],
        options_expire: SystemTime,
    ) -> Result<bool>;

    /// Releases the row to be retried at `at`, recording `error`.
    async fn retry_outbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool>;

    /// Records, durably and before the request goes out, that a send of the leased row begins
    /// at `at`: its last attempt (and first, if none), and that a crash from now on leaves the
    /// row [`uncertain`](OutboxItem::uncertain). Clears the previous attempt's uncertainty (the
    /// sender only sends again once it is settled). `Ok(false)` if the lease was lost.
    async fn outbox_attempt(&self, lease: Lease, at: SystemTime) -> Result<bool>;

    /// Like [`retry_outbox`](Self::retry_outbox), for an attempt whose outcome is unknown (an
    /// `Ambiguous` or partial failure, a reconciliation that must be asked again): the row stays
    /// [`uncertain`](OutboxItem::uncertain) until settled.
    async fn retry_outbox_uncertain(
        &self,
        lease: Lease,
        error: &str,
        at: SystemTime,
    ) -> Result<bool>;

    /// Releases an uncertain row to be reconciled again at `at` (the provider could not tell
    /// yet, and its lookup may lag): it stays [`uncertain`](OutboxItem::uncertain), `why` is
    /// recorded, and this claim does not count as a send attempt.
    async fn reconcile_outbox_later(&self, lease: Lease, why: &str, at: SystemTime)
    -> Result<bool>;

    /// Releases the row to be claimed again at `at` without counting this claim as a send
    /// attempt: the message did not fail, the provider or our limiter only asked us to wait (a
    /// `RateLimited` answer, a channel paused by `Retry-After`, a rate limit further off than a
    /// sender should wait holding its slot). `why` is recorded as its last error; the row's
    /// [`uncertain`](OutboxItem::uncertain) flag is kept as this claim found it.
    async fn defer_outbox(&self, lease: Lease, why: &str, at: SystemTime) -> Result<bool>;

    /// Records the provider messages some parts of the leased, still pending row became (a
    /// partial send), so delivery receipts find the row. `Ok(false)` if the lease was lost.
    async fn outbox_partial(&self, lease: Lease, messages: &[SentMessage]) -> Result<bool>;

    /// Records a keyed proof (the first one of each part wins) at `now`. Returns `true` when
    /// every part of its key is now proven and the key's row is still pending: the row is then
    /// made available at once, so the sender settles it (as sent, without sending) soon.
    async fn record_proof(&self, proof: &SendProof, now: SystemTime) -> Result<bool>;

    /// The proofs recorded for an outbox key, by part.
    async fn proofs(&self, key: &str) -> Result<Vec<SendProof>>;

    /// Dead-letters the row; later messages of the conversation proceed.
    async fn dead_letter_outbox(&self, lease: Lease, error: &str) -> Result<bool>;

    /// Applies a delivery status to the outbox rows that became these provider messages,
    /// keeping the most advanced status. Returns how many rows changed.
    async fn record_delivery(
        &self,
        channel: &ChannelName,
        messages: &[MessageId],
        status: DeliveryStatus,
    ) -> Result<u64>;

    /// The outbox row with this idempotency key.
    async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>>;

    /// The application's state for a conversation key.
    async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>>;

    /// Writes (or deletes, with `None`) the application's state outside a handler.
    async fn set_state(&self, conversation: &str, value: Option<serde_json::Value>) -> Result<()>;

    /// The degraded options live for a conversation key at `now`.
    async fn get_options(&self, conversation: &str, now: SystemTime) -> Result<Vec<TextOption>>;

    /// Dead letters, oldest first, at most `limit`.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>>;

    /// Row counts.
    async fn stats(&self) -> Result<StoreStats>;

    /// Inserts outbox rows written outside a handler
    /// ([`Switchboard::send`](crate::Switchboard::send)), all in one transaction. Returns, per
    /// row, whether it was new (`false`: the key already holds the same destination and
    /// message, a repeat, and nothing was written). A key holding another destination or
    /// message is an error (`InvalidMessage`), and nothing is written.
    async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>>;

    /// Extends a held inbox lease to `until` (a handler still running). `Ok(false)` if the
    /// lease was lost.
    async fn renew_inbox(&self, lease: Lease, until: SystemTime) -> Result<bool>;

    /// Extends a held outbox lease to `until` (a send still waiting or running). `Ok(false)` if
    /// the lease was lost.
    async fn renew_outbox(&self, lease: Lease, until: SystemTime) -> Result<bool>;

    /// Applies a delivery status to every *sent* outbox row of `conversation` (a conversation
    /// key) sent at or before `watermark` (Messenger's "everything up to here was delivered /
    /// read"), keeping the most advanced status. Returns how many rows changed.
    async fn record_delivery_watermark(
        &self,
        conversation: &str,
        watermark: SystemTime,
        status: DeliveryStatus,
    ) -> Result<u64>;

    /// Deletes what is no longer needed: handled inbox rows received before `done_before`
    /// (their dedupe keys go with them), sent outbox rows sent before `done_before`, keyed proofs
    /// recorded before `done_before`, and degraded options expired at `now`. Pending rows and dead letters are never pruned.
    async fn prune(&self, done_before: SystemTime, now: SystemTime) -> Result<Pruned>;
}

/// What [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Handled inbox rows (and their dedupe keys).
    pub inbox: u64,
    /// Sent outbox rows.
    pub outbox: u64,
    /// Expired degraded options.
    pub options: u64,
    /// Keyed proofs past retention.
    pub proofs: u64,
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

pub(crate) fn to_json<T: Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| store_error(what, e))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| store_error(what, e))
}

#[cfg(test)]
pub(crate) mod conformance;
