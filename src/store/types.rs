//! The values that cross the [`Store`](super::Store) trait: what goes in (events, claims,
//! finishes, updates, receipts) and what comes out (claimed items, statuses, counts).
//!
//! Every type a store builds or the engine may grow is `#[non_exhaustive]`, with a constructor
//! for its required fields; the other fields are public, so a store outside this crate fills
//! them in after `new` (`let mut s = StoreStats::default(); s.inbox_pending = 3;`).
//!
//! The enums a store *receives* ([`Queue`], [`InboxOutcome`], [`OutboxChange`], [`Receipt`]) are
//! `#[non_exhaustive]` too, so a store outside this crate matches them with a last `_` arm,
//! which answers the whole call with [`Error::unsupported`](switchboard_core::Error::unsupported)
//! naming the variant: nothing is written, and the engine reports the error instead of losing
//! the write (the same answer as a provided method the store does not implement).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::policy::{Contact, OptOut};
use switchboard_core::render::TextOption;
use switchboard_core::{ChannelName, ConversationRef, InboundEvent, OutboundMessage, SentMessage};

/// What happened to one event offered to [`Store::insert_inbound`](super::Store::insert_inbound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inserted {
    /// Stored with this inbox sequence number.
    New(i64),
    /// Already seen: (channel, event id) was stored before (and not pruned yet). Nothing was
    /// written.
    Duplicate,
}

/// A queue of the store: rows ordered per conversation, handed out one head at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Queue {
    /// Inbound events for the workers.
    Inbox,
    /// Outbound messages for the sender.
    Outbox,
}

impl Queue {
    /// `"inbox"` or `"outbox"` (logs, metrics).
    pub fn name(self) -> &'static str {
        match self {
            Queue::Inbox => "inbox",
            Queue::Outbox => "outbox",
        }
    }
}

/// Proof of a lease: which row, and the fencing token its claim set. Every call that finishes
/// or extends a claim presents it; a store refuses it (`Ok(false)`) once the row was claimed
/// again (a new token) or finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Lease {
    /// The row's sequence number.
    pub seq: i64,
    /// The claim's token (never 0).
    pub token: i64,
}

impl Lease {
    /// A lease on row `seq` with `token`.
    pub fn new(seq: i64, token: i64) -> Self {
        Lease { seq, token }
    }
}

/// What a claim asks for: up to `limit` ready conversation heads at `now`, each leased until
/// `now + lease`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// The time the claim is made at (rows due and leases expired at or before it are ready).
    pub now: SystemTime,
    /// How long the rows are leased for.
    pub lease: Duration,
    /// The most rows to hand out.
    pub limit: usize,
}

impl Claim {
    /// A claim of up to `limit` rows at `now`, leased for `lease`.
    pub fn new(now: SystemTime, lease: Duration, limit: usize) -> Self {
        Claim { now, lease, limit }
    }

    /// When the leases of this claim run out.
    pub fn until(&self) -> SystemTime {
        self.now + self.lease
    }
}

/// An inbox row handed to a worker.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InboxItem {
    /// The lease to finish it with.
    pub lease: Lease,
    /// The event, as stored.
    pub event: InboundEvent,
    /// How many times it has been claimed, this claim included.
    pub attempts: u32,
    /// The degraded numbered options live for the event's conversation at the claim's time
    /// (what [`Store::get_options`](super::Store::get_options) answers), read with the claim
    /// so a text answer ("2") is matched without another round trip.
    pub options: Vec<TextOption>,
}

impl InboxItem {
    /// A claimed event (with no live options; set them after `new`).
    pub fn new(lease: Lease, event: InboundEvent, attempts: u32) -> Self {
        InboxItem {
            lease,
            event,
            attempts,
            options: Vec::new(),
        }
    }
}

/// A reply or send to write to the outbox.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewOutbound {
    /// Unique idempotency key: `"{channel}:{event id}:{index}"` for handler output,
    /// `"{channel}/app/{key}"` for application sends.
    pub key: String,
    /// Where it goes.
    pub to: ConversationRef,
    /// What (with `idempotency_key` set to `key`).
    pub message: OutboundMessage,
}

impl NewOutbound {
    /// A row with this key, destination and message.
    pub fn new(key: impl Into<String>, to: ConversationRef, message: OutboundMessage) -> Self {
        NewOutbound {
            key: key.into(),
            to,
            message,
        }
    }
}

