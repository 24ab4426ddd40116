//! Changes to claimed outbox rows, merged across callers: attempts, parts sent, releases
//! (retry, retry uncertain, defer, reconcile later), sent, dead letters.

use std::collections::{HashMap, HashSet};

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use switchboard_core::Result;
use switchboard_core::model::MessageId;

use super::{db, heads, json, state};
use crate::store::{OutboxChange, OutboxUpdate, Queue, millis, to_json};

/// `[[seq, token], …]` → the positions whose lease holds, with conversation and channel.
pub(super) const LEASED: &str = "SELECT j.key, o.conversation, o.channel FROM json_each(?1) AS j
     JOIN outbox AS o ON o.seq = j.value ->> 0 AND o.state = 0
     JOIN outbox_heads AS h ON h.conversation = o.conversation AND h.seq = o.seq
                           AND h.token = j.value ->> 1";

/// `[[conversation, at], …]`: a send begins (durable before the request goes out).
pub(super) const ATTEMPT: &str = "UPDATE outbox_heads SET inflight = 2, uncertain = 0,
            first_attempt_at = COALESCE(first_attempt_at, j.value ->> 1),
            last_attempt_at = j.value ->> 1
       FROM json_each(?1) AS j WHERE outbox_heads.conversation = j.value ->> 0";

/// `[[seq, message ids json], …]`: the provider ids of the parts sent so far.
pub(super) const MESSAGE_IDS: &str = "UPDATE outbox SET message_ids = j.value ->> 1
       FROM json_each(?1) AS j WHERE outbox.seq = j.value ->> 0";

/// `[[channel, message id, seq], …]`: receipts for those ids find the row.
pub(super) const MAP_IDS: &str =
    "INSERT OR REPLACE INTO sent_messages (channel, message_id, outbox_seq)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?1) AS j";

/// `[[conversation, why, at, uncounted (0|1), uncertain (0|1)], …]`: released heads.
pub(super) const RELEASE: &str =
    "UPDATE outbox_heads SET error = j.value ->> 1, ready_at = j.value ->> 2,
            token = 0, inflight = 0, attempts = MAX(attempts - (j.value ->> 3), 0),
            uncertain = MAX(uncertain, j.value ->> 4)
       FROM json_each(?1) AS j WHERE outbox_heads.conversation = j.value ->> 0";

/// `[[seq, conversation, state (1|2), message ids json, error], …]` at `?2`: the rows leave
/// the queue with their head's final claim state.
pub(super) const SETTLE: &str = "UPDATE outbox SET state = j.value ->> 2,
            sent_at = CASE WHEN j.value ->> 2 = 1 THEN ?2 ELSE sent_at END,
            message_ids = COALESCE(j.value ->> 3, message_ids), error = j.value ->> 4,
            attempts = h.attempts, first_attempt_at = h.first_attempt_at,
            last_attempt_at = h.last_attempt_at,
            uncertain = CASE WHEN j.value ->> 2 = 1 THEN 0 ELSE h.uncertain END,
            inflight = 0
       FROM json_each(?1) AS j JOIN outbox_heads AS h ON h.conversation = j.value ->> 1
      WHERE outbox.seq = j.value ->> 0";

/// Applies the changes in order; one answer per item.
pub(super) async fn update(
    conn: &mut SqliteConnection,
    items: &[&OutboxUpdate],
) -> Result<Vec<bool>> {
    let now = millis(std::time::SystemTime::now());
    let leases: Vec<(i64, i64)> = items.iter().map(|u| (u.lease.seq, u.lease.token)).collect();
    let mut held: HashMap<usize, (String, String)> = HashMap::new();
    for row in sqlx::query(LEASED)
        .bind(json("leases", &leases)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("update outbox"))?
    {
        let i: i64 = row.try_get(0).map_err(db("update outbox"))?;
        let conversation: String = row.try_get(1).map_err(db("update outbox"))?;
        let channel: String = row.try_get(2).map_err(db("update outbox"))?;
        held.insert(
            usize::try_from(i).unwrap_or(usize::MAX),
            (conversation, channel),
        );
    }
    let mut answers = Vec::with_capacity(items.len());
    let mut finished = HashSet::new();
    let (mut attempts, mut ids, mut mapped, mut releases, mut settled, mut freed) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
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
            mapped.extend(
                list.iter()
                    .map(|id| (channel.clone(), id.as_str().to_owned(), seq)),
            );
            to_json("message ids", &list)
        };
        let release = |why: &str, at: std::time::SystemTime, uncounted: bool, uncertain: bool| {
            (
                conv,
                why.to_owned(),
                millis(at),
                i64::from(uncounted),
                i64::from(uncertain),
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
                settled.push((seq, conv, 1, Some(list), None::<&str>));
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
    let steps: [(&str, Option<String>); 5] = [
        (ATTEMPT, nonempty("attempts", &attempts)?),
        (MESSAGE_IDS, nonempty("message ids", &ids)?),
        (MAP_IDS, nonempty("sent messages", &mapped)?),
        (RELEASE, nonempty("releases", &releases)?),
        (SETTLE, nonempty("settled", &settled)?),
    ];
    for (sql, batch) in steps {
        let Some(batch) = batch else { continue };
        let mut query = sqlx::query(sql).bind(batch);
        if sql == SETTLE {
            query = query.bind(now);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(db("update outbox"))?;
    }
    let sent: Vec<i64> = settled.iter().filter(|s| s.2 == 1).map(|s| s.0).collect();
    super::media::drop_sent(conn, &sent).await?;
    if !mapped.is_empty() {
        // Delivery receipts that came before these ids were recorded.
        super::pending::apply(conn, &json("sent messages", &mapped)?).await?;
    }
    state::write_options(conn, &options).await?;
    heads::advance(conn, Queue::Outbox, &freed).await?;
    Ok(answers)
}

/// `items` as a JSON array, or `None` when there are none.
fn nonempty<T: serde::Serialize>(what: &str, items: &[T]) -> Result<Option<String>> {
    if items.is_empty() {
        Ok(None)
    } else {
        json(what, &items).map(Some)
    }
}
