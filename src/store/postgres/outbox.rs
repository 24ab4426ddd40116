//! Outbox rows: inserting (handler replies, application sends), claiming heads, reading a
//! row's status.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};
use switchboard_core::Result;

use super::{attempts, db, lease_span, limit, time_col};
use crate::store::{
    Claim, Lease, NewOutbound, OutboxItem, OutboxState, OutboxStatus, conversation_key, from_json,
    new_token, outbox_key_taken, to_json,
};

/// An outbox row ready for the writer: key, destination and message as JSON (byte
/// attachments replaced by their digests), and the bytes by attachment index.
pub(super) struct PreparedOutbound {
    pub(super) key: String,
    channel: String,
    conversation: String,
    target: String,
    message: String,
    media: Vec<(i64, bytes::Bytes)>,
}

impl PreparedOutbound {
    pub(super) fn new(o: &NewOutbound) -> Result<Self> {
        let split = crate::store::media::split(&o.message)?;
        Ok(PreparedOutbound {
            key: o.key.clone(),
            channel: o.to.channel.as_str().to_owned(),
            conversation: conversation_key(&o.to),
            target: to_json("target", &o.to)?,
            message: split.json,
            media: split.media,
        })
    }
}

/// `$1` keys, `$2` channels, `$3` conversations, `$4` targets, `$5` messages at `$6`, in
/// order; returns the seqs.
pub(super) const INSERT_ROWS: &str =
    "INSERT INTO outbox (key, channel, conversation, target, message, created_at)
     SELECT r.key, r.channel, r.conversation, r.target, r.message, $6
       FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
            AS r(key, channel, conversation, target, message, i)
      ORDER BY r.i
     RETURNING seq, conversation, key";

/// `$1` conversations (sorted), `$2` each one's first new row: the row becomes the
/// conversation's head unless it has one (see the inbox's `INSERT_HEADS` for the lock).
pub(super) const INSERT_HEADS: &str = "INSERT INTO outbox_heads (conversation, seq)
     SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (conversation) DO UPDATE SET seq = outbox_heads.seq";

/// Inserts rows whose keys are known to be new, at the end of their conversations.
pub(super) async fn insert_rows(
    conn: &mut PgConnection,
    rows: &[&PreparedOutbound],
    now: i64,
) -> Result<()> {
    let seqs = sqlx::query(INSERT_ROWS)
        .bind(rows.iter().map(|o| o.key.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|o| o.channel.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|o| o.conversation.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|o| o.target.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|o| o.message.as_str()).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("outbox insert"))?;
    let mut heads: BTreeMap<String, i64> = BTreeMap::new();
    let with_media: HashMap<&str, &[(i64, bytes::Bytes)]> = rows
        .iter()
        .filter(|o| !o.media.is_empty())
        .map(|o| (o.key.as_str(), o.media.as_slice()))
        .collect();
    for row in &seqs {
        let seq: i64 = row.try_get(0).map_err(db("outbox insert"))?;
        let conversation: String = row.try_get(1).map_err(db("outbox insert"))?;
        let first = heads.entry(conversation).or_insert(seq);
        *first = (*first).min(seq);
        if !with_media.is_empty() {
            let key: &str = row.try_get(2).map_err(db("outbox insert"))?;
            if let Some(media) = with_media.get(key) {
                super::media::insert(conn, seq, media).await?;
            }
        }
    }
    sqlx::query(INSERT_HEADS)
        .bind(heads.keys().map(String::as_str).collect::<Vec<_>>())
        .bind(heads.values().copied().collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db("outbox insert"))?;
    Ok(())
}

/// What the keys `$1` hold.
pub(super) const HELD: &str = "SELECT key, target, message FROM outbox WHERE key = ANY($1)";

/// Application sends: all or nothing. `Ok(Err(..))` when a key holds another row (nothing
/// written); per row, whether it was new.
pub(super) async fn enqueue(
    conn: &mut PgConnection,
    rows: &[PreparedOutbound],
    now: i64,
) -> Result<Result<Vec<bool>>> {
    let keys: Vec<&str> = rows.iter().map(|o| o.key.as_str()).collect();
    let mut held: HashMap<String, (String, String)> = HashMap::new();
    for row in sqlx::query(HELD)
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("enqueue"))?
    {
        let key: String = row.try_get(0).map_err(db("enqueue"))?;
        let target: String = row.try_get(1).map_err(db("enqueue"))?;
        let message: String = row.try_get(2).map_err(db("enqueue"))?;
        held.insert(key, (target, message));
    }
    // Compared as JSON values, not text, so a different key order is still the same row.
    let same = |a: &str, b: &str| {
        serde_json::from_str::<serde_json::Value>(a).ok()
            == serde_json::from_str::<serde_json::Value>(b).ok()
    };
    let mut new = Vec::with_capacity(rows.len());
    let mut fresh: Vec<&PreparedOutbound> = Vec::new();
    for o in rows {
        let earlier = fresh
            .iter()
            .find(|f| f.key == o.key)
            .map(|f| (f.target.as_str(), f.message.as_str()));
        let holder = earlier.or_else(|| held.get(&o.key).map(|(t, m)| (t.as_str(), m.as_str())));
        match holder {
            Some((t, m)) if same(t, &o.target) && same(m, &o.message) => new.push(false),
            Some(_) => return Ok(Err(outbox_key_taken(&o.key))),
            None => {
                fresh.push(o);
                new.push(true);
            }
        }
    }
    if !fresh.is_empty() {
        insert_rows(conn, &fresh, now).await?;
    }
    Ok(Ok(new))
}

