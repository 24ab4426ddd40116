//! The SQLite statements of a writer transaction: each batch is bound as one JSON array
//! parameter and read with `json_each`, so a batch is one statement whatever its size.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqliteRow};
use switchboard_core::Result;
use switchboard_core::model::MessageId;

use super::{heads, inbox, maintenance, media, outbox, pending, receipts, state, update};
use crate::store::contacts::ContactWrites;
use crate::store::sql::forward::ForwardSql;
use crate::store::sql::rows::{Held, bind, inbox_item, outbox_item};
use crate::store::sql::{
    FinishPlan, PRUNE_CHUNK, Param, PreparedEvent, PreparedOutbound, PruneStep, Tx, UpdatePlan, db,
    lease_span, limit,
};
use crate::store::{Claim, InboxItem, Lease, OutboxItem, Queue, from_json, new_token, to_json};

/// The writer's open transaction, and the last inbox sequence number it handed out (SQLite
/// numbers events in the writer: one writer per file).
pub(super) struct SqliteTx<'t> {
    pub(super) conn: &'t mut SqliteConnection,
    pub(super) last_seq: &'t mut i64,
}

/// A settled row as JSON: seq, conversation, state, message ids, error.
type Settled<'a> = (i64, &'a str, i64, Option<&'a str>, Option<&'a str>);

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments>;

/// A batch as one JSON array, bound to one statement parameter.
fn json<T: serde::Serialize + ?Sized>(what: &str, v: &T) -> Result<String> {
    to_json(what, v)
}

/// `items` as a JSON array, or `None` when there are none.
fn nonempty<T: serde::Serialize>(what: &str, items: &[T]) -> Result<Option<String>> {
    if items.is_empty() {
        Ok(None)
    } else {
        json(what, items).map(Some)
    }
}

impl SqliteTx<'_> {
    async fn rows(&mut self, what: &'static str, query: Query<'_>) -> Result<Vec<SqliteRow>> {
        query.fetch_all(&mut *self.conn).await.map_err(db(what))
    }

    /// Runs `sql` with one JSON array parameter.
    async fn batch(&mut self, what: &'static str, sql: &'static str, array: String) -> Result<()> {
        sqlx::query(sql)
            .bind(array)
            .execute(&mut *self.conn)
            .await
            .map_err(db(what))?;
        Ok(())
    }

    /// Runs a claim statement (`?1` now, `?2` the lease's end, `?3` the token, `?4` the
    /// limit; returning `seq` first), then reads the claimed rows with `rows_sql` (`?1` a JSON
    /// array of seqs; `seq` first). Returns the token and each claimed head with its row, by
    /// sequence.
    async fn claim(
        &mut self,
        claim: &Claim,
        heads_sql: &'static str,
        rows_sql: &'static str,
    ) -> Result<(i64, Vec<(SqliteRow, SqliteRow)>)> {
        let (now, until) = lease_span(claim);
        let token = new_token();
        let heads = sqlx::query(heads_sql)
            .bind(now)
            .bind(until)
            .bind(token)
            .bind(limit(claim.limit))
            .fetch_all(&mut *self.conn)
            .await
            .map_err(db("claim"))?;
        if heads.is_empty() {
            return Ok((token, Vec::new()));
        }
        let mut claimed: HashMap<i64, SqliteRow> = HashMap::with_capacity(heads.len());
        for row in heads {
            claimed.insert(row.try_get(0).map_err(db("claim"))?, row);
        }
        let seqs: Vec<i64> = claimed.keys().copied().collect();
        let rows = sqlx::query(rows_sql)
            .bind(json("seqs", &seqs)?)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(db("claim"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get(0).map_err(db("claim"))?;
            if let Some(head) = claimed.remove(&seq) {
                out.push((seq, head, row));
            }
        }
        out.sort_by_key(|(seq, ..)| *seq);
        Ok((token, out.into_iter().map(|(_, h, r)| (h, r)).collect()))
    }
}

