//! The writer: every write of one instance goes through one task that commits *everything
//! waiting in its queue* as one transaction (group commit), as the SQLite writer does: inbound
//! inserts, claims, completions with their outbox rows and state, sends marked sent, attempts,
//! releases, renewals, receipts. Jobs of one kind are merged into set-based statements (arrays
//! bound to one parameter each, read with `UNNEST`). Each caller gets its answer only after
//! the commit. A transaction that made rows ready notifies the other instances
//! ([`notify`](super::notify)) at its commit.
//!
//! A batch that fails as a whole (a lost connection, a deadlock with another instance, a
//! statement that fails on one job's data) is rolled back and its jobs are run again one
//! transaction each, so one poisoned job fails alone; a job that meets a deadlock or a
//! serialization failure alone is tried again a few times.

use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool};
use switchboard_core::Result;
use tokio::sync::{mpsc, oneshot};

use super::inbox::{PreparedEvent, PreparedFinish};
use super::outbox::PreparedOutbound;
use super::{heads, inbox, notify, outbox, receipts, state, update};
use crate::store::{
    Claim, InboxItem, Inserted, Lease, OutboxChange, OutboxItem, OutboxUpdate, Queue, Receipt,
    store_error,
};

/// The most jobs committed in one transaction.
const MAX_JOBS: usize = 1024;
/// The most rows (events, finishes, updates) committed in one transaction.
const MAX_ROWS: usize = 4096;
/// How often a job alone is tried when it meets a deadlock or a serialization failure.
const TRIES: usize = 4;

/// One write, as data (so a failed batch can run it again alone).
pub(super) enum Job {
    Insert(Vec<PreparedEvent>),
    ClaimInbox(Claim),
    FinishInbox(Vec<PreparedFinish>),
    Enqueue(Vec<PreparedOutbound>, i64),
    ClaimOutbox(Claim),
    UpdateOutbox(Vec<OutboxUpdate>),
    Renew(Queue, Vec<Lease>, i64),
    Receipts(Vec<Receipt>, i64),
    SetState(String, Option<String>, i64),
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
            Job::SetState(..) => 1,
        }
    }
}

/// What a job answers.
pub(super) enum Answer {
    Inserted(Vec<Inserted>),
    Inbox(Vec<InboxItem>),
    Finished(Vec<Result<bool>>),
    Enqueued(Result<Vec<bool>>),
    Outbox(Vec<OutboxItem>),
    Flags(Vec<bool>),
    Counts(Vec<u64>),
    Done,
}

struct Pending {
    job: Job,
    reply: oneshot::Sender<Result<Answer>>,
}

/// The handle to the writer task.
#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the writer on `pool`; its commits notify on `channel`.
    pub(super) fn start(pool: PgPool, channel: String) -> Writer {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(pool, channel, rx));
        Writer { tx }
    }

    /// Runs `job` in the next group commit; answers once it is committed.
    pub(super) async fn run(&self, job: Job) -> Result<Answer> {
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

async fn run(pool: PgPool, channel: String, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut rows = first.job.rows();
        let mut batch = vec![first];
        while batch.len() < MAX_JOBS && rows < MAX_ROWS {
            match rx.try_recv() {
                Ok(p) => {
                    rows += p.job.rows();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let jobs: Vec<&Job> = batch.iter().map(|p| &p.job).collect();
        match transact(&pool, &channel, &jobs).await {
            Ok(answers) => {
                for (p, a) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(Ok(a));
                }
            }
            Err(e) if batch.len() > 1 => {
                tracing::debug!(error = %e.message, jobs = batch.len(), "group commit failed; committing its jobs one by one");
                for p in batch {
                    let answer = alone(&pool, &channel, &p.job).await;
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                for p in batch {
                    let answer = if e.retry {
                        alone(&pool, &channel, &p.job).await
                    } else {
                        Err(store_error("write", &e.message))
                    };
                    let _ = p.reply.send(answer);
                }
            }
        }
    }
}

/// A failed transaction: why, and whether trying again may succeed (a deadlock with another
/// instance, a serialization failure).
struct Failed {
    message: String,
    retry: bool,
}

fn failed(e: switchboard_core::Error, retry: bool) -> Failed {
    Failed {
        message: e.message().to_owned(),
        retry,
    }
}

/// One job in its own transaction, tried again on deadlocks.
async fn alone(pool: &PgPool, channel: &str, job: &Job) -> Result<Answer> {
    let mut tries = 0;
    loop {
        tries += 1;
        match transact(pool, channel, &[job]).await {
            Ok(mut a) => {
                return a
                    .pop()
                    .ok_or_else(|| store_error("write", "a job got no answer"));
            }
            Err(e) if e.retry && tries < TRIES => continue,
            Err(e) => return Err(store_error("write", &e.message)),
        }
    }
}

/// Whether `e` is a deadlock or a serialization failure.
fn retryable(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

/// Runs `jobs` in one transaction and commits it.
async fn transact(
    pool: &PgPool,
    channel: &str,
    jobs: &[&Job],
) -> std::result::Result<Vec<Answer>, Failed> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| failed(store_error("connect", e), false))?;
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| failed(store_error("begin", e), false))?;
    let mut wake = Wake::default();
    let answers = match apply(&mut tx, jobs, &mut wake).await {
        Ok(a) => a,
        Err(e) => {
            // The statement error was already converted; tell deadlocks apart by message.
            let retry = e.message().contains("deadlock") || e.message().contains("serialize");
            return Err(failed(e, retry));
        }
    };
    for (yes, payload) in [(wake.inbox, notify::INBOX), (wake.outbox, notify::OUTBOX)] {
        if yes {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&mut *tx)
                .await
                .map_err(|e| failed(store_error("notify", &e), retryable(&e)))?;
        }
    }
    tx.commit()
        .await
        .map_err(|e| failed(store_error("commit", &e), retryable(&e)))?;
    Ok(answers)
}

