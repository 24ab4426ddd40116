//! The gateway's forwarding queues (schema version 8; the contract is
//! [`store::forward`](crate::store::forward)) over a backend's statements: one table of rows
//! whose first pending row per (endpoint, conversation) is flagged as the head, claims by the
//! heads' `ready_at`, and a table of disabled endpoints.
//!
//! Every write is a writer job ([`ForwardWrite`]), group committed with the store's other
//! writes and bounded like them. Synchronous replies are inserted with the outbox's logic
//! ([`ops::enqueue`]) in the same transaction. What differs per dialect is [`ForwardSql`]:
//! how ready heads are found and a held row is checked (PostgreSQL locks them), and whether
//! a queue is locked before it changes (PostgreSQL serializes writes to one (endpoint,
//! conversation) on a transaction-scoped advisory lock, taken in sorted order, so an insert
//! and the finish of the queue's head never both miss each other's row).

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use switchboard_core::Result;

use super::rows::{self, Param};
use super::writer::{Answer, Job, unexpected};
use super::{Dialect, PreparedOutbound, PruneStep, SqlRow, SqlStore, Tx, lease_span, limit, ops};
use crate::store::{
    Claim, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome, Lease,
    NewForward, millis, new_token,
};

/// The statements of the forwarding queues that differ per dialect.
pub(crate) struct ForwardSql {
    /// The `seq` of up to `$2` heads ready at `$1`, in claim order (locked, on a shared
    /// store, skipping those another claim holds).
    pub(crate) ready: &'static str,
    /// The `endpoint` and `conversation` of the pending row `$1` if lease token `$2` holds
    /// it (locked, on a shared store).
    pub(crate) held: &'static str,
    /// Locks the queue of endpoint `$1`, conversation `$2` for the transaction; `None`: a
    /// backend with one writer has nothing to lock.
    pub(crate) lock: Option<&'static str>,
}

/// `ready_at` for a head of endpoint `$1` ready at `$2` (never, while it is disabled).
macro_rules! ready {
    () => {
        "CASE WHEN EXISTS (SELECT 1 FROM forward_endpoints \
         WHERE name = $1 AND disabled IS NOT NULL) THEN 9223372036854775807 ELSE $2 END"
    };
}

/// Appends event `$3` of conversation `$4` with body `$5` to endpoint `$1`'s queue at `$2`
/// (its head when the queue has no pending row); nothing when (endpoint, event) is known.
const INSERT: &str = concat!(
    "INSERT INTO forwards (endpoint, event_id, conversation, body, head, ready_at) \
     VALUES ($1, $3, $4, $5, NOT EXISTS (SELECT 1 FROM forwards \
     WHERE endpoint = $1 AND conversation = $4 AND state = 0), ",
    ready!(),
    ") ON CONFLICT (endpoint, event_id) DO NOTHING"
);

/// Leases row `$3` with token `$1` until `$2`.
const LEASE: &str = "UPDATE forwards SET token = $1, attempts = attempts + 1, ready_at = $2, \
     lease_until = $2 WHERE seq = $3 RETURNING endpoint, event_id, conversation, body, attempts";

/// Row `$2` delivered at `$1` (its body dropped).
const DELIVERED: &str = "UPDATE forwards SET state = 1, head = FALSE, token = 0, error = NULL, \
     body = '', done_at = $1 WHERE seq = $2";

/// Row `$3` dead at `$2` with error `$1`.
const DEAD: &str = "UPDATE forwards SET state = 2, head = FALSE, token = 0, error = $1, \
     done_at = $2 WHERE seq = $3";

/// The first pending row of endpoint `$1`, conversation `$3` becomes its head, ready at `$2`.
const PROMOTE: &str = concat!(
    "UPDATE forwards SET head = TRUE, ready_at = ",
    ready!(),
    " WHERE seq = (SELECT MIN(seq) FROM forwards \
     WHERE endpoint = $1 AND conversation = $3 AND state = 0)"
);

/// Row `$4` of endpoint `$1` released to retry at `$2`, recording error `$3`.
const RETRY: &str = concat!(
    "UPDATE forwards SET ready_at = ",
    ready!(),
    ", token = 0, error = $3 WHERE seq = $4"
);

/// Row `$2` released with error `$1`, its claim not counted.
const RELEASE: &str = "UPDATE forwards SET token = 0, \
     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, error = $1 WHERE seq = $2";

/// Endpoint `$1` disabled with reason `$2` (enabled: `NULL`) at `$3`.
const SET_ENDPOINT: &str = "INSERT INTO forward_endpoints (name, disabled, changed_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
     SET disabled = excluded.disabled, changed_at = excluded.changed_at";

/// The heads of disabled endpoint `$1` are never ready (`$2`).
const HEADS_NEVER: &str =
    "UPDATE forwards SET ready_at = $2 WHERE endpoint = $1 AND state = 0 AND head = TRUE";

