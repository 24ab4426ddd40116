//! The gateway's forwarding queues in PostgreSQL (schema version 8). Each call is its own
//! transaction on the pool (forwarding is not on the webhook's hot path, so it does not join
//! the writer's group commits). Writes to one (endpoint, conversation) queue serialize on a
//! transaction-scoped advisory lock, taken in a sorted order, so an insert and the finish of
//! the queue's head never both miss each other's row; claims lock ready heads with
//! `FOR UPDATE SKIP LOCKED`, so instances claiming together never hand out one head twice.

use std::collections::BTreeSet;

use std::time::SystemTime;

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};
use switchboard_core::Result;

use super::PgStore;
use super::tx::PgTx;
use crate::store::sql::{PreparedOutbound, db, lease_span, limit, ops};
use crate::store::{
    Claim, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome, Lease,
    NewForward, millis, new_token,
};

/// `ready_at` of a disabled endpoint's heads: never reached by a claim.
const NEVER: i64 = i64::MAX;

/// The most delivered rows one prune statement deletes.
const PRUNE_CHUNK: i64 = 1000;

/// `ready_at` for a head of endpoint `$1` ready at `$2` (never, while disabled).
const READY: &str = "CASE WHEN EXISTS (SELECT 1 FROM forward_endpoints \
     WHERE name = $1 AND disabled IS NOT NULL) THEN 9223372036854775807 ELSE $2 END";

/// A finish, its replies serialized.
enum Prepared {
    Delivered(Vec<PreparedOutbound>),
    Retry { at: i64, error: String },
    Disable { reason: String },
    Dead { error: String },
}

/// Locks the queues of `keys` for the transaction, in a fixed order.
async fn lock_queues(conn: &mut PgConnection, keys: BTreeSet<(&str, &str)>) -> Result<()> {
    for (endpoint, conversation) in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2, 8))")
            .bind(endpoint)
            .bind(conversation)
            .execute(&mut *conn)
            .await
            .map_err(db("lock forward queue"))?;
    }
    Ok(())
}

async fn insert(conn: &mut PgConnection, r: &NewForward, now: i64) -> Result<bool> {
    let sql = format!(
        "INSERT INTO forwards (endpoint, event_id, conversation, body, head, ready_at) \
         VALUES ($1, $3, $4, $5, NOT EXISTS (SELECT 1 FROM forwards \
         WHERE endpoint = $1 AND conversation = $4 AND state = 0), {READY}) \
         ON CONFLICT (endpoint, event_id) DO NOTHING"
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&r.endpoint)
        .bind(now)
        .bind(&r.id)
        .bind(&r.conversation)
        .bind(&r.body)
        .execute(&mut *conn)
        .await
        .map_err(db("enqueue forwards"))?
        .rows_affected();
    Ok(n == 1)
}

async fn enqueue(pool: &PgPool, rows: &[NewForward], now: i64) -> Result<Vec<bool>> {
    let mut tx = pool.begin().await.map_err(db("enqueue forwards"))?;
    lock_queues(
        &mut tx,
        rows.iter()
            .map(|r| (r.endpoint.as_str(), r.conversation.as_str()))
            .collect(),
    )
    .await?;
    let mut new = Vec::with_capacity(rows.len());
    for r in rows {
        new.push(insert(&mut tx, r, now).await?);
    }
    tx.commit().await.map_err(db("enqueue forwards"))?;
    Ok(new)
}

async fn claim(pool: &PgPool, claim: &Claim) -> Result<Vec<ForwardItem>> {
    let (now, until) = lease_span(claim);
    let mut tx = pool.begin().await.map_err(db("claim forwards"))?;
    let seqs: Vec<i64> = sqlx::query(
        "SELECT seq FROM forwards WHERE head AND ready_at <= $1 \
         ORDER BY ready_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit(claim.limit))
    .fetch_all(&mut *tx)
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
            "UPDATE forwards SET token = $1, attempts = attempts + 1, ready_at = $2, \
             lease_until = $2 WHERE seq = $3 \
             RETURNING endpoint, event_id, conversation, body, attempts",
        )
        .bind(token)
        .bind(until)
        .bind(seq)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("claim forwards"))?;
        items.push(ForwardItem {
            lease: Lease::new(seq, token),
            endpoint: row.try_get(0).map_err(db("claim forwards"))?,
            id: row.try_get(1).map_err(db("claim forwards"))?,
            conversation: row.try_get(2).map_err(db("claim forwards"))?,
            body: row.try_get(3).map_err(db("claim forwards"))?,
            attempts: crate::store::sql::rows::attempts(&row, "attempts")?,
        });
    }
    tx.commit().await.map_err(db("claim forwards"))?;
    Ok(items)
}

