//! What the SQL stores share: everything but their SQL.
//!
//! [`SqliteStore`](crate::store::SqliteStore) and `PgStore` (feature `postgres`) are one engine
//! over two dialects. This module holds the engine:
//!
//! - [`prepared`]: the store's inputs turned into rows (JSON written once, before the writer);
//! - [`writer`]: the writer task and its group commit (jobs merged by kind, a failed batch run
//!   again one job at a time, deadlocks tried again), generic over how a backend begins and
//!   commits a transaction ([`Committer`]);
//! - [`ops`]: the logic of each write (dedupe, finishing, outbox keys, updates, receipts,
//!   state), generic over the statements of a transaction ([`Tx`]);
//! - [`forward`] and [`webchat`]: the gateway's forwarding queues, and the web chat log,
//!   uploads and secrets, as writer jobs over the same [`Tx`];
//! - [`rows`]: decoding rows into the store's types, and the statements both dialects run as
//!   written (scalar parameters, `$1` placeholders, which SQLite reads as `?1`);
//! - [`SqlStore`]: the [`Store`] contract on top, generic over a [`Dialect`] (the reads and
//!   what a backend decides for itself: how it prunes, whether others wake it).
//!
//! A backend keeps only what differs: its set-based statements (SQLite binds a batch as one
//! JSON array read with `json_each`; PostgreSQL binds one array per column read with
//! `UNNEST`), its claims (`FOR UPDATE SKIP LOCKED` on PostgreSQL), how it connects, migrates
//! and locks, and what its commits do beside (PostgreSQL notifies other instances).

use std::future::Future;

use switchboard_core::Result;
use switchboard_core::model::MessageId;

use super::contacts::ContactWrites;
use super::{Claim, InboxItem, Lease, OutboxItem, Queue};

pub(crate) mod forward;
pub(crate) mod installs;
pub(crate) mod ops;
pub(crate) mod prepared;
pub(crate) mod rows;
mod store;
pub(crate) mod webchat;
pub(crate) mod writer;

pub(crate) use ops::{FinishPlan, UpdatePlan};
pub(crate) use prepared::{PreparedEvent, PreparedOutbound};
pub(crate) use rows::{Param, SqlRow};
pub(crate) use store::{Dialect, SqlStore, forward_store};
pub(crate) use writer::{Answer, Committer, Failed, Job, Writer, apply};

/// Rows deleted per statement (and per transaction, where pruning goes through the writer)
/// when pruning, so nothing is held for long.
pub(crate) const PRUNE_CHUNK: i64 = 2000;

/// One kind of row the pruner deletes, a chunk at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PruneStep {
    /// Dedupe keys of handled events received before the cutoff (not pending, not dead).
    Keys,
    /// Sent outbox rows (with their message ids) sent before the cutoff.
    Sent,
    /// Keyed proofs recorded before the cutoff.
    Proofs,
    /// Options expired at the cutoff.
    Options,
    /// Delivery receipts received before the cutoff whose send never came.
    Receipts,
    /// Shared raw payloads stored before the cutoff that no inbox row refers to.
    RawPayloads,
    /// The gateway's delivered forwarding rows, delivered before the cutoff.
    Forwards,
}

/// The statements of one open transaction of a backend's writer: each binds a batch the
/// backend's way. The logic around them is [`ops`]'.
pub(crate) trait Tx: Send {
    /// A row this backend reads.
    type Row: SqlRow + Send + Sync;

    /// This dialect's statements of the gateway's forwarding queues (see [`forward`]).
    const FORWARD: &'static forward::ForwardSql;

    /// Locks web chat conversation `$1`'s head row for the transaction before an append
    /// (see [`webchat`]); `None`: a backend with one writer has nothing to lock.
    const LOCK_LOG: Option<&'static str>;

