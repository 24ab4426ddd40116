//! The writer: every write of a store goes through one task that commits *everything waiting
//! in its queue* as one transaction (group commit), so one commit (one fsync) carries many
//! events: inbound inserts, claims, completions with their outbox rows and state, sends marked
//! sent, attempts, releases, renewals, receipts. Jobs of one kind are merged into set-based
//! statements ([`apply`]), so a batch costs a handful of statements whatever its size. Each
//! caller gets its answer only after the commit.
//!
//! A batch that fails as a whole (an I/O error, a lost connection, a deadlock with another
//! instance, a statement that fails on one job's data) is rolled back and its jobs are run
//! again one transaction each, so one poisoned job fails alone; a job that meets a deadlock or
//! a serialization failure alone is tried again a few times. How a transaction begins and
//! commits, and what a commit does beside, is the backend's ([`Committer`]).

use std::collections::BTreeSet;
use std::future::Future;

use switchboard_core::{Error, Result};
use tokio::sync::{mpsc, oneshot};

use super::forward::{self, ForwardWrite};
use super::prepared::{Prepared, PreparedEvent, PreparedFinish, PreparedOutbound};
use super::{PruneStep, Tx, ops};
use crate::store::{
    Claim, ForwardItem, InboxItem, Inserted, Lease, OutboxChange, OutboxItem, OutboxUpdate, Queue,
    Receipt, store_error,
};

/// The most jobs committed in one transaction.
const MAX_JOBS: usize = 1024;
/// The most rows (events, finishes, updates) committed in one transaction.
const MAX_ROWS: usize = 4096;
/// The most times the writer lets other tasks queue jobs before it commits.
const MAX_YIELDS: usize = 4;
/// How often a job alone is tried when it meets a deadlock or a serialization failure.
const TRIES: usize = 4;

/// One write, as data (so a failed batch can run it again alone).
pub(crate) enum Job {
    Insert(Vec<PreparedEvent>),
    ClaimInbox(Claim),
    FinishInbox(Vec<PreparedFinish>),
    Enqueue(Vec<PreparedOutbound>, i64),
    ClaimOutbox(Claim),
    UpdateOutbox(Vec<OutboxUpdate>),
    Renew(Queue, Vec<Lease>, i64),
    Receipts(Vec<Receipt>, i64),
    SetState(String, Option<String>, i64),
    Recover(i64),
    Prune(PruneStep, i64),
    /// A web chat write (see [`super::webchat`]).
    Webchat(super::webchat::WebchatWrite),
    /// A write of the gateway's forwarding queues (see [`super::forward`]).
    Forward(ForwardWrite),
    /// An installation write (see [`super::installs`]).
    Install(super::installs::InstallWrite),
}

impl Job {
    fn rows(&self) -> usize {
        match self {
            Job::Insert(rows) => rows.len(),
            Job::FinishInbox(rows) => rows.len(),
            Job::Enqueue(rows, _) => rows.len(),
            Job::UpdateOutbox(rows) => rows.len(),
            Job::Renew(_, leases, _) => leases.len(),
            Job::Receipts(rows, _) => rows.len(),
            Job::ClaimInbox(c) | Job::ClaimOutbox(c) => c.limit,
            Job::Forward(write) => write.rows(),
            Job::SetState(..)
            | Job::Recover(_)
            | Job::Prune(..)
            | Job::Webchat(_)
            | Job::Install(_) => 1,
        }
    }
}

/// What a job answers.
pub(crate) enum Answer {
    Inserted(Vec<Inserted>),
    Inbox(Vec<InboxItem>),
    Finished(Vec<Result<bool>>),
    Enqueued(Result<Vec<bool>>),
    Outbox(Vec<OutboxItem>),
    Flags(Vec<bool>),
    Counts(Vec<u64>),
    Count(u64),
    Done,
    /// What a [`Job::Webchat`] wrote.
    Webchat(super::webchat::WebchatWritten),
    /// Claimed forwarding rows.
    Forwards(Vec<ForwardItem>),
}