async fn promote(
    conn: &mut PgConnection,
    endpoint: &str,
    conversation: &str,
    now: i64,
) -> Result<()> {
    let sql = format!(
        "UPDATE forwards SET head = TRUE, ready_at = {READY} WHERE seq = (SELECT MIN(seq) \
         FROM forwards WHERE endpoint = $1 AND conversation = $3 AND state = 0)"
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

/// Finishes one row in its own transaction.
async fn finish(pool: &PgPool, lease: Lease, outcome: &Prepared, now: i64) -> Result<Result<bool>> {
    let mut tx = pool.begin().await.map_err(db("finish forwards"))?;
    let held = sqlx::query(
        "SELECT endpoint, conversation FROM forwards \
         WHERE seq = $1 AND state = 0 AND token = $2 AND token != 0 FOR UPDATE",
    )
    .bind(lease.seq)
    .bind(lease.token)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db("finish forwards"))?;
    let Some(held) = held else {
        tx.rollback().await.map_err(db("finish forwards"))?;
        return Ok(Ok(false));
    };
    let endpoint: String = held.try_get(0).map_err(db("finish forwards"))?;
    let conversation: String = held.try_get(1).map_err(db("finish forwards"))?;
    let end = |state: i16, error: Option<String>| {
        sqlx::query(
            "UPDATE forwards SET state = $1, head = FALSE, token = 0, error = $2, \
             body = CASE WHEN $1 = 1 THEN '' ELSE body END, done_at = $3 WHERE seq = $4",
        )
        .bind(state)
        .bind(error)
        .bind(now)
        .bind(lease.seq)
    };
    match outcome {
        Prepared::Delivered(replies) => {
            if !replies.is_empty()
                && let Err(e) = ops::enqueue(&mut PgTx::new(&mut tx, None), replies, now).await?
            {
                tx.rollback().await.map_err(db("finish forwards"))?;
                return Ok(Err(e));
            }
            lock_queues(&mut tx, [(endpoint.as_str(), conversation.as_str())].into()).await?;
            end(1, None)
                .execute(&mut *tx)
                .await
                .map_err(db("finish forwards"))?;
            promote(&mut tx, &endpoint, &conversation, now).await?;
        }
        Prepared::Dead { error } => {
            lock_queues(&mut tx, [(endpoint.as_str(), conversation.as_str())].into()).await?;
            end(2, Some(error.clone()))
                .execute(&mut *tx)
                .await
                .map_err(db("finish forwards"))?;
            promote(&mut tx, &endpoint, &conversation, now).await?;
        }
        Prepared::Retry { at, error } => {
            let sql = format!(
                "UPDATE forwards SET ready_at = {READY}, token = 0, error = $3 WHERE seq = $4"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&endpoint)
                .bind(*at)
                .bind(error)
                .bind(lease.seq)
                .execute(&mut *tx)
                .await
                .map_err(db("finish forwards"))?;
        }
        Prepared::Disable { reason } => {
            sqlx::query(
                "UPDATE forwards SET token = 0, attempts = GREATEST(attempts - 1, 0), error = $1 \
                 WHERE seq = $2",
            )
            .bind(reason)
            .bind(lease.seq)
            .execute(&mut *tx)
            .await
            .map_err(db("finish forwards"))?;
            set_disabled_in(&mut tx, &endpoint, Some(reason), now).await?;
        }
    }
    tx.commit().await.map_err(db("finish forwards"))?;
    Ok(Ok(true))
}

async fn set_disabled_in(
    conn: &mut PgConnection,
    endpoint: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO forward_endpoints (name, disabled, changed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET disabled = excluded.disabled, changed_at = excluded.changed_at",
    )
    .bind(endpoint)
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db("disable endpoint"))?;
    let ready = if reason.is_some() {
        "$2"
    } else {
        "CASE WHEN token != 0 AND lease_until > $2 THEN lease_until ELSE $2 END"
    };
    let sql = format!(
        "UPDATE forwards SET ready_at = {ready} WHERE endpoint = $1 AND state = 0 AND head"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(endpoint)
        .bind(if reason.is_some() { NEVER } else { now })
        .execute(&mut *conn)
        .await
        .map_err(db("disable endpoint"))?;
    Ok(())
}

async fn set_disabled(pool: &PgPool, endpoint: &str, reason: Option<&str>, now: i64) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db("disable endpoint"))?;
    set_disabled_in(&mut tx, endpoint, reason, now).await?;
    tx.commit().await.map_err(db("disable endpoint"))
}