/// Everything a successful handler run commits, atomically with the inbox row's completion.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Completion {
    /// Outbox rows to insert; every key must be new (see [`InboxOutcome::Done`]).
    pub outbox: Vec<NewOutbound>,
    /// Per-conversation state writes, in order: (conversation key, value or `None` to delete).
    pub state: Vec<(String, Option<serde_json::Value>)>,
}

impl Completion {
    /// A completion with these outbox rows and state writes.
    pub fn new(outbox: Vec<NewOutbound>, state: Vec<(String, Option<serde_json::Value>)>) -> Self {
        Completion { outbox, state }
    }
}

/// How a claimed inbox row ends (or is released).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InboxOutcome {
    /// Handled: the row leaves the queue (its dedupe key stays until pruned) and the
    /// completion is written with it, atomically. A completion whose outbox keys the outbox
    /// already holds (or that repeats a key) is refused with `InvalidMessage` and nothing of it
    /// is written; the lease is kept.
    Done(Completion),
    /// Released to run again at `at`, recording `error`; the conversation waits for it.
    Retry {
        /// When it may be claimed again.
        at: SystemTime,
        /// Why it failed.
        error: String,
    },
    /// Given up: the row becomes a dead letter with `error`; the conversation's next row
    /// becomes its head.
    DeadLetter {
        /// Why.
        error: String,
    },
}

/// One claimed inbox row to finish: its lease and outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InboxFinish {
    /// The claim's lease.
    pub lease: Lease,
    /// What to do with the row.
    pub outcome: InboxOutcome,
}

impl InboxFinish {
    /// Finishes the row under `lease` with `outcome`.
    pub fn new(lease: Lease, outcome: InboxOutcome) -> Self {
        InboxFinish { lease, outcome }
    }
}

/// An outbox row handed to the sender.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutboxItem {
    /// The lease to finish it with.
    pub lease: Lease,
    /// Its idempotency key.
    pub key: String,
    /// Where it goes.
    pub to: ConversationRef,
    /// What.
    pub message: OutboundMessage,
    /// How many times it has been claimed, this claim included (claims released with
    /// [`OutboxChange::Defer`] or [`OutboxChange::ReconcileLater`] do not count).
    pub attempts: u32,
    /// A previous claim never recorded an outcome (the process died while it held the row).
    pub interrupted: bool,
    /// The last send attempt may have reached the provider and its outcome is unknown: it was
    /// interrupted after it began (the process died mid-send), or it was released with
    /// [`OutboxChange::RetryUncertain`] or [`OutboxChange::ReconcileLater`]. The sender settles
    /// such a row (keyed proofs, then the adapter's `reconcile`, then the channel's delivery
    /// policy) before sending it again.
    pub uncertain: bool,
    /// When the first send attempt began (`None`: never attempted).
    pub first_attempt_at: Option<SystemTime>,
    /// When the last send attempt began.
    pub last_attempt_at: Option<SystemTime>,
    /// What the store knew of the row's customer when it handed the row out (the facts of
    /// [`Store::contact`](super::Store::contact), every scope's), read in the claim itself so
    /// the sender's policy check costs no read of its own. `None` (the default of
    /// [`new`](Self::new)): not read with the claim; the sender asks
    /// [`Store::contact`](super::Store::contact).
    pub contact: Option<ContactFacts>,
}

/// A conversation's policy facts under every consent scope ([`OutboxItem::contact`]): what
/// [`Store::contact`](super::Store::contact) would answer for any scope, read at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactFacts {
    /// When the customer last wrote (see [`Contact::last_inbound`]).
    pub last_inbound: Option<SystemTime>,
    /// The opt-outs in force, with their scopes (most conversations have none).
    pub opted_out: Vec<(String, OptOut)>,
}

impl ContactFacts {
    /// Facts: the last inbound time and the opt-outs in force by scope.
    pub fn new(last_inbound: Option<SystemTime>, opted_out: Vec<(String, OptOut)>) -> Self {
        ContactFacts {
            last_inbound,
            opted_out,
        }
    }

