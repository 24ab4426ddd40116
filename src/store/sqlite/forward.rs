//! The gateway's forwarding queues in SQLite (schema version 8): one table of rows whose first
//! pending row per (endpoint, conversation) is flagged as the head, a partial index of heads by
//! `ready_at` for claims, and a table of disabled endpoints.
//!
//! Each call is one `BEGIN IMMEDIATE` transaction on a pool connection, beside the writer (the
//! forwarding queue is not on the webhook's hot path, so it does not join the group commits):
//! SQLite serializes it with the writer's commits through its write lock (`busy_timeout`).
//! Synchronous replies are inserted with the outbox's shared logic ([`ops::enqueue`]) in the
//! same transaction.

use std::time::SystemTime;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;

use super::SqliteStore;
use super::tx::SqliteTx;
use crate::store::sql::{PreparedOutbound, db, lease_span, ops};
use crate::store::{
    Claim, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome, Lease,
    NewForward, millis, new_token,
};

/// `ready_at` of a disabled endpoint's heads: never reached by a claim.
const NEVER: i64 = i64::MAX;

/// A finish, its replies serialized.
enum Prepared {
    Delivered(Vec<PreparedOutbound>),
    Retry { at: i64, error: String },
    Disable { reason: String },
    Dead { error: String },
}

/// A write of the forwarding queues, run by the writer.
enum Job {
    Enqueue(Vec<NewForward>, i64),
    Claim(Claim),
    Finish(Vec<(Lease, Prepared)>, i64),
    SetDisabled(String, Option<String>, i64),
    Replay(String, i64),
    Prune(i64),
}

/// What a [`Job`] answers.
enum Answer {
    Flags(Vec<bool>),
    Items(Vec<ForwardItem>),
    Finished(Vec<Result<bool>>),
    Count(u64),
}

/// The most delivered rows one prune job deletes.
const PRUNE_CHUNK: u64 = 1000;

/// `ready_at` for a head of `endpoint` that becomes ready at `at` (never, while disabled).
const READY: &str = "CASE WHEN EXISTS (SELECT 1 FROM forward_endpoints \
     WHERE name = ?1 AND disabled IS NOT NULL) THEN 9223372036854775807 ELSE ?2 END";

async fn apply(conn: &mut SqliteConnection, job: &Job) -> Result<Answer> {
    Ok(match job {
        Job::Enqueue(rows, now) => {
            let mut new = Vec::with_capacity(rows.len());
            for r in rows {
                new.push(insert(conn, &r.endpoint, &r.id, &r.conversation, &r.body, *now).await?);
            }
            Answer::Flags(new)
        }
        Job::Claim(claim) => Answer::Items(claim_heads(conn, claim).await?),
        Job::Finish(finishes, now) => {
            let mut answers = Vec::with_capacity(finishes.len());
            for (lease, outcome) in finishes {
                answers.push(finish(conn, *lease, outcome, *now).await?);
            }
            Answer::Finished(answers)
        }
        Job::SetDisabled(endpoint, reason, now) => {
            set_disabled(conn, endpoint, reason.as_deref(), *now).await?;
            Answer::Count(0)
        }
        Job::Replay(endpoint, now) => Answer::Count(replay(conn, endpoint, *now).await?),
        Job::Prune(before) => {
            let n = sqlx::query(
                "DELETE FROM forwards WHERE seq IN (SELECT seq FROM forwards \
                 WHERE state = 1 AND done_at < ? LIMIT ?)",
            )
            .bind(before)
            .bind(PRUNE_CHUNK as i64)
            .execute(&mut *conn)
            .await
            .map_err(db("prune forwards"))?
            .rows_affected();
            Answer::Count(n)
        }
    })
}