/// The error for an answer of another kind than the job's (a bug, never expected).
pub(crate) fn unexpected() -> Error {
    store_error("write", "the writer answered another job")
}

/// A failed transaction: why, whether trying again may succeed (a deadlock with another
/// instance, a serialization failure), and whether the database could not be reached (no
/// connection, no answer in time: each job of the batch fails with it at once, since running
/// them one by one would only wait again, once per job).
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) retry: bool,
    pub(crate) unreachable: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed {
            error,
            retry: false,
            unreachable: false,
        }
    }
}

/// How a backend runs a batch: begins a transaction, runs the jobs in it with [`apply`],
/// does what its commits do beside (notifications), commits.
pub(crate) trait Committer: Send + 'static {
    /// Runs `jobs` in one transaction and commits it; one answer per job.
    fn transact(
        &mut self,
        jobs: &[&Job],
    ) -> impl Future<Output = std::result::Result<Vec<Answer>, Failed>> + Send;
}

struct Pending {
    job: Job,
    reply: oneshot::Sender<Result<Answer>>,
}

/// The handle to the writer task.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the writer task on `committer`; it stops when every handle is dropped.
    /// (PostgreSQL's: its statements are async round trips. SQLite's writer has a thread of
    /// its own, [`start_on_thread`](Self::start_on_thread).)
    #[cfg(feature = "postgres")]
    pub(crate) fn start(committer: impl Committer) -> Writer {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(committer, rx, false));
        Writer { tx }
    }

    /// Starts the writer loop on a thread of its own named `name` (a backend whose statements
    /// block: SQLite's run there, a whole group commit at a time, beside the async runtime);
    /// the thread ends when every handle is dropped.
    ///
    /// # Errors
    ///
    /// `Transport` when the thread or its runtime cannot be started.
    pub(crate) fn start_on_thread(committer: impl Committer, name: &str) -> Result<Writer> {
        let (tx, rx) = mpsc::channel(8192);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| store_error("writer", e))?;
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || runtime.block_on(run(committer, rx, true)))
            .map_err(|e| store_error("writer", e))?;
        Ok(Writer { tx })
    }

    /// Runs `job` in the next group commit; answers once it is committed.
    pub(crate) async fn run(&self, job: Job) -> Result<Answer> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { job, reply })
            .await
            .map_err(|_| store_error("write", "writer stopped"))?;
        answer
            .await
            .map_err(|_| store_error("write", "writer stopped"))?
    }
}