    /// What [`Store::contact`](super::Store::contact) answers for `scope`: the last inbound
    /// time and the opt-out in force under `scope` (none without a scope).
    pub fn contact(&self, scope: Option<&str>) -> Contact {
        let opted_out = scope.and_then(|scope| {
            self.opted_out
                .iter()
                .find(|(s, _)| s == scope)
                .map(|(_, o)| o.clone())
        });
        Contact::new(self.last_inbound, opted_out)
    }
}

impl OutboxItem {
    /// A claimed row, certain and never attempted (set the other fields after `new`).
    pub fn new(
        lease: Lease,
        key: impl Into<String>,
        to: ConversationRef,
        message: OutboundMessage,
        attempts: u32,
    ) -> Self {
        OutboxItem {
            lease,
            key: key.into(),
            to,
            message,
            attempts,
            interrupted: false,
            uncertain: false,
            first_attempt_at: None,
            last_attempt_at: None,
            contact: None,
        }
    }
}

/// What happens to a claimed outbox row.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OutboxChange {
    /// A send begins at `at`: recorded *before* the request goes out. Sets the last attempt
    /// (and the first, if none), clears the previous attempt's uncertainty, and makes a claim
    /// that dies from now on leave the row [`uncertain`](OutboxItem::uncertain). The lease is
    /// kept.
    Attempt {
        /// When the attempt begins.
        at: SystemTime,
    },
    /// Accepted by the provider as `messages` (one per part): the row is sent (it leaves the
    /// queue and the conversation's next row becomes its head), receipts for those ids find
    /// it, and the conversation's degraded options become `options` (empty clears them),
    /// answerable until `options_expire`.
    Sent {
        /// The provider's messages, in part order.
        messages: Vec<SentMessage>,
        /// The numbered options the message rendered to.
        options: Vec<TextOption>,
        /// When those options stop answering.
        options_expire: SystemTime,
    },
    /// Some parts reached the provider before a failure: their ids are recorded on the still
    /// pending row so receipts find it. The lease is kept.
    Partial {
        /// The parts sent.
        messages: Vec<SentMessage>,
    },
    /// Released to be sent again at `at`, recording `error`; the claim counts as an attempt
    /// and the row's uncertainty is kept as the claim found it.
    Retry {
        /// When it may be claimed again.
        at: SystemTime,
        /// Why.
        error: String,
    },
    /// Like [`Retry`](Self::Retry) for an attempt whose outcome is unknown (an `Ambiguous`
    /// or partial failure): the row is [`uncertain`](OutboxItem::uncertain) until settled.
    RetryUncertain {
        /// When it may be claimed again.
        at: SystemTime,
        /// Why.
        error: String,
    },
    /// Released to be claimed again at `at` without counting this claim as an attempt: the
    /// message did not fail, the provider or a rate limit asked to wait. `why` is recorded as
    /// the last error; the uncertainty is kept as the claim found it.
    Defer {
        /// When it may be claimed again.
        at: SystemTime,
        /// Why.
        why: String,
    },
    /// Released to be reconciled again at `at` (the provider could not tell yet): the row
    /// stays uncertain, `why` is recorded, and this claim does not count as an attempt.
    ReconcileLater {
        /// When it may be claimed again.
        at: SystemTime,
        /// Why.
        why: String,
    },
    /// Given up: the row becomes a dead letter with `error` (its status says `Dead`); the
    /// conversation's next row becomes its head.
    DeadLetter {
        /// Why.
        error: String,
    },
}

/// One change to a claimed outbox row: its lease and the change.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct OutboxUpdate {
    /// The claim's lease.
    pub lease: Lease,
    /// The change.
    pub change: OutboxChange,
}

impl OutboxUpdate {
    /// Applies `change` to the row under `lease`.
    pub fn new(lease: Lease, change: OutboxChange) -> Self {
        OutboxUpdate { lease, change }
    }
}

/// A keyed proof that one part of an outbox row's send reached the provider: an inbound
/// `Delivery` event carrying [`OUTBOX_KEY_ATTRIBUTE`](switchboard_core::reconcile::OUTBOX_KEY_ATTRIBUTE)
/// (a Twilio status callback, a Messenger echo), recorded durably by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl SendProof {
    /// Part `part` of `parts` of the send keyed `key` is the provider's `message_id`.
    pub fn new(
        key: impl Into<String>,
        channel: ChannelName,
        part: u32,
        parts: u32,
        message_id: MessageId,
    ) -> Self {
        SendProof {
            key: key.into(),
            channel,
            part,
            parts,
            message_id,
        }
    }
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