/// Appends a row (its queue's head when the queue had no pending row); `false` when
/// (endpoint, id) is known.
async fn insert(
    conn: &mut SqliteConnection,
    endpoint: &str,
    id: &str,
    conversation: &str,
    body: &str,
    now: i64,
) -> Result<bool> {
    let sql = format!(
        "INSERT INTO forwards (endpoint, event_id, conversation, body, head, ready_at) \
         VALUES (?1, ?3, ?4, ?5, NOT EXISTS (SELECT 1 FROM forwards \
         WHERE endpoint = ?1 AND conversation = ?4 AND state = 0), {READY}) \
         ON CONFLICT (endpoint, event_id) DO NOTHING"
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(endpoint)
        .bind(now)
        .bind(id)
        .bind(conversation)
        .bind(body)
        .execute(&mut *conn)
        .await
        .map_err(db("enqueue forwards"))?
        .rows_affected();
    Ok(n == 1)
}

async fn claim_heads(conn: &mut SqliteConnection, claim: &Claim) -> Result<Vec<ForwardItem>> {
    let (now, until) = lease_span(claim);
    let seqs: Vec<i64> = sqlx::query(
        "SELECT seq FROM forwards WHERE head = 1 AND ready_at <= ? ORDER BY ready_at, seq LIMIT ?",
    )
    .bind(now)
    .bind(i64::try_from(claim.limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("claim forwards"))?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<std::result::Result<_, _>>()
    .map_err(db("claim forwards"))?;
    let mut items = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let token = new_token();
        let row = sqlx::query(
            "UPDATE forwards SET token = ?, attempts = attempts + 1, ready_at = ?, lease_until = ? \
             WHERE seq = ? RETURNING endpoint, event_id, conversation, body, attempts",
        )
        .bind(token)
        .bind(until)
        .bind(until)
        .bind(seq)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("claim forwards"))?;
        let attempts: i64 = row.try_get(4).map_err(db("claim forwards"))?;
        items.push(ForwardItem {
            lease: Lease::new(seq, token),
            endpoint: row.try_get(0).map_err(db("claim forwards"))?,
            id: row.try_get(1).map_err(db("claim forwards"))?,
            conversation: row.try_get(2).map_err(db("claim forwards"))?,
            body: row.try_get(3).map_err(db("claim forwards"))?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        });
    }
    Ok(items)
}

/// Makes the first pending row of (endpoint, conversation) its head, ready at `now`.
async fn promote(
    conn: &mut SqliteConnection,
    endpoint: &str,
    conversation: &str,
    now: i64,
) -> Result<()> {
    let sql = format!(
        "UPDATE forwards SET head = 1, ready_at = {READY} WHERE seq = (SELECT MIN(seq) \
         FROM forwards WHERE endpoint = ?1 AND conversation = ?3 AND state = 0)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(endpoint)
        .bind(now)
        .bind(conversation)
        .execute(&mut *conn)
        .await
        .map_err(db("finish forwards"))?;
    Ok(())
}

async fn finish(
    conn: &mut SqliteConnection,
    lease: Lease,
    outcome: &Prepared,
    now: i64,
) -> Result<Result<bool>> {
    let held = sqlx::query(
        "SELECT endpoint, conversation FROM forwards \
         WHERE seq = ? AND state = 0 AND token = ? AND token != 0",
    )
    .bind(lease.seq)
    .bind(lease.token)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("finish forwards"))?;
    let Some(held) = held else {
        return Ok(Ok(false));
    };
    let endpoint: String = held.try_get(0).map_err(db("finish forwards"))?;
    let conversation: String = held.try_get(1).map_err(db("finish forwards"))?;
    let end = |state: i64, error: Option<&str>| {
        sqlx::query(
            "UPDATE forwards SET state = ?, head = 0, token = 0, error = ?, \
             body = CASE WHEN ? = 1 THEN '' ELSE body END, done_at = ? WHERE seq = ?",
        )
        .bind(state)
        .bind(error.map(str::to_owned))
        .bind(state)
        .bind(now)
        .bind(lease.seq)
    };
    match outcome {
        Prepared::Delivered(replies) => {
            if !replies.is_empty()
                && let Err(e) = ops::enqueue(
                    &mut SqliteTx {
                        conn: &mut *conn,
                        last_seq: &mut 0,
                    },
                    replies,
                    now,
                )
                .await?
            {
                return Ok(Err(e));
            }
            end(1, None)
                .execute(&mut *conn)
                .await
                .map_err(db("finish forwards"))?;
            promote(conn, &endpoint, &conversation, now).await?;
        }
        Prepared::Dead { error } => {
            end(2, Some(error))
                .execute(&mut *conn)
                .await
                .map_err(db("finish forwards"))?;
            promote(conn, &endpoint, &conversation, now).await?;
        }
        Prepared::Retry { at, error } => {
            let sql = format!(
                "UPDATE forwards SET ready_at = {READY}, token = 0, error = ?3 WHERE seq = ?4"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&endpoint)
                .bind(*at)
                .bind(error)
                .bind(lease.seq)
                .execute(&mut *conn)
                .await
                .map_err(db("finish forwards"))?;
        }
        Prepared::Disable { reason } => {
            sqlx::query(
                "UPDATE forwards SET token = 0, attempts = MAX(attempts - 1, 0), error = ? WHERE seq = ?",
            )
            .bind(reason)
            .bind(lease.seq)
            .execute(&mut *conn)
            .await
            .map_err(db("finish forwards"))?;
            set_disabled(conn, &endpoint, Some(reason), now).await?;
        }
    }
    Ok(Ok(true))
}