async fn replay(pool: &PgPool, endpoint: &str, now: i64) -> Result<u64> {
    let mut tx = pool.begin().await.map_err(db("replay forwards"))?;
    let dead = sqlx::query(
        "SELECT seq, event_id, conversation, body FROM forwards \
         WHERE endpoint = $1 AND state = 2 ORDER BY seq FOR UPDATE",
    )
    .bind(endpoint)
    .fetch_all(&mut *tx)
    .await
    .map_err(db("replay forwards"))?;
    let mut rows = Vec::with_capacity(dead.len());
    for r in &dead {
        let seq: i64 = r.try_get(0).map_err(db("replay forwards"))?;
        let id: String = r.try_get(1).map_err(db("replay forwards"))?;
        let conversation: String = r.try_get(2).map_err(db("replay forwards"))?;
        let body: String = r.try_get(3).map_err(db("replay forwards"))?;
        rows.push((seq, NewForward::new(endpoint, id, conversation, body)));
    }
    lock_queues(
        &mut tx,
        rows.iter()
            .map(|(_, r)| (r.endpoint.as_str(), r.conversation.as_str()))
            .collect(),
    )
    .await?;
    for (seq, row) in &rows {
        sqlx::query("DELETE FROM forwards WHERE seq = $1")
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db("replay forwards"))?;
        insert(&mut tx, row, now).await?;
    }
    tx.commit().await.map_err(db("replay forwards"))?;
    Ok(rows.len() as u64)
}

async fn prune(pool: &PgPool, before: i64) -> Result<u64> {
    let mut total = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM forwards WHERE seq IN (SELECT seq FROM forwards \
             WHERE state = 1 AND done_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(PRUNE_CHUNK)
        .execute(pool)
        .await
        .map_err(db("prune forwards"))?
        .rows_affected();
        total += n;
        if n < PRUNE_CHUNK as u64 {
            return Ok(total);
        }
    }
}

async fn endpoints(pool: &PgPool) -> Result<Vec<ForwardEndpoint>> {
    let mut all: std::collections::BTreeMap<String, ForwardEndpoint> = Default::default();
    for r in sqlx::query(
        "SELECT endpoint, COUNT(*) FILTER (WHERE state = 0), COUNT(*) FILTER (WHERE state = 2) \
         FROM forwards WHERE state != 1 GROUP BY endpoint",
    )
    .fetch_all(pool)
    .await
    .map_err(db("forward endpoints"))?
    {
        let name: String = r.try_get(0).map_err(db("forward endpoints"))?;
        let pending: i64 = r.try_get(1).map_err(db("forward endpoints"))?;
        let dead: i64 = r.try_get(2).map_err(db("forward endpoints"))?;
        let mut e = ForwardEndpoint::new(name.clone());
        e.pending = u64::try_from(pending).unwrap_or(0);
        e.dead = u64::try_from(dead).unwrap_or(0);
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

async fn dead(pool: &PgPool, endpoint: Option<&str>, n: usize) -> Result<Vec<ForwardDead>> {
    sqlx::query(
        "SELECT endpoint, event_id, conversation, COALESCE(error, '') AS error, attempts \
         FROM forwards WHERE state = 2 AND ($1::TEXT IS NULL OR endpoint = $1) \
         ORDER BY seq LIMIT $2",
    )
    .bind(endpoint)
    .bind(limit(n))
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

/// The forwarding queue of [`PgStore`] (the `Store` methods call these).
impl PgStore {
    fn pool(&self) -> &PgPool {
        &self.core.dialect().pool
    }

    pub(crate) async fn forward_enqueue(
        &self,
        rows: &[NewForward],
        now: SystemTime,
    ) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        enqueue(self.pool(), rows, millis(now)).await
    }

    pub(crate) async fn forward_claim(&self, c: Claim) -> Result<Vec<ForwardItem>> {
        if c.limit == 0 {
            return Ok(Vec::new());
        }
        claim(self.pool(), &c).await
    }

    pub(crate) async fn forward_finish(
        &self,
        finishes: Vec<ForwardFinish>,
        now: SystemTime,
    ) -> Result<Vec<Result<bool>>> {
        let mut answers = Vec::with_capacity(finishes.len());
        for f in finishes {
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
            answers.push(finish(self.pool(), f.lease, &outcome, millis(now)).await?);
        }
        Ok(answers)
    }

    pub(crate) async fn forward_set_disabled(
        &self,
        endpoint: &str,
        reason: Option<&str>,
        now: SystemTime,
    ) -> Result<()> {
        set_disabled(self.pool(), endpoint, reason, millis(now)).await
    }

    pub(crate) async fn forward_endpoints(&self) -> Result<Vec<ForwardEndpoint>> {
        endpoints(self.pool()).await
    }

    pub(crate) async fn forward_dead(
        &self,
        endpoint: Option<&str>,
        n: usize,
    ) -> Result<Vec<ForwardDead>> {
        dead(self.pool(), endpoint, n).await
    }

    pub(crate) async fn forward_replay(&self, endpoint: &str, now: SystemTime) -> Result<u64> {
        replay(self.pool(), endpoint, millis(now)).await
    }

    pub(crate) async fn forward_prune(&self, before: SystemTime) -> Result<u64> {
        prune(self.pool(), millis(before)).await
    }
}