/// What a provider reported about our sends, for
/// [`Store::record_receipts`](super::Store::record_receipts).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Receipt {
    /// A keyed proof (the first one of each part wins). Counts 1 when every part of its key is
    /// now proven and the key's row is still pending: the row is then made ready at once
    /// (unless a live lease holds it), so the sender settles it (as sent, without sending).
    Proof(SendProof),
    /// The provider's messages reached `status`: applied to the outbox rows that became them,
    /// keeping the most advanced status. Counts the rows that changed.
    ///
    /// A receipt can overtake the send it names (the provider answers the webhook before the
    /// sender records the send's ids). For a message id no row has recorded yet, the status is
    /// kept (the most advanced per channel and id) and applied when a send records that id
    /// (sent or partly sent); it counts 0 now. Kept receipts whose send never comes (a message
    /// sent by another system) go with the retention ([`Pruned::receipts`]).
    Delivery {
        /// The channel the receipt came in on.
        channel: ChannelName,
        /// The provider's message ids.
        messages: Vec<MessageId>,
        /// The status they reached.
        status: DeliveryStatus,
    },
    /// Everything sent to `conversation` (a conversation key) at or before `watermark`
    /// reached `status` (Messenger's delivery and read watermarks): applied to every sent row
    /// of the conversation sent by then, keeping the most advanced status. Counts the rows
    /// that changed.
    Watermark {
        /// The conversation key.
        conversation: String,
        /// The provider's "up to here".
        watermark: SystemTime,
        /// The status they reached.
        status: DeliveryStatus,
    },
}

/// The state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// Where it goes (`None` from a store that does not say).
    pub to: Option<ConversationRef>,
}

impl OutboxStatus {
    /// A row in `state` with nothing else known yet.
    pub fn new(state: OutboxState) -> Self {
        OutboxStatus {
            state,
            attempts: 0,
            message_ids: Vec::new(),
            delivery: None,
            error: None,
            first_attempt_at: None,
            last_attempt_at: None,
            uncertain: false,
            to: None,
        }
    }
}

/// Where a dead letter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadLetterKind {
    /// An inbound event whose handler kept failing.
    Inbound,
    /// An outbound message that could not be sent.
    Outbound,
}

/// An event or message the engine gave up on, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeadLetter {
    /// Inbound or outbound.
    pub kind: DeadLetterKind,
    /// The row's sequence number in its queue.
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

impl DeadLetter {
    /// A dead letter of `kind` for row `seq`.
    pub fn new(
        kind: DeadLetterKind,
        seq: i64,
        conversation: impl Into<String>,
        key: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        DeadLetter {
            kind,
            seq,
            conversation: conversation.into(),
            key: key.into(),
            payload,
            error: String::new(),
            attempts: 0,
        }
    }
}

/// Row counts (readiness, tests, the CLI). Counting may cost a scan: not for hot paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Inbox rows not yet handled (dead letters excluded).
    pub inbox_pending: u64,
    /// Handled inbox events still remembered for deduplication (until pruned).
    pub inbox_done: u64,
    /// Outbox rows not yet sent.
    pub outbox_pending: u64,
    /// Outbox rows sent (until pruned).
    pub outbox_sent: u64,
    /// Dead letters (both kinds).
    pub dead: u64,
}

/// What [`Store::prune`](super::Store::prune) may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Prune {
    /// Handled events received, sent messages sent, and proofs recorded before this go.
    pub done_before: SystemTime,
    /// Degraded options expired at this time go.
    pub now: SystemTime,
}

impl Prune {
    /// Prunes what was done before `done_before` and options expired at `now`.
    pub fn new(done_before: SystemTime, now: SystemTime) -> Self {
        Prune { done_before, now }
    }
}

/// What [`Store::prune`](super::Store::prune) deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Dedupe keys of handled events.
    pub inbox: u64,
    /// Sent outbox rows.
    pub outbox: u64,
    /// Expired degraded options.
    pub options: u64,
    /// Keyed proofs past retention.
    pub proofs: u64,
    /// Delivery receipts past retention whose send was never recorded (see
    /// [`Receipt::Delivery`]).
    pub receipts: u64,
    /// Raw request payloads shared by several events, past retention and no longer referred
    /// to by a pending event or a dead letter.
    pub raw_payloads: u64,
}