/// The heads of enabled endpoint `$1` are ready at `$2`, a head in flight keeping its lease.
const HEADS_READY: &str = "UPDATE forwards \
     SET ready_at = CASE WHEN token != 0 AND lease_until > $2 THEN lease_until ELSE $2 END \
     WHERE endpoint = $1 AND state = 0 AND head = TRUE";

/// Takes (deletes and returns) the dead rows of endpoint `$1`.
const TAKE_DEAD: &str = "DELETE FROM forwards WHERE endpoint = $1 AND state = 2 \
     RETURNING seq, event_id, conversation, body";

/// Rows pending and dead per endpoint.
const COUNTS: &str = "SELECT endpoint, \
     SUM(CASE WHEN state = 0 THEN 1 ELSE 0 END) AS pending, \
     SUM(CASE WHEN state = 2 THEN 1 ELSE 0 END) AS dead \
     FROM forwards WHERE state != 1 GROUP BY endpoint";

/// Disabled endpoints.
const DISABLED: &str = "SELECT name, disabled FROM forward_endpoints WHERE disabled IS NOT NULL";

/// Up to `$2` dead rows of endpoint `$1` (all endpoints: `NULL`), oldest first.
const DEAD_ROWS: &str = "SELECT endpoint, event_id, conversation, COALESCE(error, '') AS error, \
     attempts FROM forwards WHERE state = 2 AND ($1 IS NULL OR endpoint = $1) \
     ORDER BY seq LIMIT $2";

/// `ready_at` of a disabled endpoint's heads: never reached by a claim.
const NEVER: i64 = i64::MAX;

/// A finish, its replies serialized.
pub(crate) enum PreparedForward {
    Delivered(Vec<PreparedOutbound>),
    Retry { at: i64, error: String },
    Disable { reason: String },
    Dead { error: String },
}

impl PreparedForward {
    fn new(outcome: ForwardOutcome) -> Result<Self> {
        Ok(match outcome {
            ForwardOutcome::Delivered { replies } => PreparedForward::Delivered(
                replies
                    .iter()
                    .map(PreparedOutbound::new)
                    .collect::<Result<_>>()?,
            ),
            ForwardOutcome::Retry { at, error } => PreparedForward::Retry {
                at: millis(at),
                error,
            },
            ForwardOutcome::Disable { reason } => PreparedForward::Disable { reason },
            ForwardOutcome::DeadLetter { error } => PreparedForward::Dead { error },
        })
    }
}

/// A write of the forwarding queues, as a writer job ([`Job::Forward`]).
pub(crate) enum ForwardWrite {
    /// Rows appended at `now`: answers [`Answer::Flags`].
    Enqueue(Vec<NewForward>, i64),
    /// Answers [`Answer::Forwards`].
    Claim(Claim),
    /// Finishes at `now`: answers [`Answer::Finished`].
    Finish(Vec<(Lease, PreparedForward)>, i64),
    /// (endpoint, reason or `None` to enable, now): answers [`Answer::Done`].
    SetDisabled(String, Option<String>, i64),
    /// (endpoint, now): answers [`Answer::Count`].
    Replay(String, i64),
}

impl ForwardWrite {
    /// The rows it writes, for the writer's batch limits.
    pub(crate) fn rows(&self) -> usize {
        match self {
            ForwardWrite::Enqueue(rows, _) => rows.len(),
            ForwardWrite::Claim(claim) => claim.limit,
            ForwardWrite::Finish(rows, _) => rows.len(),
            ForwardWrite::SetDisabled(..) | ForwardWrite::Replay(..) => 1,
        }
    }
}

/// Runs a write other than a claim; its answer, and whether it inserted outbox rows.
pub(crate) async fn write<T: Tx>(tx: &mut T, write: &ForwardWrite) -> Result<(Answer, bool)> {
    Ok(match write {
        ForwardWrite::Enqueue(rows, now) => {
            lock(
                tx,
                rows.iter()
                    .map(|r| (r.endpoint.as_str(), r.conversation.as_str())),
            )
            .await?;
            let mut new = Vec::with_capacity(rows.len());
            for r in rows {
                new.push(insert(tx, r, *now).await?);
            }
            (Answer::Flags(new), false)
        }
        ForwardWrite::Finish(finishes, now) => {
            let mut answers = Vec::with_capacity(finishes.len());
            let mut replies = false;
            for (lease, outcome) in finishes {
                let answer = finish(tx, *lease, outcome, *now).await?;
                replies |= matches!(
                    (&answer, outcome),
                    (Ok(true), PreparedForward::Delivered(r)) if !r.is_empty()
                );
                answers.push(answer);
            }
            (Answer::Finished(answers), replies)
        }
        ForwardWrite::SetDisabled(endpoint, reason, now) => {
            set_disabled(tx, endpoint, reason.as_deref(), *now).await?;
            (Answer::Done, false)
        }
        ForwardWrite::Replay(endpoint, now) => {
            (Answer::Count(replay(tx, endpoint, *now).await?), false)
        }
        ForwardWrite::Claim(_) => return Err(unexpected()),
    })
}