/// Which queues got ready rows in a transaction.
#[derive(Default)]
struct Wake {
    inbox: bool,
    outbox: bool,
}

/// The jobs, merged by kind, in an order that keeps each caller's view consistent: new rows
/// first, then finishes and updates (so the heads they free can be claimed), renewals (so a
/// renewed lease is not claimed), claims last.
async fn apply(conn: &mut PgConnection, jobs: &[&Job], wake: &mut Wake) -> Result<Vec<Answer>> {
    let mut answers: Vec<Option<Answer>> = jobs.iter().map(|_| None).collect();
    let inserts: Vec<(usize, &[PreparedEvent])> = pick(jobs, |j| match j {
        Job::Insert(rows) => Some(rows.as_slice()),
        _ => None,
    });
    if !inserts.is_empty() {
        let results = inbox::insert(conn, inserts.iter().map(|(_, r)| *r)).await?;
        for ((i, _), r) in inserts.iter().zip(results) {
            wake.inbox |= r.iter().any(|x| matches!(x, Inserted::New(_)));
            answers[*i] = Some(Answer::Inserted(r));
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        if let Job::Enqueue(rows, now) = job {
            let r = outbox::enqueue(conn, rows, *now).await?;
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
        let results = inbox::finish(conn, &all).await?;
        for (f, r) in all.iter().zip(&results) {
            if matches!(r, Ok(true)) {
                wake.inbox = true;
                wake.outbox |= matches!(&f.outcome, inbox::Prepared::Done { outbox, .. } if !outbox.is_empty());
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
        let results = update::update(conn, &all).await?;
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
                let counts = receipts::record(conn, receipts, *now).await?;
                wake.outbox |= receipts
                    .iter()
                    .zip(&counts)
                    .any(|(r, n)| matches!(r, Receipt::Proof(_)) && *n > 0);
                Answer::Counts(counts)
            }
            Job::SetState(conversation, value, now) => {
                state::write_all(conn, &[(conversation.as_str(), value.as_deref())], *now).await?;
                Answer::Done
            }
            Job::Renew(queue, leases, until) => {
                Answer::Flags(heads::renew(conn, *queue, leases, *until).await?)
            }
            _ => continue,
        };
        answers[i] = Some(answer);
    }
    for (i, job) in jobs.iter().enumerate() {
        let answer = match job {
            Job::ClaimInbox(claim) => Answer::Inbox(inbox::claim(conn, claim).await?),
            Job::ClaimOutbox(claim) => Answer::Outbox(outbox::claim(conn, claim).await?),
            _ => continue,
        };
        answers[i] = Some(answer);
    }
    answers
        .into_iter()
        .map(|a| a.ok_or_else(|| store_error("write", "a job got no answer")))
        .collect()
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
