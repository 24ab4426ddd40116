//! Inbox rows: dedupe and insert, claiming heads, finishing them (handled with their replies
//! and state, retried, dead-lettered). Every statement is set-based over arrays (`UNNEST`).

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;
use sqlx::postgres::PgConnection;
use switchboard_core::Result;

use super::outbox::{PreparedOutbound, insert_rows};
use super::{attempts, db, heads, lease_span, limit, state};
use crate::store::contacts::EventContact;
use crate::store::{Claim, InboxItem, Inserted, Lease, Queue, from_json, outbox_key_taken};

/// An event ready for the writer: its key, conversation and JSON.
pub(super) struct PreparedEvent {
    pub(super) channel: String,
    pub(super) event_id: String,
    pub(super) conversation: String,
    pub(super) json: String,
    pub(super) received_at: i64,
    /// What it changes in the policy facts ([`contacts`](super::contacts)).
    pub(super) contact: EventContact,
}

/// `$1` channels, `$2` event ids, `$3` received at (in arrival order): each gets the next
/// sequence number in that order; new keys are inserted (in key order, so that two instances
/// inserting the same keys never deadlock), taken ones skipped. Returns the new keys' seqs.
pub(super) const INSERT_KEYS: &str = "WITH k AS MATERIALIZED (
       SELECT k.channel, k.event_id, k.received_at, nextval('inbox_seq') AS seq
         FROM UNNEST($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY
              AS k(channel, event_id, received_at, i)
        ORDER BY k.i)
     INSERT INTO inbox_keys (channel, event_id, seq, received_at)
     SELECT channel, event_id, seq, received_at FROM k ORDER BY channel, event_id
     ON CONFLICT (channel, event_id) DO NOTHING
     RETURNING channel, event_id, seq";

/// `$1` seqs, `$2` conversations, `$3` channels, `$4` event ids, `$5` events, `$6` received at.
pub(super) const INSERT_ROWS: &str =
    "INSERT INTO inbox (seq, conversation, channel, event_id, event, received_at)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::bigint[])";

/// `$1` conversations (sorted), `$2` each one's first new row: the row becomes the
/// conversation's head unless it has one. The no-op update of an existing head locks it, so an
/// insert waits for a finish of the same head in another transaction (which may delete the
/// head, seeing no next row yet): then the insert makes a new head, and no row is left without.
pub(super) const INSERT_HEADS: &str = "INSERT INTO inbox_heads (conversation, seq)
     SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (conversation) DO UPDATE SET seq = inbox_heads.seq";