impl Tx for SqliteTx<'_> {
    type Row = SqliteRow;

    const FORWARD: &'static ForwardSql = &super::forward::SQL;

    /// One writer per file: appends never run at once.
    const LOCK_LOG: Option<&'static str> = None;

    async fn fetch(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<Vec<SqliteRow>> {
        bind::<sqlx::Sqlite>(sql, params)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(db("read"))
    }

    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64> {
        Ok(bind::<sqlx::Sqlite>(sql, params)
            .execute(&mut *self.conn)
            .await
            .map_err(db("write"))?
            .rows_affected())
    }

    async fn insert_keys(&mut self, events: &[&PreparedEvent]) -> Result<Vec<Option<i64>>> {
        let first_seq = *self.last_seq + 1;
        *self.last_seq += i64::try_from(events.len()).unwrap_or(i64::MAX);
        let keys: Vec<(&str, &str, i64, i64)> = events
            .iter()
            .zip(first_seq..)
            .map(|(r, seq)| (r.channel.as_str(), r.event_id.as_str(), seq, r.received_at))
            .collect();
        let keys = json("keys", &keys)?;
        let inserted = sqlx::query(inbox::INSERT_KEYS)
            .bind(keys.clone())
            .execute(&mut *self.conn)
            .await
            .map_err(db("insert inbound"))?
            .rows_affected();
        if inserted == events.len() as u64 {
            return Ok((first_seq..).take(events.len()).map(Some).collect());
        }
        // Some key was taken: which ones are new.
        let new: HashSet<i64> = sqlx::query(inbox::NEW_KEYS)
            .bind(keys)
            .fetch_all(&mut *self.conn)
            .await
            .map_err(db("insert inbound"))?
            .iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<std::result::Result<_, _>>()
            .map_err(db("insert inbound"))?;
        Ok((first_seq..)
            .take(events.len())
            .map(|seq| new.contains(&seq).then_some(seq))
            .collect())
    }

    async fn insert_events(&mut self, rows: &[(i64, &PreparedEvent)]) -> Result<()> {
        type Row<'r> = (
            i64,
            &'r str,
            &'r str,
            &'r str,
            &'r str,
            i64,
            Option<&'r str>,
        );
        let rows: Vec<Row<'_>> = rows
            .iter()
            .map(|(seq, r)| {
                (
                    *seq,
                    r.conversation.as_str(),
                    r.channel.as_str(),
                    r.event_id.as_str(),
                    r.json.as_str(),
                    r.received_at,
                    r.raw.as_ref().map(|raw| raw.digest.as_str()),
                )
            })
            .collect();
        self.batch("insert inbound", inbox::INSERT_ROWS, json("events", &rows)?)
            .await
    }

    async fn insert_heads(&mut self, queue: Queue, heads: &[(&str, i64)]) -> Result<()> {
        let sql = match queue {
            Queue::Outbox => outbox::INSERT_HEADS,
            _ => inbox::INSERT_HEADS,
        };
        self.batch("insert heads", sql, json("heads", heads)?).await
    }

    async fn claim_inbox(&mut self, claim: &Claim) -> Result<Vec<InboxItem>> {
        let (token, claimed) = self.claim(claim, inbox::CLAIM, inbox::EVENTS).await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut conversations: Vec<&str> = Vec::with_capacity(claimed.len());
        for (_, row) in &claimed {
            conversations.push(row.try_get(2).map_err(db("claim inbox"))?);
        }
        let mut options: HashMap<String, String> = HashMap::new();
        for row in sqlx::query(inbox::OPTIONS)
            .bind(json("conversations", &conversations)?)
            .bind(crate::store::millis(claim.now))
            .fetch_all(&mut *self.conn)
            .await
            .map_err(db("claim inbox"))?
        {
            options.insert(
                row.try_get(0).map_err(db("claim inbox"))?,
                row.try_get(1).map_err(db("claim inbox"))?,
            );
        }
        claimed
            .iter()
            .zip(conversations)
            .map(|((head, row), c)| {
                inbox_item(head, row, token, options.get(c).map(String::as_str))
            })
            .collect()
    }

    async fn leases(&mut self, queue: Queue, leases: &[Lease]) -> Result<Held> {
        let sql = match queue {
            Queue::Outbox => update::LEASED,
            _ => inbox::LEASED,
        };
        let pairs: Vec<(i64, i64)> = leases.iter().map(|l| (l.seq, l.token)).collect();
        let array: String = sqlx::query(sql)
            .bind(json("leases", &pairs)?)
            .fetch_one(&mut *self.conn)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db("leases"))?;
        let held: Vec<(usize, String, String)> = from_json("leases", &array)?;
        Ok(held
            .into_iter()
            .map(|(pos, conversation, channel)| (pos, (conversation, channel)))
            .collect())
    }

    async fn taken_keys(&mut self, keys: &[&str]) -> Result<Vec<SqliteRow>> {
        self.rows(
            "finish inbox",
            sqlx::query(inbox::TAKEN).bind(json("keys", keys)?),
        )
        .await
    }

    async fn finish_rows(&mut self, plan: &FinishPlan<'_>) -> Result<()> {
        if let Some(dead) = nonempty("dead", &plan.dead)? {
            self.batch("dead-letter inbox", inbox::BURY, dead).await?;
        }
        if let Some(seqs) = nonempty("seqs", &plan.handled)? {
            // Handled: the row goes, its dedupe key stays.
            self.batch("finish inbox", inbox::DELETE, seqs).await?;
        }
        if let Some(retries) = nonempty("retries", &plan.retry)? {
            self.batch("retry inbox", inbox::RETRY, retries).await?;
        }
        Ok(())
    }

    async fn insert_outbox(
        &mut self,
        rows: &[&PreparedOutbound],
        now: i64,
    ) -> Result<Vec<SqliteRow>> {
        let values: Vec<(&str, &str, &str, &str, &str)> = rows
            .iter()
            .map(|o| {
                (
                    o.key.as_str(),
                    o.channel.as_str(),
                    o.conversation.as_str(),
                    o.target.as_str(),
                    o.message.as_str(),
                )
            })
            .collect();
        let query = sqlx::query(outbox::INSERT_ROWS)
            .bind(json("outbox rows", &values)?)
            .bind(now);
        self.rows("outbox insert", query).await
    }

    async fn held_keys(&mut self, keys: &[&str]) -> Result<Vec<SqliteRow>> {
        self.rows(
            "enqueue",
            sqlx::query(outbox::HELD).bind(json("keys", keys)?),
        )
        .await
    }

    async fn claim_outbox(&mut self, claim: &Claim) -> Result<Vec<OutboxItem>> {
        let (token, claimed) = self.claim(claim, outbox::CLAIM, outbox::ROWS).await?;
        claimed
            .iter()
            .map(|(head, row)| outbox_item(head, row, token))
            .collect()
    }

    async fn update_rows(&mut self, plan: &UpdatePlan<'_>, now: i64) -> Result<()> {
        let mapped: Vec<(&str, &str, i64)> = plan
            .mapped
            .iter()
            .map(|((channel, id), seq)| (*channel, *id, *seq))
            .collect();
        let releases: Vec<(&str, &str, i64, i64, i64)> = plan
            .releases
            .iter()
            .map(|r| {
                let flag = i64::from;
                (
                    r.conversation,
                    r.why,
                    r.at,
                    flag(r.uncounted),
                    flag(r.uncertain),
                )
            })
            .collect();
        let settled: Vec<Settled<'_>> = plan
            .settled
            .iter()
            .map(|s| (s.seq, s.conversation, s.state, s.ids.as_deref(), s.error))
            .collect();
        let steps: [(&str, Option<String>); 5] = [
            (update::ATTEMPT, nonempty("attempts", &plan.attempts)?),
            (update::MESSAGE_IDS, nonempty("message ids", &plan.ids)?),
            (update::MAP_IDS, nonempty("sent messages", &mapped)?),
            (update::RELEASE, nonempty("releases", &releases)?),
            (update::SETTLE, nonempty("settled", &settled)?),
        ];
        for (sql, batch) in steps {
            let Some(batch) = batch else { continue };
            let mut query = sqlx::query(sql).bind(batch);
            if sql == update::SETTLE {
                query = query.bind(now);
            }
            query
                .execute(&mut *self.conn)
                .await
                .map_err(db("update outbox"))?;
        }
        Ok(())
    }

    async fn write_state(
        &mut self,
        upserts: &[(&str, &str)],
        deletes: &[&str],
        now: i64,
    ) -> Result<()> {
        if let Some(upserts) = nonempty("state", upserts)? {
            sqlx::query(state::UPSERT_STATE)
                .bind(upserts)
                .bind(now)
                .execute(&mut *self.conn)
                .await
                .map_err(db("state"))?;
        }
        if let Some(deletes) = nonempty("state", deletes)? {
            self.batch("state", state::DELETE_STATE, deletes).await?;
        }
        Ok(())
    }

    async fn write_options(&mut self, set: &[(&str, &str, i64)], clear: &[&str]) -> Result<()> {
        if let Some(set) = nonempty("options", set)? {
            self.batch("options", state::UPSERT_OPTIONS, set).await?;
        }
        if let Some(clear) = nonempty("options", clear)? {
            self.batch("options", state::DELETE_OPTIONS, clear).await?;
        }
        Ok(())
    }

    async fn advance(&mut self, queue: Queue, conversations: &[&str]) -> Result<()> {
        let Some(conversations) = nonempty("conversations", conversations)? else {
            return Ok(());
        };
        let (advance, drop) = match queue {
            Queue::Outbox => (heads::ADVANCE_OUTBOX, heads::DROP_OUTBOX),
            _ => (heads::ADVANCE_INBOX, heads::DROP_INBOX),
        };
        for sql in [advance, drop] {
            sqlx::query(sql)
                .bind(&conversations)
                .execute(&mut *self.conn)
                .await
                .map_err(db("advance heads"))?;
        }
        Ok(())
    }

    async fn renew(
        &mut self,
        queue: Queue,
        leases: &[Lease],
        until: i64,
    ) -> Result<Vec<SqliteRow>> {
        let sql = match queue {
            Queue::Outbox => heads::RENEW_OUTBOX,
            _ => heads::RENEW_INBOX,
        };
        let pairs: Vec<(i64, i64)> = leases.iter().map(|l| (l.seq, l.token)).collect();
        let query = sqlx::query(sql).bind(json("leases", &pairs)?).bind(until);
        self.rows("renew leases", query).await
    }

    async fn delivered(&mut self, channel: &str, messages: &[MessageId]) -> Result<Vec<SqliteRow>> {
        let query = sqlx::query(receipts::DELIVERED)
            .bind(channel)
            .bind(json("message ids", messages)?);
        self.rows("delivery", query).await
    }

    async fn set_delivery(&mut self, status: &str, seqs: &[i64]) -> Result<()> {
        sqlx::query(receipts::SET_DELIVERY)
            .bind(status)
            .bind(json("seqs", seqs)?)
            .execute(&mut *self.conn)
            .await
            .map_err(db("delivery"))?;
        Ok(())
    }

    /// One engine per file (the lock): every lease still running belongs to a dead process.
    async fn recover(&mut self, now: i64) -> Result<()> {
        for sql in [
            heads::RELEASE_INBOX,
            heads::RELEASE_OUTBOX,
            heads::RELEASE_FORWARDS,
        ] {
            self.execute(sql, &[Param::Int(now)]).await?;
        }
        Ok(())
    }

    async fn prune(&mut self, step: PruneStep, cutoff: i64) -> Result<u64> {
        let sqls: &[&'static str] = match step {
            PruneStep::Keys => &[maintenance::PRUNE_KEYS],
            PruneStep::Sent => &[maintenance::PRUNE_SENT_IDS, maintenance::PRUNE_SENT],
            PruneStep::Proofs => &[maintenance::PRUNE_PROOFS],
            PruneStep::Options => &[maintenance::PRUNE_OPTIONS],
            PruneStep::Receipts => &[pending::PRUNE],
            PruneStep::RawPayloads => &[maintenance::PRUNE_RAW],
            PruneStep::Forwards => &[super::forward::PRUNE],
        };
        let mut n = 0;
        for sql in sqls {
            n = self
                .execute(sql, &[Param::Int(cutoff), Param::Int(PRUNE_CHUNK)])
                .await?;
        }
        Ok(n)
    }

    /// One writer per file: a receipt and the send it names never run at once.
    async fn lock_receipts(&mut self, _: &str, _: &[MessageId]) -> Result<()> {
        Ok(())
    }

    async fn keep_receipts(
        &mut self,
        channel: &str,
        messages: &[MessageId],
        status: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(pending::KEEP)
            .bind(channel)
            .bind(json("message ids", messages)?)
            .bind(status)
            .bind(now)
            .execute(&mut *self.conn)
            .await
            .map_err(db("keep early receipts"))?;
        Ok(())
    }

    async fn take_receipts(
        &mut self,
        mapped: &std::collections::BTreeMap<(&str, &str), i64>,
    ) -> Result<Vec<SqliteRow>> {
        let triples: Vec<(&str, &str, i64)> =
            mapped.iter().map(|((c, m), s)| (*c, *m, *s)).collect();
        let array = json("sent messages", &triples)?;
        let rows = self
            .rows(
                "early receipts",
                sqlx::query(pending::KEPT).bind(array.clone()),
            )
            .await?;
        if !rows.is_empty() {
            self.batch("early receipts", pending::DROP, array).await?;
        }
        Ok(rows)
    }

    async fn insert_media(&mut self, seq: i64, files: &[(i64, bytes::Bytes)]) -> Result<()> {
        for (idx, bytes) in files {
            sqlx::query(media::INSERT)
                .bind(seq)
                .bind(idx)
                .bind(bytes.as_ref())
                .execute(&mut *self.conn)
                .await
                .map_err(db("outbox media"))?;
        }
        Ok(())
    }

    async fn media(&mut self, seqs: &[i64]) -> Result<Vec<(i64, i64, bytes::Bytes)>> {
        let rows = self
            .rows(
                "outbox media",
                sqlx::query(media::SELECT).bind(json("seqs", seqs)?),
            )
            .await?;
        rows.iter()
            .map(|r| {
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
        self.batch("outbox media", media::DROP, json("seqs", seqs)?)
            .await
    }

    async fn insert_raw(&mut self, raws: &[(&str, &str)], now: i64) -> Result<()> {
        sqlx::query(inbox::INSERT_RAW)
            .bind(json("raw payloads", raws)?)
            .bind(now)
            .execute(&mut *self.conn)
            .await
            .map_err(db("insert inbound"))?;
        Ok(())
    }

    async fn upsert_contacts(&mut self, writes: &ContactWrites<'_>) -> Result<()> {
        super::contacts::upsert(self.conn, writes).await
    }
}
