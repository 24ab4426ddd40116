//! The PostgreSQL statements of a writer transaction: each batch is bound as one array per
//! column and read with `UNNEST`; rows are locked in a fixed order (conversations sorted) so
//! two instances' transactions never deadlock on each other's heads.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Row;

use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use switchboard_core::Result;
use switchboard_core::model::MessageId;

use super::bounds::{Fault, bounded};
use super::{heads, inbox, maintenance, media, outbox, pending, receipts, state, update};
use crate::store::contacts::ContactWrites;
use crate::store::sql::forward::ForwardSql;
use crate::store::sql::rows::{Held, bind, held, inbox_item, outbox_item};
use crate::store::sql::{
    FinishPlan, PRUNE_CHUNK, Param, PreparedEvent, PreparedOutbound, PruneStep, SqlRow, Tx,
    UpdatePlan, db, lease_span, limit,
};
use crate::store::{Claim, InboxItem, Lease, OutboxItem, Queue, new_token};

/// The writer's open transaction, the client's bound on each statement, and what its
/// failures said (read by the committer when the transaction fails).
pub(super) struct PgTx<'t> {
    pub(super) conn: &'t mut PgConnection,
    pub(super) limit: Option<Duration>,
    /// A statement found the database unreachable.
    pub(super) unreachable: bool,
    /// A statement met a deadlock or a serialization failure.
    pub(super) retry: bool,
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, PgArguments>;

/// One column of a batch, as the array bound to one parameter.
fn col<'a, T, U>(rows: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

impl<'t> PgTx<'t> {
    /// Statements on `conn`, each bounded by `limit`.
    pub(super) fn new(conn: &'t mut PgConnection, limit: Option<Duration>) -> Self {
        PgTx {
            conn,
            limit,
            unreachable: false,
            retry: false,
        }
    }

    /// Notes what a failed statement says about the database, and converts it.
    fn fault(&mut self, what: &str, fault: Fault) -> switchboard_core::Error {
        self.unreachable |= fault.unreachable();
        self.retry |= fault.retryable();
        fault.error(what)
    }

    /// Runs a statement within the bound; how many rows it changed.
    async fn exec(&mut self, what: &'static str, query: Query<'_>) -> Result<u64> {
        match bounded(self.limit, query.execute(&mut *self.conn)).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(fault) => Err(self.fault(what, fault)),
        }
    }

    async fn run(&mut self, what: &'static str, query: Query<'_>) -> Result<()> {
        self.exec(what, query).await.map(|_| ())
    }

    async fn rows(&mut self, what: &'static str, query: Query<'_>) -> Result<Vec<PgRow>> {
        match bounded(self.limit, query.fetch_all(&mut *self.conn)).await {
            Ok(rows) => Ok(rows),
            Err(fault) => Err(self.fault(what, fault)),
        }
    }

    /// `SELECT count(*)`-style statements: the first column of the one row.
    async fn count(&mut self, what: &'static str, query: Query<'_>) -> Result<u64> {
        let rows = self.rows(what, query).await?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0).map_err(db(what))?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Runs a claim statement (`$1` now, `$2` the lease's end, `$3` the token, `$4` the
    /// limit); the token and the rows.
    async fn claim(&mut self, sql: &'static str, claim: &Claim) -> Result<(i64, Vec<PgRow>)> {
        let (now, until) = lease_span(claim);
        let token = new_token();
        let query = sqlx::query(sql)
            .bind(now)
            .bind(until)
            .bind(token)
            .bind(limit(claim.limit));
        Ok((token, self.rows("claim", query).await?))
    }
}