async fn set_disabled(
    conn: &mut SqliteConnection,
    endpoint: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO forward_endpoints (name, disabled, changed_at) VALUES (?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET disabled = excluded.disabled, changed_at = excluded.changed_at",
    )
    .bind(endpoint)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db("disable endpoint"))?;
    // Disabled: its heads are never ready. Enabled: ready now, a head in flight keeping its lease.
    let ready = if reason.is_some() {
        "?2"
    } else {
        "CASE WHEN token != 0 AND lease_until > ?2 THEN lease_until ELSE ?2 END"
    };
    let sql = format!(
        "UPDATE forwards SET ready_at = {ready} WHERE endpoint = ?1 AND state = 0 AND head = 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(endpoint)
        .bind(if reason.is_some() { NEVER } else { now })
        .execute(&mut *conn)
        .await
        .map_err(db("disable endpoint"))?;
    Ok(())
}

async fn replay(conn: &mut SqliteConnection, endpoint: &str, now: i64) -> Result<u64> {
    let dead = sqlx::query(
        "DELETE FROM forwards WHERE endpoint = ? AND state = 2 \
         RETURNING seq, event_id, conversation, body",
    )
    .bind(endpoint)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("replay forwards"))?;
    let mut rows = dead
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>(0)?,
                r.try_get::<String, _>(1)?,
                r.try_get::<String, _>(2)?,
                r.try_get::<String, _>(3)?,
            ))
        })
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
        .map_err(db("replay forwards"))?;
    rows.sort_by_key(|r| r.0);
    for (_, id, conversation, body) in &rows {
        insert(conn, endpoint, id, conversation, body, now).await?;
    }
    Ok(rows.len() as u64)
}

async fn endpoints(pool: &SqlitePool) -> Result<Vec<ForwardEndpoint>> {
    let mut all: std::collections::BTreeMap<String, ForwardEndpoint> = Default::default();
    for r in sqlx::query(
        "SELECT endpoint, SUM(state = 0), SUM(state = 2) FROM forwards WHERE state != 1 GROUP BY endpoint",
    )
    .fetch_all(pool)
    .await
    .map_err(db("forward endpoints"))?
    {
        let name: String = r.try_get(0).map_err(db("forward endpoints"))?;
        let mut e = ForwardEndpoint::new(name.clone());
        e.pending = count(&r, 1)?;
        e.dead = count(&r, 2)?;
        all.insert(name, e);
    }
    for r in sqlx::query("SELECT name, disabled FROM forward_endpoints WHERE disabled IS NOT NULL")
        .fetch_all(pool)
        .await
        .map_err(db("forward endpoints"))?
    {
        let name: String = r.try_get(0).map_err(db("forward endpoints"))?;
        all.entry(name.clone())
            .or_insert_with(|| ForwardEndpoint::new(name))
            .disabled = r.try_get(1).map_err(db("forward endpoints"))?;
    }
    Ok(all.into_values().collect())
}