/// Locks the queues of `keys` for the transaction, in a fixed order (each once).
async fn lock<'k, T: Tx>(tx: &mut T, keys: impl Iterator<Item = (&'k str, &'k str)>) -> Result<()> {
    let Some(sql) = T::FORWARD.lock else {
        return Ok(());
    };
    for (endpoint, conversation) in keys.collect::<BTreeSet<_>>() {
        tx.execute(sql, &[Param::Text(endpoint), Param::Text(conversation)])
            .await?;
    }
    Ok(())
}

/// Appends a row (its queue's head when the queue had no pending row); `false` when
/// (endpoint, id) is known.
async fn insert<T: Tx>(tx: &mut T, r: &NewForward, now: i64) -> Result<bool> {
    let params = [
        Param::Text(&r.endpoint),
        Param::Int(now),
        Param::Text(&r.id),
        Param::Text(&r.conversation),
        Param::Text(&r.body),
    ];
    Ok(tx.execute(INSERT, &params).await? == 1)
}

/// Leases up to `claim.limit` ready heads.
pub(crate) async fn claim<T: Tx>(tx: &mut T, claim: &Claim) -> Result<Vec<ForwardItem>> {
    let (now, until) = lease_span(claim);
    let ready = tx
        .fetch(
            T::FORWARD.ready,
            &[Param::Int(now), Param::Int(limit(claim.limit))],
        )
        .await?;
    let mut items = Vec::with_capacity(ready.len());
    for head in ready {
        let seq = head.int("seq")?;
        let token = new_token();
        let params = [Param::Int(token), Param::Int(until), Param::Int(seq)];
        let Some(row) = tx.fetch(LEASE, &params).await?.into_iter().next() else {
            return Err(crate::store::store_error(
                "claim forwards",
                "a ready head is gone",
            ));
        };
        items.push(ForwardItem {
            lease: Lease::new(seq, token),
            endpoint: row.text("endpoint")?,
            id: row.text("event_id")?,
            conversation: row.text("conversation")?,
            body: row.text("body")?,
            attempts: rows::attempts(&row, "attempts")?,
        });
    }
    Ok(items)
}

/// Finishes the row `lease` holds; `Ok(false)` when it does not, `Err` when its replies'
/// outbox keys are taken (nothing written).
async fn finish<T: Tx>(
    tx: &mut T,
    lease: Lease,
    outcome: &PreparedForward,
    now: i64,
) -> Result<Result<bool>> {
    let params = [Param::Int(lease.seq), Param::Int(lease.token)];
    let Some(held) = tx.fetch(T::FORWARD.held, &params).await?.into_iter().next() else {
        return Ok(Ok(false));
    };
    let endpoint = held.text("endpoint")?;
    let conversation = held.text("conversation")?;
    let seq = Param::Int(lease.seq);
    match outcome {
        PreparedForward::Delivered(replies) => {
            if !replies.is_empty()
                && let Err(e) = ops::enqueue(tx, replies, now).await?
            {
                return Ok(Err(e));
            }
            lock(tx, [(endpoint.as_str(), conversation.as_str())].into_iter()).await?;
            tx.execute(DELIVERED, &[Param::Int(now), seq]).await?;
            promote(tx, &endpoint, &conversation, now).await?;
        }
        PreparedForward::Dead { error } => {
            lock(tx, [(endpoint.as_str(), conversation.as_str())].into_iter()).await?;
            tx.execute(DEAD, &[Param::Text(error), Param::Int(now), seq])
                .await?;
            promote(tx, &endpoint, &conversation, now).await?;
        }
        PreparedForward::Retry { at, error } => {
            let params = [
                Param::Text(&endpoint),
                Param::Int(*at),
                Param::Text(error),
                seq,
            ];
            tx.execute(RETRY, &params).await?;
        }
        PreparedForward::Disable { reason } => {
            tx.execute(RELEASE, &[Param::Text(reason), seq]).await?;
            set_disabled(tx, &endpoint, Some(reason), now).await?;
        }
    }
    Ok(Ok(true))
}

/// Makes the first pending row of (endpoint, conversation) its head, ready at `now`.
async fn promote<T: Tx>(tx: &mut T, endpoint: &str, conversation: &str, now: i64) -> Result<()> {
    let params = [
        Param::Text(endpoint),
        Param::Int(now),
        Param::Text(conversation),
    ];
    tx.execute(PROMOTE, &params).await.map(|_| ())
}

