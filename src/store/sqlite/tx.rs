//! The SQLite statements of a writer transaction: each batch is bound as one JSON array
//! parameter and read with `json_each`, so a batch is one statement whatever its size. They
//! run on the writer's own connection ([`native`](super::native)), synchronously: every
//! future here is ready at once.

use std::collections::HashMap;

use rusqlite::Connection;
use switchboard_core::Result;
use switchboard_core::model::MessageId;

use super::native::{self, NativeRow};
use super::{heads, inbox, maintenance, media, outbox, pending, receipts, state, update};
use crate::store::contacts::ContactWrites;
use crate::store::sql::forward::ForwardSql;
use crate::store::sql::rows::{Held, attempts, claimed_event, outbox_item};
use crate::store::sql::{
    FinishPlan, PRUNE_CHUNK, Param, PreparedEvent, PreparedOutbound, PruneStep, Tx, UpdatePlan, db,
    lease_span, limit,
};
use crate::store::{Claim, InboxItem, Lease, OutboxItem, Queue, from_json, new_token, to_json};

/// The writer's open transaction, and the last inbox sequence number it handed out (SQLite
/// numbers events in the writer: one writer per file).
pub(super) struct SqliteTx<'t> {
    pub(super) conn: &'t mut Connection,
    pub(super) last_seq: &'t mut i64,
}