async fn dead(pool: &SqlitePool, endpoint: Option<&str>, limit: usize) -> Result<Vec<ForwardDead>> {
    sqlx::query(
        "SELECT endpoint, event_id, conversation, COALESCE(error, ''), attempts FROM forwards \
         WHERE state = 2 AND (?1 IS NULL OR endpoint = ?1) ORDER BY seq LIMIT ?2",
    )
    .bind(endpoint)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(db("forward dead letters"))?
    .iter()
    .map(|r| {
        Ok(ForwardDead::new(
            r.try_get::<String, _>(0)
                .map_err(db("forward dead letters"))?,
            r.try_get::<String, _>(1)
                .map_err(db("forward dead letters"))?,
            r.try_get::<String, _>(2)
                .map_err(db("forward dead letters"))?,
            r.try_get::<String, _>(3)
                .map_err(db("forward dead letters"))?,
            crate::store::sql::rows::attempts(r, "attempts")?,
        ))
    })
    .collect()
}

fn count(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<u64> {
    let n: i64 = row.try_get(i).map_err(db("forward endpoints"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn unexpected() -> switchboard_core::Error {
    crate::store::store_error("forward", "an answer of another kind")
}

/// The forwarding queue of [`SqliteStore`] (the `Store` methods call these).
impl SqliteStore {
    fn pool(&self) -> &SqlitePool {
        &self.core.dialect().pool
    }

    /// Runs `job` in one `BEGIN IMMEDIATE` transaction on a pool connection.
    async fn forward_job(&self, job: Job) -> Result<Answer> {
        let mut conn = self.pool().acquire().await.map_err(db("forward"))?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(db("forward: begin"))?;
        match apply(&mut conn, &job).await {
            Ok(answer) => {
                if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    return Err(db("forward: commit")(e));
                }
                Ok(answer)
            }
            Err(e) => {
                if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                    // Never hand back a connection that may still be in a transaction.
                    drop(conn.detach());
                }
                Err(e)
            }
        }
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
            .forward_job(Job::Enqueue(rows.to_vec(), millis(now)))
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
        match self.forward_job(Job::Claim(claim)).await? {
            Answer::Items(items) => Ok(items),
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
            .map(|f| {
                let outcome = match f.outcome {
                    ForwardOutcome::Delivered { replies } => Prepared::Delivered(
                        replies
                            .iter()
                            .map(PreparedOutbound::new)
                            .collect::<Result<_>>()?,
                    ),
                    ForwardOutcome::Retry { at, error } => Prepared::Retry {
                        at: millis(at),
                        error,
                    },
                    ForwardOutcome::Disable { reason } => Prepared::Disable { reason },
                    ForwardOutcome::DeadLetter { error } => Prepared::Dead { error },
                };
                Ok((f.lease, outcome))
            })
            .collect::<Result<Vec<_>>>()?;
        match self.forward_job(Job::Finish(prepared, millis(now))).await? {
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
        let job = Job::SetDisabled(endpoint.to_owned(), reason.map(str::to_owned), millis(now));
        self.forward_job(job).await.map(|_| ())
    }

    pub(crate) async fn forward_endpoints(&self) -> Result<Vec<ForwardEndpoint>> {
        endpoints(self.pool()).await
    }

    pub(crate) async fn forward_dead(
        &self,
        endpoint: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ForwardDead>> {
        dead(self.pool(), endpoint, limit).await
    }

    pub(crate) async fn forward_replay(&self, endpoint: &str, now: SystemTime) -> Result<u64> {
        match self
            .forward_job(Job::Replay(endpoint.to_owned(), millis(now)))
            .await?
        {
            Answer::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn forward_prune(&self, before: SystemTime) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = match self.forward_job(Job::Prune(millis(before))).await? {
                Answer::Count(n) => n,
                _ => return Err(unexpected()),
            };
            total += n;
            if n < PRUNE_CHUNK {
                return Ok(total);
            }
        }
    }
}
