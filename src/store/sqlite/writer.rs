//! The writer: every write of the store goes through one task that owns the write connection
//! and commits *everything waiting in its queue* as one transaction (group commit), so one
//! fsync carries many events: inbound inserts, claims, completions with their outbox rows and
//! state, sends marked sent, attempts, releases, renewals, receipts. Jobs of one kind are
//! merged into set-based statements (a JSON array bound to one parameter and read with
//! `json_each`), so a batch costs a handful of statements whatever its size. Each caller gets
//! its answer only after the commit.
//!
//! A batch that fails as a whole (an I/O error, a statement that fails on one job's data) is
//! rolled back and its jobs are run again one transaction each, so one poisoned job fails
//! alone. Refusals that belong to one item (a lost lease, an outbox key taken) are answers,
//! never failures.
//!
//! Beside it, the checkpointer copies the WAL back into the database file.

use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;
use tokio::sync::{mpsc, oneshot};

use super::inbox::{PreparedEvent, PreparedFinish};
use super::outbox::PreparedOutbound;
use super::{db, forward, inbox, maintenance, outbox, receipts, state, update};
use crate::store::{
    Claim, InboxItem, Inserted, Lease, OutboxItem, OutboxUpdate, Queue, Receipt, store_error,
};

/// The most jobs committed in one transaction.
const MAX_JOBS: usize = 1024;
/// The most rows (events, finishes, updates) committed in one transaction.
const MAX_ROWS: usize = 4096;

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
    Recover(i64),
    Prune(maintenance::PruneStep, i64),
    /// The gateway's forwarding queues.
    Forward(forward::Job),
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
            _ => 1,
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
    Count(u64),
    Done,
    Forward(forward::Answer),
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
    /// Starts the writer on `conn`; inbox sequence numbers continue after `last_seq`.
    pub(super) fn start(conn: SqliteConnection, last_seq: i64) -> Writer {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(run(conn, rx, last_seq));
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

/// What the writer keeps between batches.
pub(super) struct WriterState {
    /// The last inbox sequence number handed out.
    pub(super) last_seq: i64,
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Pending>, last_seq: i64) {
    let mut state = WriterState { last_seq };
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
        match transact(&mut conn, &mut state, &jobs).await {
            Ok(answers) => {
                for (p, a) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(Ok(a));
                }
            }
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; committing its jobs one by one");
                for p in batch {
                    let answer = transact(&mut conn, &mut state, &[&p.job]).await;
                    let _ = p.reply.send(answer.and_then(|mut a| {
                        a.pop()
                            .ok_or_else(|| store_error("write", "a job got no answer"))
                    }));
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.reply.send(Err(store_error("write", e.message())));
                }
            }
        }
    }
}

/// Runs `jobs` in one transaction and commits it.
async fn transact(
    conn: &mut SqliteConnection,
    state: &mut WriterState,
    jobs: &[&Job],
) -> Result<Vec<Answer>> {
    let mut tx = conn.begin().await.map_err(db("begin"))?;
    let answers = apply(&mut tx, state, jobs).await?;
    tx.commit().await.map_err(db("commit"))?;
    Ok(answers)
}

/// The jobs, merged by kind, in an order that keeps each caller's view consistent: new rows
/// first, then finishes and updates (so the heads they free can be claimed), renewals (so a
/// renewed lease is not claimed), claims last.
async fn apply(
    conn: &mut SqliteConnection,
    state: &mut WriterState,
    jobs: &[&Job],
) -> Result<Vec<Answer>> {
    let mut answers: Vec<Option<Answer>> = jobs.iter().map(|_| None).collect();
    let inserts: Vec<(usize, &[PreparedEvent])> = pick(jobs, |j| match j {
        Job::Insert(rows) => Some(rows.as_slice()),
        _ => None,
    });
    if !inserts.is_empty() {
        let results = inbox::insert(conn, state, inserts.iter().map(|(_, r)| *r)).await?;
        for ((i, _), r) in inserts.iter().zip(results) {
            answers[*i] = Some(Answer::Inserted(r));
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        if let Job::Enqueue(rows, now) = job {
            answers[i] = Some(Answer::Enqueued(outbox::enqueue(conn, rows, *now).await?));
        }
    }
    let finishes: Vec<(usize, &[PreparedFinish])> = pick(jobs, |j| match j {
        Job::FinishInbox(rows) => Some(rows.as_slice()),
        _ => None,
    });
    if !finishes.is_empty() {
        let all: Vec<&PreparedFinish> = finishes.iter().flat_map(|(_, r)| r.iter()).collect();
        let mut results = inbox::finish(conn, &all).await?.into_iter();
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
        let mut results = update::update(conn, &all).await?.into_iter();
        for (i, rows) in &updates {
            answers[*i] = Some(Answer::Flags(results.by_ref().take(rows.len()).collect()));
        }
    }
    for (i, job) in jobs.iter().enumerate() {
        let answer = match job {
            Job::Receipts(receipts, now) => {
                Answer::Counts(receipts::record(conn, receipts, *now).await?)
            }
            Job::SetState(conversation, value, now) => {
                state::set(conn, conversation, value.as_deref(), *now).await?;
                Answer::Done
            }
            Job::Recover(now) => {
                maintenance::recover(conn, *now).await?;
                Answer::Done
            }
            Job::Prune(step, cutoff) => {
                Answer::Count(maintenance::prune(conn, *step, *cutoff).await?)
            }
            Job::Renew(queue, leases, until) => {
                Answer::Flags(super::heads::renew(conn, *queue, leases, *until).await?)
            }
            Job::Forward(job) => Answer::Forward(forward::apply(conn, job).await?),
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

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a pool connection, beside the writer: SQLite's automatic
/// checkpoint would run inside whichever commit crosses 1000 WAL pages and stall every caller
/// of that group commit behind the database file's fsync. A `PASSIVE` checkpoint never blocks
/// the writer; once it has copied every frame, the writer's next transaction restarts the WAL
/// from its beginning, so the file stays small. Stops when the store is dropped.
pub(super) async fn checkpointer(pool: SqlitePool, alive: std::sync::Weak<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}