async fn set_disabled<T: Tx>(
    tx: &mut T,
    endpoint: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    let params = [
        Param::Text(endpoint),
        Param::OptText(reason),
        Param::Int(now),
    ];
    tx.execute(SET_ENDPOINT, &params).await?;
    let (sql, ready) = match reason {
        Some(_) => (HEADS_NEVER, NEVER),
        None => (HEADS_READY, now),
    };
    tx.execute(sql, &[Param::Text(endpoint), Param::Int(ready)])
        .await?;
    Ok(())
}

/// Appends the endpoint's dead rows again at the end of their queues, in their order.
async fn replay<T: Tx>(tx: &mut T, endpoint: &str, now: i64) -> Result<u64> {
    let mut dead = tx
        .fetch(TAKE_DEAD, &[Param::Text(endpoint)])
        .await?
        .iter()
        .map(|r| {
            let row = NewForward::new(
                endpoint,
                r.text("event_id")?,
                r.text("conversation")?,
                r.text("body")?,
            );
            Ok((r.int("seq")?, row))
        })
        .collect::<Result<Vec<_>>>()?;
    dead.sort_by_key(|(seq, _)| *seq);
    lock(
        tx,
        dead.iter()
            .map(|(_, r)| (r.endpoint.as_str(), r.conversation.as_str())),
    )
    .await?;
    for (_, row) in &dead {
        insert(tx, row, now).await?;
    }
    Ok(dead.len() as u64)
}

/// The forwarding queue's `Store` methods (`forward_store!` calls these).
impl<D: Dialect> SqlStore<D> {
    async fn forward(&self, write: ForwardWrite) -> Result<Answer> {
        self.writer().run(Job::Forward(write)).await
    }

    pub(crate) async fn forward_enqueue(
        &self,
        rows: &[NewForward],
        now: SystemTime,
    ) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .forward(ForwardWrite::Enqueue(rows.to_vec(), millis(now)))
            .await?
        {
            Answer::Flags(f) => Ok(f),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn forward_claim(&self, claim: Claim) -> Result<Vec<ForwardItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        match self.forward(ForwardWrite::Claim(claim)).await? {
            Answer::Forwards(items) => Ok(items),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn forward_finish(
        &self,
        finishes: Vec<ForwardFinish>,
        now: SystemTime,
    ) -> Result<Vec<Result<bool>>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = finishes
            .into_iter()
            .map(|f| Ok((f.lease, PreparedForward::new(f.outcome)?)))
            .collect::<Result<Vec<_>>>()?;
        match self
            .forward(ForwardWrite::Finish(prepared, millis(now)))
            .await?
        {
            Answer::Finished(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn forward_set_disabled(
        &self,
        endpoint: &str,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        let write =
            ForwardWrite::SetDisabled(endpoint.to_owned(), reason.map(str::to_owned), millis(now));
        match self.forward(write).await? {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn forward_replay(&self, endpoint: &str, now: SystemTime) -> Result<u64> {
        match self
            .forward(ForwardWrite::Replay(endpoint.to_owned(), millis(now)))
            .await?
        {
            Answer::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn forward_prune(&self, before: SystemTime) -> Result<u64> {
        self.prune_step(PruneStep::Forwards, millis(before)).await
    }

    pub(crate) async fn forward_endpoints(&self) -> Result<Vec<ForwardEndpoint>> {
        let mut all: BTreeMap<String, ForwardEndpoint> = BTreeMap::new();
        for r in self.dialect().read(COUNTS, &[]).await? {
            let name = r.text("endpoint")?;
            let mut e = ForwardEndpoint::new(name.clone());
            e.pending = count(&r, "pending")?;
            e.dead = count(&r, "dead")?;
            all.insert(name, e);
        }
        for r in self.dialect().read(DISABLED, &[]).await? {
            let name = r.text("name")?;
            all.entry(name.clone())
                .or_insert_with(|| ForwardEndpoint::new(name))
                .disabled = r.text_opt("disabled")?;
        }
        Ok(all.into_values().collect())
    }

    pub(crate) async fn forward_dead(
        &self,
        endpoint: Option<&str>,
        n: usize,
    ) -> Result<Vec<ForwardDead>> {
        self.dialect()
            .read(DEAD_ROWS, &[Param::OptText(endpoint), Param::Int(limit(n))])
            .await?
            .iter()
            .map(|r| {
                Ok(ForwardDead::new(
                    r.text("endpoint")?,
                    r.text("event_id")?,
                    r.text("conversation")?,
                    r.text("error")?,
                    rows::attempts(r, "attempts")?,
                ))
            })
            .collect()
    }
}

/// A count column as `u64`.
fn count(row: &impl SqlRow, col: &str) -> Result<u64> {
    Ok(u64::try_from(row.int(col)?).unwrap_or(0))
}