/// A settled row as JSON: seq, conversation, state, message ids, error.
type Settled<'a> = (i64, &'a str, i64, Option<&'a str>, Option<&'a str>);

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
    fn run(&self, what: &'static str, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        native::execute(self.conn, what, sql, params)
    }

    fn rows(&self, what: &'static str, sql: &str, params: &[Param<'_>]) -> Result<Vec<NativeRow>> {
        native::query(self.conn, what, sql, params)
    }

    /// Runs `sql` with one JSON array parameter.
    fn batch(&self, what: &'static str, sql: &str, array: &str) -> Result<()> {
        self.run(what, sql, &[Param::Text(array)]).map(|_| ())
    }

    /// Runs a claim statement (`?1` now, `?2` the lease's end, `?3` the token, `?4` the
    /// limit; returning `seq` first), then reads the claimed rows with `rows_sql` (`?1` a JSON
    /// array of seqs; `seq` first). Returns the token and each claimed head with its row, by
    /// sequence.
    fn claim(
        &self,
        claim: &Claim,
        heads_sql: &'static str,
        rows_sql: &'static str,
    ) -> Result<(i64, Vec<(NativeRow, NativeRow)>)> {
        let (now, until) = lease_span(claim);
        let token = new_token();
        let heads = self.rows(
            "claim",
            heads_sql,
            &[
                Param::Int(now),
                Param::Int(until),
                Param::Int(token),
                Param::Int(limit(claim.limit)),
            ],
        )?;
        if heads.is_empty() {
            return Ok((token, Vec::new()));
        }
        let mut claimed: HashMap<i64, NativeRow> = HashMap::with_capacity(heads.len());
        for row in heads {
            claimed.insert(row.int_at(0)?, row);
        }
        let seqs: Vec<i64> = claimed.keys().copied().collect();
        let rows = self.rows("claim", rows_sql, &[Param::Text(&json("seqs", &seqs)?)])?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let seq = row.int_at(0)?;
            if let Some(head) = claimed.remove(&seq) {
                out.push((seq, head, row));
            }
        }
        out.sort_by_key(|(seq, ..)| *seq);
        Ok((token, out.into_iter().map(|(_, h, r)| (h, r)).collect()))
    }

    /// One statement per event (see [`inbox::INSERT_KEY`]): a key inserted gets the next
    /// sequence number, a taken one none.
    fn insert_keys_now(&mut self, events: &[&PreparedEvent]) -> Result<Vec<Option<i64>>> {
        let mut stmt = self
            .conn
            .prepare_cached(inbox::INSERT_KEY)
            .map_err(db("insert inbound"))?;
        let mut seqs = Vec::with_capacity(events.len());
        for r in events {
            let seq = *self.last_seq + 1;
            let inserted = stmt
                .execute(rusqlite::params![r.channel, r.event_id, seq, r.received_at])
                .map_err(db("insert inbound"))?;
            if inserted == 1 {
                *self.last_seq = seq;
                seqs.push(Some(seq));
            } else {
                seqs.push(None);
            }
        }
        Ok(seqs)
    }

    /// One statement per event (see [`inbox::INSERT_ROW`]).
    fn insert_events_now(&self, rows: &[(i64, &PreparedEvent)]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(inbox::INSERT_ROW)
            .map_err(db("insert inbound"))?;
        for (seq, r) in rows {
            stmt.execute(rusqlite::params![
                seq,
                r.conversation,
                r.channel,
                r.event_id,
                r.json,
                r.received_at,
                r.raw.as_ref().map(|raw| raw.digest.as_str()),
            ])
            .map_err(db("insert inbound"))?;
        }
        Ok(())
    }

    fn claim_inbox_now(&self, claim: &Claim) -> Result<Vec<InboxItem>> {
        let (token, claimed) = self.claim(claim, inbox::CLAIM, inbox::EVENTS)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut conversations: Vec<&str> = Vec::with_capacity(claimed.len());
        for (_, row) in &claimed {
            conversations.push(row.text_at(2)?);
        }
        let mut options: HashMap<String, String> = HashMap::new();
        for row in self.rows(
            "claim inbox",
            inbox::OPTIONS,
            &[
                Param::Text(&json("conversations", &conversations)?),
                Param::Int(crate::store::millis(claim.now)),
            ],
        )? {
            options.insert(row.text_at(0)?.to_owned(), row.text_at(1)?.to_owned());
        }
        // The event's JSON read where the row holds it (`EVENTS`: seq, event, conversation,
        // raw), not copied out first.
        claimed
            .iter()
            .zip(conversations)
            .map(|((head, row), c)| {
                claimed_event(
                    Lease::new(row.int_at(0)?, token),
                    row.text_at(1)?,
                    row.text_opt_at(3)?,
                    attempts(head, "attempts")?,
                    options.get(c).map(String::as_str),
                )
            })
            .collect()
    }

    fn leases_now(&self, queue: Queue, leases: &[Lease]) -> Result<Held> {
        let sql = match queue {
            Queue::Outbox => update::LEASED,
            _ => inbox::LEASED,
        };
        let pairs: Vec<(i64, i64)> = leases.iter().map(|l| (l.seq, l.token)).collect();
        let rows = self.rows("leases", sql, &[Param::Text(&json("leases", &pairs)?)])?;
        let array = match rows.first() {
            Some(row) => row.text_at(0)?,
            None => "[]",
        };
        let held: Vec<(usize, String, String)> = from_json("leases", array)?;
        Ok(held
            .into_iter()
            .map(|(pos, conversation, channel)| (pos, (conversation, channel)))
            .collect())
    }

    fn finish_rows_now(&self, plan: &FinishPlan<'_>) -> Result<()> {
        if let Some(dead) = nonempty("dead", &plan.dead)? {
            self.batch("dead-letter inbox", inbox::BURY, &dead)?;
        }
        if let Some(seqs) = nonempty("seqs", &plan.handled)? {
            // Handled: the row goes, its dedupe key stays.
            self.batch("finish inbox", inbox::DELETE, &seqs)?;
        }
        if let Some(retries) = nonempty("retries", &plan.retry)? {
            self.batch("retry inbox", inbox::RETRY, &retries)?;
        }
        Ok(())
    }

    fn insert_outbox_now(&self, rows: &[&PreparedOutbound], now: i64) -> Result<Vec<NativeRow>> {
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
        self.rows(
            "outbox insert",
            outbox::INSERT_ROWS,
            &[Param::Text(&json("outbox rows", &values)?), Param::Int(now)],
        )
    }

    fn update_rows_now(&self, plan: &UpdatePlan<'_>, now: i64) -> Result<()> {
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
            if sql == update::SETTLE {
                self.run(
                    "update outbox",
                    sql,
                    &[Param::Text(&batch), Param::Int(now)],
                )?;
            } else {
                self.batch("update outbox", sql, &batch)?;
            }
        }
        Ok(())
    }

    fn write_state_now(&self, upserts: &[(&str, &str)], deletes: &[&str], now: i64) -> Result<()> {
        if let Some(upserts) = nonempty("state", upserts)? {
            self.run(
                "state",
                state::UPSERT_STATE,
                &[Param::Text(&upserts), Param::Int(now)],
            )?;
        }
        if let Some(deletes) = nonempty("state", deletes)? {
            self.batch("state", state::DELETE_STATE, &deletes)?;
        }
        Ok(())
    }

    fn write_options_now(&self, set: &[(&str, &str, i64)], clear: &[&str]) -> Result<()> {
        if let Some(set) = nonempty("options", set)? {
            self.batch("options", state::UPSERT_OPTIONS, &set)?;
        }
        if let Some(clear) = nonempty("options", clear)? {
            self.batch("options", state::DELETE_OPTIONS, &clear)?;
        }
        Ok(())
    }

    fn advance_now(&self, queue: Queue, conversations: &[&str]) -> Result<()> {
        let Some(conversations) = nonempty("conversations", conversations)? else {
            return Ok(());
        };
        let (advance, drop) = match queue {
            Queue::Outbox => (heads::ADVANCE_OUTBOX, heads::DROP_OUTBOX),
            _ => (heads::ADVANCE_INBOX, heads::DROP_INBOX),
        };
        for sql in [advance, drop] {
            self.batch("advance heads", sql, &conversations)?;
        }
        Ok(())
    }

    fn renew_now(&self, queue: Queue, leases: &[Lease], until: i64) -> Result<Vec<NativeRow>> {
        let sql = match queue {
            Queue::Outbox => heads::RENEW_OUTBOX,
            _ => heads::RENEW_INBOX,
        };
        let pairs: Vec<(i64, i64)> = leases.iter().map(|l| (l.seq, l.token)).collect();
        self.rows(
            "renew leases",
            sql,
            &[Param::Text(&json("leases", &pairs)?), Param::Int(until)],
        )
    }

    fn take_receipts_now(
        &self,
        mapped: &std::collections::BTreeMap<(&str, &str), i64>,
    ) -> Result<Vec<NativeRow>> {
        let triples: Vec<(&str, &str, i64)> =
            mapped.iter().map(|((c, m), s)| (*c, *m, *s)).collect();
        let array = json("sent messages", &triples)?;
        let rows = self.rows("early receipts", pending::KEPT, &[Param::Text(&array)])?;
        if !rows.is_empty() {
            self.batch("early receipts", pending::DROP, &array)?;
        }
        Ok(rows)
    }

    fn media_now(&self, seqs: &[i64]) -> Result<Vec<(i64, i64, bytes::Bytes)>> {
        let rows = self.rows(
            "outbox media",
            media::SELECT,
            &[Param::Text(&json("seqs", seqs)?)],
        )?;
        rows.into_iter()
            .map(|r| {
                let bytes = match r.at(2)? {
                    rusqlite::types::Value::Blob(b) => bytes::Bytes::from(b.clone()),
                    _ => bytes::Bytes::new(),
                };
                Ok((r.int_at(0)?, r.int_at(1)?, bytes))
            })
            .collect()
    }

    fn prune_now(&self, step: PruneStep, cutoff: i64) -> Result<u64> {
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
            n = self.run("write", sql, &[Param::Int(cutoff), Param::Int(PRUNE_CHUNK)])?;
        }
        Ok(n)
    }
}