/// The writer loop. `on_thread`: the loop has an OS thread of its own, which the kernel runs
/// as soon as a job wakes it, often before the runtime has queued the jobs its other tasks are
/// about to send (the batch would be one or two jobs, a commit and a sync each); so before
/// taking what is queued the thread yields the CPU, while the yield keeps bringing jobs. A yield
/// costs nothing when nothing else is runnable (low load: no latency added).
async fn run(mut committer: impl Committer, mut rx: mpsc::Receiver<Pending>, on_thread: bool) {
    while let Some(first) = rx.recv().await {
        let mut rows = first.job.rows();
        let mut batch = vec![first];
        // The first job's sender woke this loop, and its siblings that are ready to run (the
        // other workers of a claim, each with its completion; the claim loop with its next
        // claim) have not queued theirs yet: let them run first, as long as they queue more,
        // so that a cycle's completions and next claim share one commit. On a thread of its
        // own the loop yields the CPU (the kernel woke it before the runtime's tasks ran); as a
        // task, it yields to the runtime, at most `MAX_YIELDS` times.
        let mut yields = 0;
        loop {
            if on_thread {
                std::thread::yield_now();
            } else if yields == MAX_YIELDS {
                break;
            } else {
                yields += 1;
                tokio::task::yield_now().await;
            }
            let before = batch.len();
            while batch.len() < MAX_JOBS && rows < MAX_ROWS {
                match rx.try_recv() {
                    Ok(p) => {
                        rows += p.job.rows();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            if batch.len() == before || batch.len() >= MAX_JOBS || rows >= MAX_ROWS {
                break;
            }
        }
        let jobs: Vec<&Job> = batch.iter().map(|p| &p.job).collect();
        match committer.transact(&jobs).await {
            Ok(answers) => {
                for (p, a) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(Ok(a));
                }
            }
            Err(e) if e.unreachable => {
                tracing::warn!(error = %e.error, jobs = batch.len(), "store unreachable; the batch fails");
                for p in batch {
                    let _ = p.reply.send(Err(store_error("write", e.error.message())));
                }
            }
            Err(e) if batch.len() > 1 || e.retry => {
                if e.retry {
                    // A deadlock with another instance: expected now and then.
                    tracing::debug!(error = %e.error, jobs = batch.len(), "group commit failed; committing its jobs one by one");
                } else {
                    tracing::warn!(error = %e.error, jobs = batch.len(), "group commit failed; committing its jobs one by one");
                }
                for p in batch {
                    let answer = alone(&mut committer, &p.job).await;
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.reply.send(Err(store_error("write", e.error.message())));
                }
            }
        }
    }
}

/// One job in its own transaction, tried again on deadlocks.
async fn alone(committer: &mut impl Committer, job: &Job) -> Result<Answer> {
    let mut tries = 0;
    loop {
        tries += 1;
        match committer.transact(&[job]).await {
            Ok(mut a) => {
                return a
                    .pop()
                    .ok_or_else(|| store_error("write", "a job got no answer"));
            }
            Err(e) if e.retry && tries < TRIES => continue,
            Err(e) => return Err(store_error("write", e.error.message())),
        }
    }
}

/// Which queues got ready rows in a transaction, and which web chat logs got records (what a
/// shared store tells other instances).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Wake {
    pub(crate) inbox: bool,
    pub(crate) outbox: bool,
    /// The conversations whose logs got records.
    pub(crate) logs: BTreeSet<String>,
}

/// Runs the jobs on `tx`, merged by kind, in an order that keeps each caller's view
/// consistent: new rows first, then finishes and updates (so the heads they free can be
/// claimed), renewals (so a renewed lease is not claimed) and the forwarding queues' writes,
/// claims last. Returns one answer per
/// job and the queues that got ready rows.
pub(crate) async fn apply<T: Tx>(tx: &mut T, jobs: &[&Job]) -> Result<(Vec<Answer>, Wake)> {
    let mut wake = Wake::default();
    let mut answers: Vec<Option<Answer>> = jobs.iter().map(|_| None).collect();
    let inserts: Vec<(usize, &[PreparedEvent])> = pick(jobs, |j| match j {
        Job::Insert(rows) => Some(rows.as_slice()),
        _ => None,
    });
    if !inserts.is_empty() {
        let batches: Vec<&[PreparedEvent]> = inserts.iter().map(|(_, r)| *r).collect();
        let results = ops::insert(tx, &batches).await?;
        for ((i, _), r) in inserts.iter().zip(results) {
            wake.inbox |= r.iter().any(|x| matches!(x, Inserted::New(_)));
            answers[*i] = Some(Answer::Inserted(r));
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        if let Job::Enqueue(rows, now) = job {
            let r = ops::enqueue(tx, rows, *now).await?;
            wake.outbox |= r.as_ref().is_ok_and(|r| r.iter().any(|new| *new));
            answers[i] = Some(Answer::Enqueued(r));
        }
    }
    let finishes: Vec<(usize, &[PreparedFinish])> = pick(jobs, |j| match j {
        Job::FinishInbox(rows) => Some(rows.as_slice()),
        _ => None,
    });
    if !finishes.is_empty() {
        let all: Vec<&PreparedFinish> = finishes.iter().flat_map(|(_, r)| r.iter()).collect();
        let results = ops::finish(tx, &all).await?;
        for (f, r) in all.iter().zip(&results) {
            if matches!(r, Ok(true)) {
                wake.inbox = true;
                wake.outbox |=
                    matches!(&f.outcome, Prepared::Done { outbox, .. } if !outbox.is_empty());
            }
        }
        let mut results = results.into_iter();
        for (i, rows) in &finishes {
            answers[*i] = Some(Answer::Finished(
                results.by_ref().take(rows.len()).collect(),
            ));
        }
    }
    let updates: Vec<(usize, &[OutboxUpdate])> = pick(jobs, |j| match j {
        Job::UpdateOutbox(rows) => Some(rows.as_slice()),
        _ => None,
    });
    if !updates.is_empty() {
        let all: Vec<&OutboxUpdate> = updates.iter().flat_map(|(_, r)| r.iter()).collect();
        let results = ops::update(tx, &all).await?;
        wake.outbox |= all.iter().zip(&results).any(|(u, ok)| {
            *ok && matches!(
                u.change,
                OutboxChange::Sent { .. } | OutboxChange::DeadLetter { .. }
            )
        });
        let mut results = results.into_iter();
        for (i, rows) in &updates {
            answers[*i] = Some(Answer::Flags(results.by_ref().take(rows.len()).collect()));
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        let answer = match job {
            Job::Receipts(receipts, now) => {
                let counts = ops::record_receipts(tx, receipts, *now).await?;
                wake.outbox |= receipts
                    .iter()
                    .zip(&counts)
                    .any(|(r, n)| matches!(r, Receipt::Proof(_)) && *n > 0);
                Answer::Counts(counts)
            }
            Job::SetState(conversation, value, now) => {
                ops::write_state(tx, &[(conversation.as_str(), value.as_deref())], *now).await?;
                Answer::Done
            }
            Job::Recover(now) => {
                tx.recover(*now).await?;
                Answer::Done
            }
            Job::Prune(step, cutoff) => Answer::Count(tx.prune(*step, *cutoff).await?),
            Job::Install(write) => Answer::Count(super::installs::write(tx, write).await?),
            Job::Renew(queue, leases, until) => {
                Answer::Flags(ops::renew(tx, *queue, leases, *until).await?)
            }
            Job::Webchat(write) => {
                Answer::Webchat(super::webchat::write(tx, write, &mut wake.logs).await?)
            }
            Job::Forward(ForwardWrite::Claim(_)) => continue,
            Job::Forward(write) => {
                let (answer, replies) = forward::write(tx, write).await?;
                wake.outbox |= replies;
                answer
            }
            _ => continue,
        };
        answers[i] = Some(answer);
    }
    for (i, job) in jobs.iter().enumerate() {
        let answer = match job {
            Job::ClaimInbox(claim) => Answer::Inbox(tx.claim_inbox(claim).await?),
            Job::ClaimOutbox(claim) => Answer::Outbox(super::ops::claim_outbox(tx, claim).await?),
            Job::Forward(ForwardWrite::Claim(claim)) => {
                Answer::Forwards(forward::claim(tx, claim).await?)
            }
            _ => continue,
        };
        answers[i] = Some(answer);
    }
    let answers = answers
        .into_iter()
        .map(|a| a.ok_or_else(|| store_error("write", "a job got no answer")))
        .collect::<Result<_>>()?;
    Ok((answers, wake))
}

/// The jobs `f` selects, with their positions.
fn pick<'a, T: ?Sized>(
    jobs: &[&'a Job],
    f: impl Fn(&'a Job) -> Option<&'a T>,
) -> Vec<(usize, &'a T)> {
    jobs.iter()
        .enumerate()
        .filter_map(|(i, j)| f(j).map(|t| (i, t)))
        .collect()
}
