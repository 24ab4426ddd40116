//! Changes to claimed outbox rows, merged across callers: attempts, parts sent, releases
//! (retry, retry uncertain, defer, reconcile later), sent, dead letters.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::Row;
use sqlx::postgres::PgConnection;
use switchboard_core::Result;
use switchboard_core::model::MessageId;

use super::{db, heads, state};
use crate::store::{OutboxChange, OutboxUpdate, Queue, millis, to_json};

/// `$1` seqs, `$2` tokens → the positions (from 1) whose lease holds, with conversation and
/// channel; their heads are locked (in conversation order) until the commit.
pub(super) const LEASED: &str = "SELECT l.i, o.conversation, o.channel
       FROM UNNEST($1::bigint[], $2::bigint[]) WITH ORDINALITY AS l(seq, token, i)
       JOIN outbox AS o ON o.seq = l.seq AND o.state = 0
       JOIN outbox_heads AS h ON h.conversation = o.conversation AND h.seq = o.seq
                             AND h.token = l.token
      ORDER BY h.conversation FOR UPDATE OF h";

/// `$1` conversations, `$2` times: a send begins (durable before the request goes out).
pub(super) const ATTEMPT: &str = "UPDATE outbox_heads SET inflight = 2, uncertain = false,
            first_attempt_at = COALESCE(outbox_heads.first_attempt_at, a.at), last_attempt_at = a.at
       FROM UNNEST($1::text[], $2::bigint[]) AS a(conversation, at)
      WHERE outbox_heads.conversation = a.conversation";

/// `$1` seqs, `$2` message ids (JSON): the provider ids of the parts sent so far.
pub(super) const MESSAGE_IDS: &str = "UPDATE outbox SET message_ids = m.ids
       FROM UNNEST($1::bigint[], $2::text[]) AS m(seq, ids) WHERE outbox.seq = m.seq";

/// `$1` channels, `$2` message ids, `$3` seqs: receipts for those ids find the row.
pub(super) const MAP_IDS: &str = "INSERT INTO sent_messages (channel, message_id, outbox_seq)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
     ON CONFLICT (channel, message_id) DO UPDATE SET outbox_seq = excluded.outbox_seq";

/// `$1` conversations, `$2` why, `$3` when, `$4` uncounted (0|1), `$5` uncertain: released
/// heads.
pub(super) const RELEASE: &str = "UPDATE outbox_heads SET error = r.why, ready_at = r.at,
            token = 0, inflight = 0, attempts = GREATEST(outbox_heads.attempts - r.uncounted, 0),
            uncertain = (outbox_heads.uncertain OR r.uncertain)
       FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[])
            AS r(conversation, why, at, uncounted, uncertain)
      WHERE outbox_heads.conversation = r.conversation";

/// `$1` seqs, `$2` conversations, `$3` states (1|2), `$4` message ids (JSON), `$5` errors at
/// `$6`: the rows leave the queue with their head's final claim state.
pub(super) const SETTLE: &str = "UPDATE outbox SET state = s.state,
            sent_at = CASE WHEN s.state = 1 THEN $6 ELSE outbox.sent_at END,
            message_ids = COALESCE(s.ids, outbox.message_ids), error = s.error,
            attempts = h.attempts, first_attempt_at = h.first_attempt_at,
            last_attempt_at = h.last_attempt_at,
            uncertain = CASE WHEN s.state = 1 THEN false ELSE h.uncertain END
       FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[])
            AS s(seq, conversation, state, ids, error)
       JOIN outbox_heads AS h ON h.conversation = s.conversation
      WHERE outbox.seq = s.seq";

/// A released head: conversation, why, when, uncounted, uncertain.
type Release<'a> = (&'a str, String, i64, i64, bool);
/// A settled row: seq, conversation, state, message ids, error.
type Settled<'a> = (i64, &'a str, i64, Option<String>, Option<&'a str>);

