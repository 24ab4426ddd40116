//! Inbox rows: dedupe and insert, claiming heads, finishing them (handled with their replies
//! and state, retried, dead-lettered). Every statement is set-based over a JSON array.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use switchboard_core::Result;

use super::outbox::{PreparedOutbound, insert_rows};
use super::writer::WriterState;
use super::{attempts, db, heads, json, state};
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

/// `[[channel, event id, seq, received at], …]`: new keys are inserted, taken ones skipped;
/// returns the seqs of the new ones.
pub(super) const INSERT_KEYS: &str = "INSERT INTO inbox_keys (channel, event_id, seq, received_at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 FROM json_each(?1) AS j
      WHERE true
     ON CONFLICT (channel, event_id) DO NOTHING
     RETURNING seq";

/// `[[seq, conversation, channel, event id, event, received at], …]`.
pub(super) const INSERT_ROWS: &str =
    "INSERT INTO inbox (seq, conversation, channel, event_id, event, received_at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5
       FROM json_each(?1) AS j";

/// `[[conversation, seq], …]` (each conversation's first new row): the row becomes the
/// conversation's head unless it has one.
pub(super) const INSERT_HEADS: &str = "INSERT INTO inbox_heads (conversation, seq)
     SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j WHERE true
     ON CONFLICT (conversation) DO NOTHING";

/// Inserts every job's events in one go. Answers per job and event: `New(seq)` for the first
/// occurrence of a (channel, event id) not stored yet, `Duplicate` otherwise (also for a
/// repeat inside the batch: two concurrent deliveries of one webhook).
pub(super) async fn insert<'a>(
    conn: &mut SqliteConnection,
    state: &mut WriterState,
    jobs: impl Iterator<Item = &'a [PreparedEvent]> + Clone,
) -> Result<Vec<Vec<Inserted>>> {
    let first_seq = state.last_seq + 1;
    let mut first: HashMap<(&str, &str), i64> = HashMap::new();
    let mut candidates: Vec<&PreparedEvent> = Vec::new();
    for r in jobs.clone().flatten() {
        first
            .entry((r.channel.as_str(), r.event_id.as_str()))
            .or_insert_with(|| {
                candidates.push(r);
                state.last_seq += 1;
                state.last_seq
            });
    }
    let keys: Vec<(&str, &str, i64, i64)> = candidates
        .iter()
        .zip(first_seq..)
        .map(|(r, seq)| (r.channel.as_str(), r.event_id.as_str(), seq, r.received_at))
        .collect();
    let new: HashSet<i64> = sqlx::query(INSERT_KEYS)
        .bind(json("keys", &keys)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("insert inbound"))?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<std::result::Result<_, _>>()
        .map_err(db("insert inbound"))?;
    if !new.is_empty() {
        let rows: Vec<(i64, &str, &str, &str, &str, i64)> = candidates
            .iter()
            .zip(first_seq..)
            .filter(|(_, seq)| new.contains(seq))
            .map(|(r, seq)| {
                let (c, ch, id) = (&r.conversation, &r.channel, &r.event_id);
                (
                    seq,
                    c.as_str(),
                    ch.as_str(),
                    id.as_str(),
                    r.json.as_str(),
                    r.received_at,
                )
            })
            .collect();
        sqlx::query(INSERT_ROWS)
            .bind(json("events", &rows)?)
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound"))?;
        let mut heads: HashMap<&str, i64> = HashMap::new();
        for (seq, conversation, ..) in &rows {
            heads.entry(conversation).or_insert(*seq);
        }
        let heads: Vec<(&str, i64)> = heads.into_iter().collect();
        sqlx::query(INSERT_HEADS)
            .bind(json("heads", &heads)?)
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound"))?;
        let contacts = candidates
            .iter()
            .zip(first_seq..)
            .filter(|(r, seq)| new.contains(seq) && !r.contact.is_empty())
            .map(|(r, _)| (r.conversation.as_str(), &r.contact));
        super::contacts::record(conn, contacts).await?;
    }
    let mut answered: HashSet<i64> = HashSet::new();
    Ok(jobs
        .map(|rows| {
            rows.iter()
                .map(
                    |r| match first.get(&(r.channel.as_str(), r.event_id.as_str())) {
                        Some(&seq) if new.contains(&seq) && answered.insert(seq) => {
                            Inserted::New(seq)
                        }
                        _ => Inserted::Duplicate,
                    },
                )
                .collect()
        })
        .collect())
}