    /// Runs a statement both dialects share (see [`rows`]) and returns its rows.
    fn fetch(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// Runs a statement both dialects share; how many rows it changed.
    fn execute(
        &mut self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Inserts the dedupe keys of `events` (no two alike), in order; per event, its new
    /// sequence number, or `None` when its key was taken.
    fn insert_keys(
        &mut self,
        events: &[&PreparedEvent],
    ) -> impl Future<Output = Result<Vec<Option<i64>>>> + Send;

    /// Inserts inbox rows (seq, event), in sequence order.
    fn insert_events(
        &mut self,
        rows: &[(i64, &PreparedEvent)],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Makes each (conversation, seq) its conversation's head unless it has one; sorted by
    /// conversation.
    fn insert_heads(
        &mut self,
        queue: Queue,
        heads: &[(&str, i64)],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Leases up to `claim.limit` ready inbox heads, with their events and live options.
    fn claim_inbox(&mut self, claim: &Claim)
    -> impl Future<Output = Result<Vec<InboxItem>>> + Send;

    /// The leases of `queue` that hold their head: the lease's position in `leases` →
    /// (conversation, channel).
    fn leases(
        &mut self,
        queue: Queue,
        leases: &[Lease],
    ) -> impl Future<Output = Result<rows::Held>> + Send;

    /// The outbox keys of `keys` already taken: rows of `key`.
    fn taken_keys(&mut self, keys: &[&str]) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// Writes a finish's rows: dead letters, handled rows gone, heads released to retry.
    fn finish_rows(&mut self, plan: &FinishPlan<'_>) -> impl Future<Output = Result<()>> + Send;

    /// Inserts outbox rows (keys known to be new) at `now`, in order: rows of `seq`,
    /// `conversation`.
    fn insert_outbox(
        &mut self,
        rows: &[&PreparedOutbound],
        now: i64,
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// What the outbox keys of `keys` hold: rows of `key`, `target`, `message`.
    fn held_keys(&mut self, keys: &[&str]) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// Leases up to `claim.limit` ready outbox heads, with their rows.
    fn claim_outbox(
        &mut self,
        claim: &Claim,
    ) -> impl Future<Output = Result<Vec<OutboxItem>>> + Send;

    /// Writes an update's rows at `now`: attempts, message ids, releases, sent and dead rows.
    fn update_rows(
        &mut self,
        plan: &UpdatePlan<'_>,
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Upserts and deletes conversation state (no conversation twice) at `now`.
    fn write_state(
        &mut self,
        upserts: &[(&str, &str)],
        deletes: &[&str],
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets (conversation, options JSON, expires at) and clears options (no conversation
    /// twice).
    fn write_options(
        &mut self,
        set: &[(&str, &str, i64)],
        clear: &[&str],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The conversations' head rows left the queue: each gets its next pending row as head,
    /// ready at once, or none.
    fn advance(
        &mut self,
        queue: Queue,
        conversations: &[&str],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Extends the leases that hold to `until`: rows of the `seq`, `token` renewed.
    fn renew(
        &mut self,
        queue: Queue,
        leases: &[Lease],
        until: i64,
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// The rows (`seq`, `delivery`) that became `messages` on `channel`.
    fn delivered(
        &mut self,
        channel: &str,
        messages: &[MessageId],
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// Sets delivery status `status` (JSON) on the rows `seqs`.
    fn set_delivery(
        &mut self,
        status: &str,
        seqs: &[i64],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Releases the leases this backend knows are dead at `now` (see
    /// [`Store::recover`](crate::store::Store::recover)).
    fn recover(&mut self, now: i64) -> impl Future<Output = Result<()>> + Send;

    /// Deletes one chunk ([`PRUNE_CHUNK`]) of `step`; how many rows of the step's table went.
    fn prune(&mut self, step: PruneStep, cutoff: i64) -> impl Future<Output = Result<u64>> + Send;

    // Schema version 5 (issue 15): early receipts, byte attachments, shared raw payloads.

    /// Locks `messages` of `channel` for a delivery receipt, before its rows are looked for,
    /// against a send recording them in another transaction (see `postgres/pending.rs`). A
    /// backend with one writer has nothing to do.
    fn lock_receipts(
        &mut self,
        channel: &str,
        messages: &[MessageId],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Keeps delivery status `status` (JSON) received at `now` for the `messages` of `channel`
    /// that no sent row has recorded yet.
    fn keep_receipts(
        &mut self,
        channel: &str,
        messages: &[MessageId],
        status: &str,
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Takes (deletes and returns) the receipts kept for the (channel, message id) → seq just
    /// recorded: rows of `seq`, `status`, and the row's `delivery`.
    fn take_receipts(
        &mut self,
        mapped: &std::collections::BTreeMap<(&str, &str), i64>,
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// Writes the byte attachments of outbox row `seq` (attachment index, bytes).
    fn insert_media(
        &mut self,
        seq: i64,
        media: &[(i64, bytes::Bytes)],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The byte attachments of the outbox rows `seqs`: (seq, attachment index, bytes).
    fn media(
        &mut self,
        seqs: &[i64],
    ) -> impl Future<Output = Result<Vec<(i64, i64, bytes::Bytes)>>> + Send;

    /// Drops the byte attachments of the outbox rows `seqs` (they were sent).
    fn drop_media(&mut self, seqs: &[i64]) -> impl Future<Output = Result<()>> + Send;

    /// Stores shared raw payloads (digest, JSON) at `now`; a digest already there is touched.
    fn insert_raw(
        &mut self,
        raws: &[(&str, &str)],
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Writes the policy facts new events bring (see
    /// [`Store::contact`](crate::store::Store::contact)): each conversation's last inbound time
    /// moves forward, each (conversation, scope)'s consent is replaced by a later change.
    fn upsert_contacts(
        &mut self,
        writes: &ContactWrites<'_>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// Sequence numbers and limits are `BIGINT`s.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A claim's `now` and lease end, in milliseconds.
pub(crate) fn lease_span(claim: &Claim) -> (i64, i64) {
    let now = super::millis(claim.now);
    let lease = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX);
    (now, now.saturating_add(lease))
}

/// A database error as a store error, for `map_err`.
pub(crate) fn db<E: std::fmt::Display>(
    context: &'static str,
) -> impl Fn(E) -> switchboard_core::Error {
    move |e| super::store_error(context, e)
}