/// Applies the changes in order; one answer per item.
pub(super) async fn update(conn: &mut PgConnection, items: &[&OutboxUpdate]) -> Result<Vec<bool>> {
    let now = millis(std::time::SystemTime::now());
    let mut held: HashMap<usize, (String, String)> = HashMap::new();
    for row in sqlx::query(LEASED)
        .bind(items.iter().map(|u| u.lease.seq).collect::<Vec<_>>())
        .bind(items.iter().map(|u| u.lease.token).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(db("update outbox"))?
    {
        let i: i64 = row.try_get(0).map_err(db("update outbox"))?;
        let conversation: String = row.try_get(1).map_err(db("update outbox"))?;
        let channel: String = row.try_get(2).map_err(db("update outbox"))?;
        held.insert(
            usize::try_from(i - 1).unwrap_or(usize::MAX),
            (conversation, channel),
        );
    }
    let mut answers = Vec::with_capacity(items.len());
    let mut finished = HashSet::new();
    let mut attempts: Vec<(&str, i64)> = vec![];
    let mut ids: Vec<(i64, String)> = vec![];
    // (channel, message id) → seq: the last mapping of an id wins.
    let mut mapped: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut releases: Vec<Release<'_>> = vec![];
    let mut settled: Vec<Settled<'_>> = vec![];
    let mut freed: Vec<&str> = vec![];
    let mut options = Vec::new();
    for (i, u) in items.iter().enumerate() {
        let seq = u.lease.seq;
        let Some((conversation, channel)) = held.get(&i).filter(|_| !finished.contains(&seq))
        else {
            answers.push(false);
            continue;
        };
        let conv = conversation.as_str();
        let mut map = |messages: &[switchboard_core::SentMessage]| -> Result<String> {
            let list: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
            for id in &list {
                mapped.insert((channel.clone(), id.as_str().to_owned()), seq);
            }
            to_json("message ids", &list)
        };
        let release = |why: &str, at: std::time::SystemTime, uncounted: bool, uncertain: bool| {
            (
                conv,
                why.to_owned(),
                millis(at),
                i64::from(uncounted),
                uncertain,
            )
        };
        match &u.change {
            OutboxChange::Attempt { at } => attempts.push((conv, millis(*at))),
            OutboxChange::Partial { messages } => ids.push((seq, map(messages)?)),
            OutboxChange::Sent {
                messages,
                options: opts,
                options_expire,
            } => {
                let list = map(messages)?;
                settled.push((seq, conv, 1, Some(list), None));
                let value = (!opts.is_empty())
                    .then(|| to_json("options", opts))
                    .transpose()?;
                options.push((conv, value, millis(*options_expire)));
            }
            OutboxChange::DeadLetter { error } => {
                settled.push((seq, conv, 2, None, Some(error.as_str())))
            }
            OutboxChange::Retry { at, error } => releases.push(release(error, *at, false, false)),
            OutboxChange::RetryUncertain { at, error } => {
                releases.push(release(error, *at, false, true))
            }
            OutboxChange::Defer { at, why } => releases.push(release(why, *at, true, false)),
            OutboxChange::ReconcileLater { at, why } => {
                releases.push(release(why, *at, true, true))
            }
        }
        if matches!(
            u.change,
            OutboxChange::Attempt { .. } | OutboxChange::Partial { .. }
        ) {
            answers.push(true);
            continue;
        }
        finished.insert(seq);
        if matches!(
            u.change,
            OutboxChange::Sent { .. } | OutboxChange::DeadLetter { .. }
        ) {
            freed.push(conv);
        }
        answers.push(true);
    }
    let fail = db("update outbox");
    if !attempts.is_empty() {
        sqlx::query(ATTEMPT)
            .bind(attempts.iter().map(|a| a.0).collect::<Vec<_>>())
            .bind(attempts.iter().map(|a| a.1).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(&fail)?;
    }
    if !ids.is_empty() {
        sqlx::query(MESSAGE_IDS)
            .bind(ids.iter().map(|a| a.0).collect::<Vec<_>>())
            .bind(ids.iter().map(|a| a.1.as_str()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(&fail)?;
    }
    if !mapped.is_empty() {
        sqlx::query(MAP_IDS)
            .bind(mapped.keys().map(|k| k.0.as_str()).collect::<Vec<_>>())
            .bind(mapped.keys().map(|k| k.1.as_str()).collect::<Vec<_>>())
            .bind(mapped.values().copied().collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(&fail)?;
        // Delivery receipts that came before these ids were recorded.
        super::pending::apply(conn, &mapped).await?;
    }
    if !releases.is_empty() {
        sqlx::query(RELEASE)
            .bind(releases.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(releases.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
            .bind(releases.iter().map(|r| r.2).collect::<Vec<_>>())
            .bind(releases.iter().map(|r| r.3).collect::<Vec<_>>())
            .bind(releases.iter().map(|r| r.4).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(&fail)?;
    }
    if !settled.is_empty() {
        sqlx::query(SETTLE)
            .bind(settled.iter().map(|s| s.0).collect::<Vec<_>>())
            .bind(settled.iter().map(|s| s.1).collect::<Vec<_>>())
            .bind(settled.iter().map(|s| s.2).collect::<Vec<_>>())
            .bind(settled.iter().map(|s| s.3.as_deref()).collect::<Vec<_>>())
            .bind(settled.iter().map(|s| s.4).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(&fail)?;
    }
    let sent: Vec<i64> = settled.iter().filter(|s| s.2 == 1).map(|s| s.0).collect();
    super::media::drop_sent(conn, &sent).await?;
    state::write_options(conn, &options).await?;
    heads::advance(conn, Queue::Outbox, &freed).await?;
    Ok(answers)
}
