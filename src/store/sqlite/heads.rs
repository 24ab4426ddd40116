//! The heads of both queues: moving a finished head to its conversation's next pending row
//! (or removing it), renewing leases, releasing the leases of a dead engine at start-up.

use std::collections::HashSet;

use std::collections::HashMap;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use switchboard_core::Result;

use super::{db, json, lease_span};
use crate::store::{Claim, Lease, Queue, new_token};

/// Runs a claim statement (`?1` now, `?2` the lease's end, `?3` the token, `?4` the limit;
/// returning `seq` first), then reads the claimed rows with `rows` (`?1` a JSON array of
/// seqs; `seq` first). Returns the token and each claimed head with its row, by sequence.
pub(super) async fn claim(
    conn: &mut SqliteConnection,
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
        .bind(i64::try_from(claim.limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
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
        .fetch_all(&mut *conn)
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

/// `[conversation, …]` whose head row was handled or dead-lettered: the next pending row
/// becomes the head, ready at once.
pub(super) const ADVANCE_INBOX: &str =
    "UPDATE inbox_heads SET seq = n.next, ready_at = 0, token = 0, attempts = 0, error = NULL
       FROM (SELECT c.value AS conversation,
                    (SELECT seq FROM inbox WHERE conversation = c.value AND state = 0
                      ORDER BY seq LIMIT 1) AS next
               FROM json_each(?1) AS c) AS n
      WHERE inbox_heads.conversation = n.conversation AND n.next IS NOT NULL";

/// `[conversation, …]` left without pending rows lose their head.
pub(super) const DROP_INBOX: &str =
    "DELETE FROM inbox_heads WHERE conversation IN (SELECT value FROM json_each(?1))
        AND NOT EXISTS (SELECT 1 FROM inbox
                         WHERE inbox.conversation = inbox_heads.conversation AND state = 0)";

/// Like [`ADVANCE_INBOX`] for the outbox, whose sent rows also stay in the table.
pub(super) const ADVANCE_OUTBOX: &str =
    "UPDATE outbox_heads SET seq = n.next, ready_at = 0, token = 0, attempts = 0, error = NULL,
                             inflight = 0, interrupted = 0, uncertain = 0,
                             first_attempt_at = NULL, last_attempt_at = NULL
       FROM (SELECT c.value AS conversation,
                    (SELECT seq FROM outbox WHERE conversation = c.value AND state = 0
                      ORDER BY seq LIMIT 1) AS next
               FROM json_each(?1) AS c) AS n
      WHERE outbox_heads.conversation = n.conversation AND n.next IS NOT NULL";

/// Like [`DROP_INBOX`] for the outbox.
pub(super) const DROP_OUTBOX: &str =
    "DELETE FROM outbox_heads WHERE conversation IN (SELECT value FROM json_each(?1))
        AND NOT EXISTS (SELECT 1 FROM outbox
                         WHERE outbox.conversation = outbox_heads.conversation AND state = 0)";

/// The conversations' head rows left the queue (handled, sent, dead): each gets its next
/// pending row as head, or none.
pub(super) async fn advance(
    conn: &mut SqliteConnection,
    queue: Queue,
    conversations: &[&str],
) -> Result<()> {
    if conversations.is_empty() {
        return Ok(());
    }
    let (advance, drop) = match queue {
        Queue::Outbox => (ADVANCE_OUTBOX, DROP_OUTBOX),
        _ => (ADVANCE_INBOX, DROP_INBOX),
    };
    let conversations = json("conversations", &conversations)?;
    for sql in [advance, drop] {
        sqlx::query(sql)
            .bind(&conversations)
            .execute(&mut *conn)
            .await
            .map_err(db("advance heads"))?;
    }
    Ok(())
}

/// `[[seq, token], …]`: held inbox leases run until `?2`; returns the leases renewed.
pub(super) const RENEW_INBOX: &str = "UPDATE inbox_heads SET ready_at = ?2
       FROM (SELECT j.value ->> 0 AS seq, j.value ->> 1 AS token, i.conversation
               FROM json_each(?1) AS j JOIN inbox AS i ON i.seq = j.value ->> 0) AS l
      WHERE inbox_heads.conversation = l.conversation AND inbox_heads.seq = l.seq
        AND inbox_heads.token = l.token
      RETURNING inbox_heads.seq, inbox_heads.token";

/// Like [`RENEW_INBOX`] for the outbox.
pub(super) const RENEW_OUTBOX: &str = "UPDATE outbox_heads SET ready_at = ?2
       FROM (SELECT j.value ->> 0 AS seq, j.value ->> 1 AS token, o.conversation
               FROM json_each(?1) AS j JOIN outbox AS o ON o.seq = j.value ->> 0) AS l
      WHERE outbox_heads.conversation = l.conversation AND outbox_heads.seq = l.seq
        AND outbox_heads.token = l.token
      RETURNING outbox_heads.seq, outbox_heads.token";

pub(super) async fn renew(
    conn: &mut SqliteConnection,
    queue: Queue,
    leases: &[Lease],
    until: i64,
) -> Result<Vec<bool>> {
    let sql = match queue {
        Queue::Outbox => RENEW_OUTBOX,
        _ => RENEW_INBOX,
    };
    let pairs: Vec<(i64, i64)> = leases.iter().map(|l| (l.seq, l.token)).collect();
    let renewed: HashSet<(i64, i64)> = sqlx::query(sql)
        .bind(json("leases", &pairs)?)
        .bind(until)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("renew leases"))?
        .iter()
        .map(|r| Ok::<_, sqlx::Error>((r.try_get::<i64, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect::<std::result::Result<_, _>>()
        .map_err(db("renew leases"))?;
    Ok(leases
        .iter()
        .map(|l| renewed.contains(&(l.seq, l.token)))
        .collect())
}

/// Leases still running at `?1` are released (ready at once); expired ones are already ready.
pub(super) const RELEASE_INBOX: &str =
    "UPDATE inbox_heads SET ready_at = 0, token = 0 WHERE ready_at > ?1 AND token != 0";

/// Like [`RELEASE_INBOX`] for the outbox; `inflight` stays, so the next claim knows the row
/// was interrupted (and uncertain, if a send had begun).
pub(super) const RELEASE_OUTBOX: &str =
    "UPDATE outbox_heads SET ready_at = 0, token = 0 WHERE ready_at > ?1 AND token != 0";