impl Tx for PgTx<'_> {
    type Row = PgRow;

    const FORWARD: &'static ForwardSql = &super::forward::SQL;

    const LOCK_LOG: Option<&'static str> = Some(super::webchat::LOCK_LOG);

    async fn fetch(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<Vec<PgRow>> {
        self.rows("read", bind::<sqlx::Postgres>(sql, params)).await
    }

    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64> {
        self.exec("write", bind::<sqlx::Postgres>(sql, params))
            .await
    }

    async fn insert_keys(&mut self, events: &[&PreparedEvent]) -> Result<Vec<Option<i64>>> {
        let query = sqlx::query(inbox::INSERT_KEYS)
            .bind(col(events, |r| r.channel.as_str()))
            .bind(col(events, |r| r.event_id.as_str()))
            .bind(col(events, |r| r.received_at));
        let mut new: HashMap<(String, String), i64> = HashMap::new();
        for row in self.rows("insert inbound", query).await? {
            new.insert(
                (row.text("channel")?, row.text("event_id")?),
                row.int("seq")?,
            );
        }
        Ok(events
            .iter()
            .map(|r| new.get(&(r.channel.clone(), r.event_id.clone())).copied())
            .collect())
    }

    async fn insert_events(&mut self, rows: &[(i64, &PreparedEvent)]) -> Result<()> {
        let query = sqlx::query(inbox::INSERT_ROWS)
            .bind(col(rows, |(s, _)| *s))
            .bind(col(rows, |(_, r)| r.conversation.as_str()))
            .bind(col(rows, |(_, r)| r.channel.as_str()))
            .bind(col(rows, |(_, r)| r.event_id.as_str()))
            .bind(col(rows, |(_, r)| r.json.as_str()))
            .bind(col(rows, |(_, r)| r.received_at))
            .bind(col(rows, |(_, r)| {
                r.raw.as_ref().map(|raw| raw.digest.as_str())
            }));
        self.run("insert inbound", query).await
    }

    async fn insert_heads(&mut self, queue: Queue, heads: &[(&str, i64)]) -> Result<()> {
        let sql = match queue {
            Queue::Outbox => outbox::INSERT_HEADS,
            _ => inbox::INSERT_HEADS,
        };
        let query = sqlx::query(sql)
            .bind(col(heads, |h| h.0))
            .bind(col(heads, |h| h.1));
        self.run("insert heads", query).await
    }

    async fn claim_inbox(&mut self, claim: &Claim) -> Result<Vec<InboxItem>> {
        let (token, rows) = self.claim(inbox::CLAIM, claim).await?;
        rows.iter()
            .map(|row| {
                let options: Option<String> = row.text_opt("options")?;
                inbox_item(row, row, token, options.as_deref())
            })
            .collect()
    }

    async fn leases(&mut self, queue: Queue, leases: &[Lease]) -> Result<Held> {
        let sql = match queue {
            Queue::Outbox => update::LEASED,
            _ => inbox::LEASED,
        };
        let query = sqlx::query(sql)
            .bind(col(leases, |l| l.seq))
            .bind(col(leases, |l| l.token));
        held(&self.rows("leases", query).await?)
    }

    async fn taken_keys(&mut self, keys: &[&str]) -> Result<Vec<PgRow>> {
        self.rows("finish inbox", sqlx::query(inbox::TAKEN).bind(keys))
            .await
    }

    async fn finish_rows(&mut self, plan: &FinishPlan<'_>) -> Result<()> {
        if !plan.dead.is_empty() {
            let query = sqlx::query(inbox::BURY)
                .bind(col(&plan.dead, |d| d.0))
                .bind(col(&plan.dead, |d| d.1))
                .bind(col(&plan.dead, |d| d.2));
            self.run("dead-letter inbox", query).await?;
        }
        if !plan.handled.is_empty() {
            // Handled: the row goes, its dedupe key stays.
            let query = sqlx::query(inbox::DELETE).bind(&plan.handled);
            self.run("finish inbox", query).await?;
        }
        if !plan.retry.is_empty() {
            let query = sqlx::query(inbox::RETRY)
                .bind(col(&plan.retry, |r| r.0))
                .bind(col(&plan.retry, |r| r.1))
                .bind(col(&plan.retry, |r| r.2));
            self.run("retry inbox", query).await?;
        }
        Ok(())
    }

    async fn insert_outbox(&mut self, rows: &[&PreparedOutbound], now: i64) -> Result<Vec<PgRow>> {
        let query = sqlx::query(outbox::INSERT_ROWS)
            .bind(col(rows, |o| o.key.as_str()))
            .bind(col(rows, |o| o.channel.as_str()))
            .bind(col(rows, |o| o.conversation.as_str()))
            .bind(col(rows, |o| o.target.as_str()))
            .bind(col(rows, |o| o.message.as_str()))
            .bind(now);
        self.rows("outbox insert", query).await
    }

    async fn held_keys(&mut self, keys: &[&str]) -> Result<Vec<PgRow>> {
        self.rows("enqueue", sqlx::query(outbox::HELD).bind(keys))
            .await
    }

    async fn claim_outbox(&mut self, claim: &Claim) -> Result<Vec<OutboxItem>> {
        let (token, rows) = self.claim(outbox::CLAIM, claim).await?;
        rows.iter()
            .map(|row| outbox_item(row, row, token))
            .collect()
    }

    async fn update_rows(&mut self, plan: &UpdatePlan<'_>, now: i64) -> Result<()> {
        const WHAT: &str = "update outbox";
        if !plan.attempts.is_empty() {
            let query = sqlx::query(update::ATTEMPT)
                .bind(col(&plan.attempts, |a| a.0))
                .bind(col(&plan.attempts, |a| a.1));
            self.run(WHAT, query).await?;
        }
        if !plan.ids.is_empty() {
            let query = sqlx::query(update::MESSAGE_IDS)
                .bind(col(&plan.ids, |a| a.0))
                .bind(col(&plan.ids, |a| a.1.as_str()));
            self.run(WHAT, query).await?;
        }
        if !plan.mapped.is_empty() {
            let query = sqlx::query(update::MAP_IDS)
                .bind(plan.mapped.keys().map(|k| k.0).collect::<Vec<_>>())
                .bind(plan.mapped.keys().map(|k| k.1).collect::<Vec<_>>())
                .bind(plan.mapped.values().copied().collect::<Vec<_>>());
            self.run(WHAT, query).await?;
        }
        if !plan.releases.is_empty() {
            let query = sqlx::query(update::RELEASE)
                .bind(col(&plan.releases, |r| r.conversation))
                .bind(col(&plan.releases, |r| r.why))
                .bind(col(&plan.releases, |r| r.at))
                .bind(col(&plan.releases, |r| i64::from(r.uncounted)))
                .bind(col(&plan.releases, |r| r.uncertain));
            self.run(WHAT, query).await?;
        }
        if !plan.settled.is_empty() {
            let query = sqlx::query(update::SETTLE)
                .bind(col(&plan.settled, |s| s.seq))
                .bind(col(&plan.settled, |s| s.conversation))
                .bind(col(&plan.settled, |s| s.state))
                .bind(col(&plan.settled, |s| s.ids.as_deref()))
                .bind(col(&plan.settled, |s| s.error))
                .bind(now);
            self.run(WHAT, query).await?;
        }
        Ok(())
    }

    async fn write_state(
        &mut self,
        upserts: &[(&str, &str)],
        deletes: &[&str],
        now: i64,
    ) -> Result<()> {
        if !upserts.is_empty() {
            let query = sqlx::query(state::UPSERT_STATE)
                .bind(col(upserts, |u| u.0))
                .bind(col(upserts, |u| u.1))
                .bind(now);
            self.run("state", query).await?;
        }
        if !deletes.is_empty() {
            let query = sqlx::query(state::DELETE_STATE).bind(deletes);
            self.run("state", query).await?;
        }
        Ok(())
    }

    async fn write_options(&mut self, set: &[(&str, &str, i64)], clear: &[&str]) -> Result<()> {
        if !set.is_empty() {
            let query = sqlx::query(state::UPSERT_OPTIONS)
                .bind(col(set, |s| s.0))
                .bind(col(set, |s| s.1))
                .bind(col(set, |s| s.2));
            self.run("options", query).await?;
        }
        if !clear.is_empty() {
            let query = sqlx::query(state::DELETE_OPTIONS).bind(clear);
            self.run("options", query).await?;
        }
        Ok(())
    }

    /// The heads are locked already (by the finish's or the update's lease check).
    async fn advance(&mut self, queue: Queue, conversations: &[&str]) -> Result<()> {
        if conversations.is_empty() {
            return Ok(());
        }
        let (advance, drop) = match queue {
            Queue::Outbox => (heads::ADVANCE_OUTBOX, heads::DROP_OUTBOX),
            _ => (heads::ADVANCE_INBOX, heads::DROP_INBOX),
        };
        for sql in [advance, drop] {
            let query = sqlx::query(sql).bind(conversations);
            self.run("advance heads", query).await?;
        }
        Ok(())
    }

    async fn renew(&mut self, queue: Queue, leases: &[Lease], until: i64) -> Result<Vec<PgRow>> {
        let sql = match queue {
            Queue::Outbox => heads::RENEW_OUTBOX,
            _ => heads::RENEW_INBOX,
        };
        let query = sqlx::query(sql)
            .bind(col(leases, |l| l.seq))
            .bind(col(leases, |l| l.token))
            .bind(until);
        self.rows("renew leases", query).await
    }

    async fn delivered(&mut self, channel: &str, messages: &[MessageId]) -> Result<Vec<PgRow>> {
        let query = sqlx::query(receipts::DELIVERED)
            .bind(channel)
            .bind(col(messages, |m| m.as_str()));
        self.rows("delivery", query).await
    }

    async fn set_delivery(&mut self, status: &str, seqs: &[i64]) -> Result<()> {
        let query = sqlx::query(receipts::SET_DELIVERY).bind(status).bind(seqs);
        self.run("delivery", query).await
    }

    /// Shared by live instances: no lease is known to be dead. A crashed instance's rows come
    /// back when their leases run out (claims take expired leases).
    async fn recover(&mut self, _now: i64) -> Result<()> {
        Ok(())
    }

    async fn prune(&mut self, step: PruneStep, cutoff: i64) -> Result<u64> {
        let query = sqlx::query(maintenance::statement(step))
            .bind(cutoff)
            .bind(PRUNE_CHUNK);
        if step == PruneStep::Sent {
            self.count("prune", query).await
        } else {
            self.exec("prune", query).await
        }
    }

    async fn lock_receipts(&mut self, channel: &str, messages: &[MessageId]) -> Result<()> {
        let query = sqlx::query(pending::LOCK_EXCLUSIVE)
            .bind(channel)
            .bind(col(messages, MessageId::as_str))
            .bind(pending::LOCK_CLASS);
        self.run("lock early receipts", query).await
    }

    async fn keep_receipts(
        &mut self,
        channel: &str,
        messages: &[MessageId],
        status: &str,
        now: i64,
    ) -> Result<()> {
        let query = sqlx::query(pending::KEEP)
            .bind(channel)
            .bind(col(messages, MessageId::as_str))
            .bind(status)
            .bind(now);
        self.run("keep early receipts", query).await
    }

    async fn take_receipts(
        &mut self,
        mapped: &std::collections::BTreeMap<(&str, &str), i64>,
    ) -> Result<Vec<PgRow>> {
        let channels: Vec<&str> = mapped.keys().map(|k| k.0).collect();
        let ids: Vec<&str> = mapped.keys().map(|k| k.1).collect();
        let seqs: Vec<i64> = mapped.values().copied().collect();
        let lock = sqlx::query(pending::LOCK_SHARED)
            .bind(&channels)
            .bind(&ids)
            .bind(pending::LOCK_CLASS);
        self.run("lock early receipts", lock).await?;
        let query = sqlx::query(pending::TAKE)
            .bind(channels)
            .bind(ids)
            .bind(seqs);
        self.rows("early receipts", query).await
    }

    async fn insert_media(&mut self, seq: i64, files: &[(i64, bytes::Bytes)]) -> Result<()> {
        for (idx, bytes) in files {
            let query = sqlx::query(media::INSERT)
                .bind(seq)
                .bind(idx)
                .bind(bytes.as_ref());
            self.run("outbox media", query).await?;
        }
        Ok(())
    }

    async fn media(&mut self, seqs: &[i64]) -> Result<Vec<(i64, i64, bytes::Bytes)>> {
        let rows = self
            .rows("outbox media", sqlx::query(media::SELECT).bind(seqs))
            .await?;
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                let bytes: Vec<u8> = r.try_get(2).map_err(db("outbox media"))?;
                Ok((
                    r.try_get(0).map_err(db("outbox media"))?,
                    r.try_get(1).map_err(db("outbox media"))?,
                    bytes::Bytes::from(bytes),
                ))
            })
            .collect()
    }

    async fn drop_media(&mut self, seqs: &[i64]) -> Result<()> {
        self.run("outbox media", sqlx::query(media::DROP).bind(seqs))
            .await
    }

    async fn insert_raw(&mut self, raws: &[(&str, &str)], now: i64) -> Result<()> {
        let query = sqlx::query(inbox::INSERT_RAW)
            .bind(col(raws, |r| r.0))
            .bind(col(raws, |r| r.1))
            .bind(now);
        self.run("insert inbound", query).await
    }

    async fn upsert_contacts(&mut self, writes: &ContactWrites<'_>) -> Result<()> {
        super::contacts::upsert(self.conn, writes).await
    }
}