impl Tx for SqliteTx<'_> {
    type Row = NativeRow;

    const FORWARD: &'static ForwardSql = &super::forward::SQL;

    /// One writer per file: appends never run at once.
    const LOCK_LOG: Option<&'static str> = None;

    async fn fetch(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<Vec<NativeRow>> {
        self.rows("read", sql, params)
    }

    async fn execute(&mut self, sql: &'static str, params: &[Param<'_>]) -> Result<u64> {
        self.run("write", sql, params)
    }

    async fn insert_keys(&mut self, events: &[&PreparedEvent]) -> Result<Vec<Option<i64>>> {
        self.insert_keys_now(events)
    }

    async fn insert_events(&mut self, rows: &[(i64, &PreparedEvent)]) -> Result<()> {
        self.insert_events_now(rows)
    }

    async fn insert_heads(&mut self, queue: Queue, heads: &[(&str, i64)]) -> Result<()> {
        let sql = match queue {
            Queue::Outbox => outbox::INSERT_HEADS,
            _ => inbox::INSERT_HEADS,
        };
        self.batch("insert heads", sql, &json("heads", heads)?)
    }

    async fn claim_inbox(&mut self, claim: &Claim) -> Result<Vec<InboxItem>> {
        self.claim_inbox_now(claim)
    }

    async fn leases(&mut self, queue: Queue, leases: &[Lease]) -> Result<Held> {
        self.leases_now(queue, leases)
    }

    async fn taken_keys(&mut self, keys: &[&str]) -> Result<Vec<NativeRow>> {
        self.rows(
            "finish inbox",
            inbox::TAKEN,
            &[Param::Text(&json("keys", keys)?)],
        )
    }

    async fn finish_rows(&mut self, plan: &FinishPlan<'_>) -> Result<()> {
        self.finish_rows_now(plan)
    }

    async fn insert_outbox(
        &mut self,
        rows: &[&PreparedOutbound],
        now: i64,
    ) -> Result<Vec<NativeRow>> {
        self.insert_outbox_now(rows, now)
    }

    async fn held_keys(&mut self, keys: &[&str]) -> Result<Vec<NativeRow>> {
        self.rows(
            "enqueue",
            outbox::HELD,
            &[Param::Text(&json("keys", keys)?)],
        )
    }

    async fn claim_outbox(&mut self, claim: &Claim) -> Result<Vec<OutboxItem>> {
        let (token, claimed) = self.claim(claim, outbox::CLAIM, outbox::ROWS)?;
        claimed
            .iter()
            .map(|(head, row)| outbox_item(head, row, token))
            .collect()
    }

    async fn update_rows(&mut self, plan: &UpdatePlan<'_>, now: i64) -> Result<()> {
        self.update_rows_now(plan, now)
    }

    async fn write_state(
        &mut self,
        upserts: &[(&str, &str)],
        deletes: &[&str],
        now: i64,
    ) -> Result<()> {
        self.write_state_now(upserts, deletes, now)
    }

    async fn write_options(&mut self, set: &[(&str, &str, i64)], clear: &[&str]) -> Result<()> {
        self.write_options_now(set, clear)
    }

    async fn advance(&mut self, queue: Queue, conversations: &[&str]) -> Result<()> {
        self.advance_now(queue, conversations)
    }

    async fn renew(
        &mut self,
        queue: Queue,
        leases: &[Lease],
        until: i64,
    ) -> Result<Vec<NativeRow>> {
        self.renew_now(queue, leases, until)
    }

    async fn delivered(&mut self, channel: &str, messages: &[MessageId]) -> Result<Vec<NativeRow>> {
        self.rows(
            "delivery",
            receipts::DELIVERED,
            &[
                Param::Text(channel),
                Param::Text(&json("message ids", messages)?),
            ],
        )
    }

    async fn set_delivery(&mut self, status: &str, seqs: &[i64]) -> Result<()> {
        self.run(
            "delivery",
            receipts::SET_DELIVERY,
            &[Param::Text(status), Param::Text(&json("seqs", seqs)?)],
        )
        .map(|_| ())
    }

    /// One engine per file (the lock): every lease still running belongs to a dead process.
    async fn recover(&mut self, now: i64) -> Result<()> {
        for sql in [
            heads::RELEASE_INBOX,
            heads::RELEASE_OUTBOX,
            heads::RELEASE_FORWARDS,
        ] {
            self.run("write", sql, &[Param::Int(now)])?;
        }
        Ok(())
    }

    async fn prune(&mut self, step: PruneStep, cutoff: i64) -> Result<u64> {
        self.prune_now(step, cutoff)
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
        self.run(
            "keep early receipts",
            pending::KEEP,
            &[
                Param::Text(channel),
                Param::Text(&json("message ids", messages)?),
                Param::Text(status),
                Param::Int(now),
            ],
        )
        .map(|_| ())
    }

    async fn take_receipts(
        &mut self,
        mapped: &std::collections::BTreeMap<(&str, &str), i64>,
    ) -> Result<Vec<NativeRow>> {
        self.take_receipts_now(mapped)
    }

    async fn insert_media(&mut self, seq: i64, files: &[(i64, bytes::Bytes)]) -> Result<()> {
        for (idx, bytes) in files {
            self.run(
                "outbox media",
                media::INSERT,
                &[Param::Int(seq), Param::Int(*idx), Param::Bytes(bytes)],
            )?;
        }
        Ok(())
    }

    async fn media(&mut self, seqs: &[i64]) -> Result<Vec<(i64, i64, bytes::Bytes)>> {
        self.media_now(seqs)
    }

    async fn drop_media(&mut self, seqs: &[i64]) -> Result<()> {
        self.batch("outbox media", media::DROP, &json("seqs", seqs)?)
    }

    async fn insert_raw(&mut self, raws: &[(&str, &str)], now: i64) -> Result<()> {
        self.run(
            "insert inbound",
            inbox::INSERT_RAW,
            &[Param::Text(&json("raw payloads", raws)?), Param::Int(now)],
        )
        .map(|_| ())
    }

    async fn upsert_contacts(&mut self, writes: &ContactWrites<'_>) -> Result<()> {
        super::contacts::upsert(self.conn, writes)
    }
}