/// Inserts every job's events in one go. Answers per job and event: `New(seq)` for the first
/// occurrence of a (channel, event id) not stored yet, `Duplicate` otherwise (also for a
/// repeat inside the batch: two concurrent deliveries of one webhook).
pub(super) async fn insert<'a>(
    conn: &mut PgConnection,
    jobs: impl Iterator<Item = &'a [PreparedEvent]> + Clone,
) -> Result<Vec<Vec<Inserted>>> {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let candidates: Vec<&PreparedEvent> = jobs
        .clone()
        .flatten()
        .filter(|r| seen.insert((r.channel.as_str(), r.event_id.as_str())))
        .collect();
    let rows = sqlx::query(INSERT_KEYS)
        .bind(
            candidates
                .iter()
                .map(|r| r.channel.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            candidates
                .iter()
                .map(|r| r.event_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(candidates.iter().map(|r| r.received_at).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(db("insert inbound"))?;
    let mut new: HashMap<(String, String), i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        new.insert(
            (
                row.try_get(0).map_err(db("insert inbound"))?,
                row.try_get(1).map_err(db("insert inbound"))?,
            ),
            row.try_get(2).map_err(db("insert inbound"))?,
        );
    }
    let lookup = |r: &PreparedEvent| new.get(&(r.channel.clone(), r.event_id.clone())).copied();
    if !new.is_empty() {
        let mut fresh: Vec<(i64, &PreparedEvent)> = candidates
            .iter()
            .filter_map(|r| lookup(r).map(|seq| (seq, *r)))
            .collect();
        fresh.sort_by_key(|(seq, _)| *seq);
        sqlx::query(INSERT_ROWS)
            .bind(fresh.iter().map(|(s, _)| *s).collect::<Vec<_>>())
            .bind(
                fresh
                    .iter()
                    .map(|(_, r)| r.conversation.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                fresh
                    .iter()
                    .map(|(_, r)| r.channel.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                fresh
                    .iter()
                    .map(|(_, r)| r.event_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                fresh
                    .iter()
                    .map(|(_, r)| r.json.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(fresh.iter().map(|(_, r)| r.received_at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound"))?;
        let mut first: BTreeMap<&str, i64> = BTreeMap::new();
        for (seq, r) in &fresh {
            first.entry(r.conversation.as_str()).or_insert(*seq);
        }
        sqlx::query(INSERT_HEADS)
            .bind(first.keys().copied().collect::<Vec<_>>())
            .bind(first.values().copied().collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound"))?;
        let contacts = fresh
            .iter()
            .filter(|(_, r)| !r.contact.is_empty())
            .map(|(_, r)| (r.conversation.as_str(), &r.contact));
        super::contacts::record(conn, contacts).await?;
    }
    let mut answered: HashSet<i64> = HashSet::new();
    Ok(jobs
        .map(|rows| {
            rows.iter()
                .map(|r| match lookup(r) {
                    Some(seq) if answered.insert(seq) => Inserted::New(seq),
                    _ => Inserted::Duplicate,
                })
                .collect()
        })
        .collect())
}

/// Leases up to `$4` ready heads until `$2` with token `$3`: those whose time came (`ready_at`
/// in (0, `$1`]) first by time, then those ready at once (`ready_at = 0`) by sequence. Heads
/// another transaction holds are skipped. Returns each with its event and live options.
pub(super) const CLAIM: &str = "WITH due AS (
       SELECT conversation FROM inbox_heads WHERE ready_at > 0 AND ready_at <= $1
        ORDER BY ready_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED),
     fresh AS (
       SELECT conversation FROM inbox_heads WHERE ready_at = 0
        ORDER BY seq LIMIT GREATEST($4 - (SELECT count(*) FROM due), 0) FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE inbox_heads AS h SET token = $3, ready_at = $2, attempts = h.attempts + 1
         FROM (SELECT conversation FROM due UNION ALL SELECT conversation FROM fresh) AS p
        WHERE h.conversation = p.conversation
       RETURNING h.seq, h.attempts, h.conversation)
     SELECT c.seq, c.attempts, i.event, o.options
       FROM claimed AS c JOIN inbox AS i ON i.seq = c.seq
       LEFT JOIN degraded_options AS o ON o.conversation = c.conversation AND o.expires_at > $1
      ORDER BY c.seq";

pub(super) async fn claim(conn: &mut PgConnection, claim: &Claim) -> Result<Vec<InboxItem>> {
    let (now, until) = lease_span(claim);
    let token = crate::store::new_token();
    let rows = sqlx::query(CLAIM)
        .bind(now)
        .bind(until)
        .bind(token)
        .bind(limit(claim.limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claim inbox"))?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get("seq").map_err(db("claim inbox"))?;
            let event: &str = row.try_get("event").map_err(db("claim inbox"))?;
            let options: Option<&str> = row.try_get("options").map_err(db("claim inbox"))?;
            let mut item = InboxItem::new(
                Lease::new(seq, token),
                from_json("event", event)?,
                attempts(row, "attempts")?,
            );
            if let Some(o) = options {
                item.options = from_json("options", o)?;
            }
            Ok(item)
        })
        .collect()
}

/// A claimed row's outcome, ready for the writer.
pub(super) enum Prepared {
    Done {
        outbox: Vec<PreparedOutbound>,
        state: Vec<(String, Option<String>)>,
        now: i64,
    },
    Retry {
        at: i64,
        error: String,
    },
    Dead {
        error: String,
    },
}

/// One finish, ready for the writer.
pub(super) struct PreparedFinish {
    pub(super) lease: Lease,
    pub(super) outcome: Prepared,
}

/// `$1` seqs, `$2` tokens → the positions (from 1) whose lease holds, with the conversation;
/// their heads are locked (in conversation order) until the commit.
pub(super) const LEASED: &str = "SELECT l.i, h.conversation
       FROM UNNEST($1::bigint[], $2::bigint[]) WITH ORDINALITY AS l(seq, token, i)
       JOIN inbox AS r ON r.seq = l.seq AND r.state = 0
       JOIN inbox_heads AS h ON h.conversation = r.conversation AND h.seq = l.seq
                            AND h.token = l.token
      ORDER BY h.conversation FOR UPDATE OF h";

/// `$1` seqs, `$2` errors, `$3` conversations: the rows become dead letters (they stay in the
/// inbox, out of every claim's path) with their head's attempts.
pub(super) const BURY: &str = "UPDATE inbox SET state = 2, error = d.error, attempts = h.attempts
       FROM UNNEST($1::bigint[], $2::text[], $3::text[]) AS d(seq, error, conversation)
       JOIN inbox_heads AS h ON h.conversation = d.conversation
      WHERE inbox.seq = d.seq";

/// `$1` seqs: the handled rows leave the inbox.
pub(super) const DELETE: &str = "DELETE FROM inbox WHERE seq = ANY($1)";

/// `$1` conversations, `$2` times, `$3` errors: the heads are released until then.
pub(super) const RETRY: &str = "UPDATE inbox_heads SET ready_at = r.at, token = 0, error = r.error
       FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS r(conversation, at, error)
      WHERE inbox_heads.conversation = r.conversation";

/// The outbox keys of `$1` already taken.
pub(super) const TAKEN: &str = "SELECT key FROM outbox WHERE key = ANY($1)";

/// Finishes claimed rows; one answer per item, in order.
pub(super) async fn finish(
    conn: &mut PgConnection,
    items: &[&PreparedFinish],
) -> Result<Vec<Result<bool>>> {
    let mut held: HashMap<usize, String> = HashMap::new();
    for row in sqlx::query(LEASED)
        .bind(items.iter().map(|f| f.lease.seq).collect::<Vec<_>>())
        .bind(items.iter().map(|f| f.lease.token).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(db("finish inbox"))?
    {
        let i: i64 = row.try_get(0).map_err(db("finish inbox"))?;
        let conversation: String = row.try_get(1).map_err(db("finish inbox"))?;
        held.insert(usize::try_from(i - 1).unwrap_or(usize::MAX), conversation);
    }
    // Outbox keys of every completion, checked against the outbox at once.
    let keys: Vec<&str> = items
        .iter()
        .filter_map(|f| match &f.outcome {
            Prepared::Done { outbox, .. } => Some(outbox.iter().map(|o| o.key.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    if !keys.is_empty() {
        for row in sqlx::query(TAKEN)
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("finish inbox"))?
        {
            taken.insert(row.try_get(0).map_err(db("finish inbox"))?);
        }
    }
    let mut answers = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    let (mut gone, mut dead, mut retry, mut freed) = (vec![], vec![], vec![], vec![]);
    let mut rows: Vec<&PreparedOutbound> = Vec::new();
    let mut writes: Vec<(&str, Option<&str>)> = Vec::new();
    let mut now = 0;
    for (i, f) in items.iter().enumerate() {
        let Some(conversation) = held.get(&i).filter(|_| seen.insert(f.lease.seq)) else {
            answers.push(Ok(false));
            continue;
        };
        match &f.outcome {
            Prepared::Done {
                outbox,
                state,
                now: at,
            } => {
                let mut mine = HashSet::new();
                if let Some(o) = outbox
                    .iter()
                    .find(|o| taken.contains(&o.key) || !mine.insert(o.key.as_str()))
                {
                    // Refused: nothing of it is written and the lease is kept.
                    seen.remove(&f.lease.seq);
                    answers.push(Err(outbox_key_taken(&o.key)));
                    continue;
                }
                taken.extend(outbox.iter().map(|o| o.key.clone()));
                rows.extend(outbox);
                writes.extend(state.iter().map(|(c, v)| (c.as_str(), v.as_deref())));
                now = now.max(*at);
                gone.push(f.lease.seq);
                freed.push(conversation.as_str());
            }
            Prepared::Retry { at, error } => retry.push((conversation.as_str(), *at, error)),
            Prepared::Dead { error } => {
                dead.push((f.lease.seq, error.as_str(), conversation.as_str()));
                freed.push(conversation.as_str());
            }
        }
        answers.push(Ok(true));
    }
    if !dead.is_empty() {
        sqlx::query(BURY)
            .bind(dead.iter().map(|d| d.0).collect::<Vec<_>>())
            .bind(dead.iter().map(|d| d.1).collect::<Vec<_>>())
            .bind(dead.iter().map(|d| d.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("dead-letter inbox"))?;
    }
    if !gone.is_empty() {
        // Handled: the row goes, its dedupe key stays.
        sqlx::query(DELETE)
            .bind(&gone)
            .execute(&mut *conn)
            .await
            .map_err(db("finish inbox"))?;
    }
    if !retry.is_empty() {
        sqlx::query(RETRY)
            .bind(retry.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(retry.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(retry.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("retry inbox"))?;
    }
    if !rows.is_empty() {
        insert_rows(conn, &rows, now).await?;
    }
    state::write_all(conn, &writes, now).await?;
    heads::advance(conn, Queue::Inbox, &freed).await?;
    Ok(answers)
}