/// Leases up to `?4` ready heads until `?2` with token `?3`: those whose time came (`ready_at`
/// in (0, `?1`]) first by time, then those ready at once (`ready_at = 0`) by sequence.
pub(super) const CLAIM: &str = "UPDATE inbox_heads SET token = ?3, ready_at = ?2, attempts = attempts + 1
     WHERE conversation IN (
       SELECT conversation FROM (SELECT conversation FROM inbox_heads
                                  WHERE ready_at > 0 AND ready_at <= ?1 ORDER BY ready_at, seq LIMIT ?4)
       UNION ALL
       SELECT conversation FROM (SELECT conversation FROM inbox_heads
                                  WHERE ready_at = 0 ORDER BY seq LIMIT ?4)
       LIMIT ?4)
     RETURNING seq, attempts";

/// The events of the rows `?1` (a JSON array of seqs).
pub(super) const EVENTS: &str =
    "SELECT seq, event, conversation FROM inbox WHERE seq IN (SELECT value FROM json_each(?1))";

/// The options of the conversations `?1` (a JSON array) live at `?2`.
pub(super) const OPTIONS: &str = "SELECT conversation, options FROM degraded_options
      WHERE conversation IN (SELECT value FROM json_each(?1)) AND expires_at > ?2";

pub(super) async fn claim(conn: &mut SqliteConnection, claim: &Claim) -> Result<Vec<InboxItem>> {
    let (token, claimed) = heads::claim(conn, claim, CLAIM, EVENTS).await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let mut conversations: Vec<&str> = Vec::with_capacity(claimed.len());
    for (_, row) in &claimed {
        conversations.push(row.try_get(2).map_err(db("claim inbox"))?);
    }
    let mut options: HashMap<String, String> = HashMap::new();
    for row in sqlx::query(OPTIONS)
        .bind(json("conversations", &conversations)?)
        .bind(crate::store::millis(claim.now))
        .fetch_all(&mut *conn)
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
        .map(|((head, row), conversation)| {
            let seq: i64 = row.try_get(0).map_err(db("claim inbox"))?;
            let event: &str = row.try_get(1).map_err(db("claim inbox"))?;
            let mut item = InboxItem::new(
                Lease::new(seq, token),
                from_json("event", event)?,
                attempts(head, "attempts")?,
            );
            if let Some(o) = options.get(conversation) {
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

/// `[[seq, token], …]` → the positions whose lease holds, with the conversation.
pub(super) const LEASED: &str = "SELECT j.key, i.conversation FROM json_each(?1) AS j
     JOIN inbox AS i ON i.seq = j.value ->> 0
     JOIN inbox_heads AS h ON h.conversation = i.conversation AND h.seq = i.seq
                          AND h.token = j.value ->> 1";

/// `[[seq, error, conversation], …]`: the rows become dead letters (they stay in the inbox,
/// out of every claim's path) with their head's attempts.
pub(super) const BURY: &str =
    "UPDATE inbox SET state = 2, error = j.value ->> 1, attempts = h.attempts
       FROM json_each(?1) AS j JOIN inbox_heads AS h ON h.conversation = j.value ->> 2
      WHERE inbox.seq = j.value ->> 0";

/// `[seq, …]`: the handled rows leave the inbox.
pub(super) const DELETE: &str = "DELETE FROM inbox WHERE seq IN (SELECT value FROM json_each(?1))";

/// `[[conversation, at, error], …]`: the heads are released until `at`.
pub(super) const RETRY: &str =
    "UPDATE inbox_heads SET ready_at = j.value ->> 1, token = 0, error = j.value ->> 2
       FROM json_each(?1) AS j WHERE inbox_heads.conversation = j.value ->> 0";

/// The outbox keys of `?1` (a JSON array of keys) already taken.
pub(super) const TAKEN: &str =
    "SELECT key FROM outbox WHERE key IN (SELECT value FROM json_each(?1))";

/// Finishes claimed rows; one answer per item, in order.
pub(super) async fn finish(
    conn: &mut SqliteConnection,
    items: &[&PreparedFinish],
) -> Result<Vec<Result<bool>>> {
    let leases: Vec<(i64, i64)> = items.iter().map(|f| (f.lease.seq, f.lease.token)).collect();
    let mut held: HashMap<usize, String> = HashMap::new();
    for row in sqlx::query(LEASED)
        .bind(json("leases", &leases)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("finish inbox"))?
    {
        let i: i64 = row.try_get(0).map_err(db("finish inbox"))?;
        let conversation: String = row.try_get(1).map_err(db("finish inbox"))?;
        held.insert(usize::try_from(i).unwrap_or(usize::MAX), conversation);
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
            .bind(json("keys", &keys)?)
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
            .bind(json("dead", &dead)?)
            .execute(&mut *conn)
            .await
            .map_err(db("dead-letter inbox"))?;
    }
    if !gone.is_empty() {
        // Handled: the row goes, its dedupe key stays.
        sqlx::query(DELETE)
            .bind(json("seqs", &gone)?)
            .execute(&mut *conn)
            .await
            .map_err(db("finish inbox"))?;
    }
    if !retry.is_empty() {
        sqlx::query(RETRY)
            .bind(json("retries", &retry)?)
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