/// Leases up to `$4` ready heads until `$2` with token `$3` (see the inbox's claim). In SET,
/// `inflight` on the right is the old value: a claim that finds it set knows the previous
/// claim never recorded an outcome, and one that finds 2 that a send had begun.
pub(super) const CLAIM: &str = "WITH due AS (
       SELECT conversation FROM outbox_heads WHERE ready_at > 0 AND ready_at <= $1
        ORDER BY ready_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED),
     fresh AS (
       SELECT conversation FROM outbox_heads WHERE ready_at = 0
        ORDER BY seq LIMIT GREATEST($4 - (SELECT count(*) FROM due), 0) FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE outbox_heads AS h SET token = $3, ready_at = $2, attempts = h.attempts + 1,
              interrupted = h.inflight <> 0, uncertain = (h.uncertain OR h.inflight = 2),
              inflight = 1
         FROM (SELECT conversation FROM due UNION ALL SELECT conversation FROM fresh) AS p
        WHERE h.conversation = p.conversation
       RETURNING h.seq, h.attempts, h.interrupted, h.uncertain, h.first_attempt_at,
                 h.last_attempt_at)
     SELECT c.*, o.key, o.target, o.message
       FROM claimed AS c JOIN outbox AS o ON o.seq = c.seq
      ORDER BY c.seq";

pub(super) async fn claim(conn: &mut PgConnection, claim: &Claim) -> Result<Vec<OutboxItem>> {
    let (now, until) = lease_span(claim);
    let token = new_token();
    let rows = sqlx::query(CLAIM)
        .bind(now)
        .bind(until)
        .bind(token)
        .bind(limit(claim.limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claim outbox"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get("seq").map_err(db("claim outbox"))?;
        let target: &str = row.try_get("target").map_err(db("claim outbox"))?;
        let message: &str = row.try_get("message").map_err(db("claim outbox"))?;
        let mut item = OutboxItem::new(
            Lease::new(seq, token),
            row.try_get::<String, _>("key")
                .map_err(db("claim outbox"))?,
            from_json("target", target)?,
            from_json("message", message)?,
            attempts(row, "attempts")?,
        );
        item.interrupted = row.try_get("interrupted").map_err(db("claim outbox"))?;
        item.uncertain = row.try_get("uncertain").map_err(db("claim outbox"))?;
        item.first_attempt_at = time_col(row, "first_attempt_at")?;
        item.last_attempt_at = time_col(row, "last_attempt_at")?;
        out.push(item);
    }
    super::media::restore_claimed(conn, &mut out).await?;
    Ok(out)
}

/// The row with key `$1` and, while it is its conversation's head, the head's claim state.
pub(super) const STATUS: &str = "SELECT o.state, o.message_ids, o.delivery,
            COALESCE(h.attempts, o.attempts) AS attempts,
            CASE WHEN h.seq IS NULL THEN o.error ELSE h.error END AS error,
            CASE WHEN h.seq IS NULL THEN o.first_attempt_at ELSE h.first_attempt_at END AS first_attempt_at,
            CASE WHEN h.seq IS NULL THEN o.last_attempt_at ELSE h.last_attempt_at END AS last_attempt_at,
            COALESCE(h.uncertain, o.uncertain) AS uncertain
       FROM outbox AS o
       LEFT JOIN outbox_heads AS h ON h.conversation = o.conversation AND h.seq = o.seq
                                  AND o.state = 0
      WHERE o.key = $1";

pub(super) async fn status(pool: &PgPool, key: &str) -> Result<Option<OutboxStatus>> {
    let row = sqlx::query(STATUS)
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(db("outbox status"))?;
    let Some(row) = row else { return Ok(None) };
    let state: i64 = row.try_get("state").map_err(db("outbox status"))?;
    let ids: Option<String> = row.try_get("message_ids").map_err(db("outbox status"))?;
    let delivery: Option<String> = row.try_get("delivery").map_err(db("outbox status"))?;
    let mut st = OutboxStatus::new(match state {
        0 => OutboxState::Pending,
        1 => OutboxState::Sent,
        _ => OutboxState::Dead,
    });
    st.attempts = attempts(&row, "attempts")?;
    st.message_ids = ids
        .map(|s| from_json("message ids", &s))
        .transpose()?
        .unwrap_or_default();
    st.delivery = delivery.map(|s| from_json("delivery", &s)).transpose()?;
    st.error = row.try_get("error").map_err(db("outbox status"))?;
    st.first_attempt_at = time_col(&row, "first_attempt_at")?;
    st.last_attempt_at = time_col(&row, "last_attempt_at")?;
    st.uncertain = row.try_get("uncertain").map_err(db("outbox status"))?;
    Ok(Some(st))
}
