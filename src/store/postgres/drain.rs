//! The drain's group commit in one round trip. A batch of plain completions (handled, no
//! replies, no state) and inbox claims, the whole of a busy worker loop's writes, is sent as
//! one multi-statement query: PostgreSQL runs it as one implicit transaction and answers once,
//! where the general path ([`apply`](crate::store::sql::apply)) costs a round trip per
//! statement plus `BEGIN` and `COMMIT`.
//!
//! The statements are the general path's, in its order, so the guarantees are the same:
//! 1. the lease check ([`inbox::LEASED`]) locks the finished heads (in conversation order);
//! 2. [`FINISH`], with a snapshot taken after those locks (so it sees every row an inserter
//!    that held one of them committed), deletes the held rows, moves each head to its
//!    conversation's next pending row or drops it, and notifies the other instances;
//! 3. each claim ([`inbox::CLAIM`]), which sees the heads just moved and may take them.
//!
//! One statement per step, not one data-modifying CTE: a CTE's reads all share the snapshot
//! taken before it waited for a head's lock, so it could miss the row of an insert that held
//! that lock and drop the head, leaving the row without one.
//!
//! The three statements are prepared once per connection ([`prepare`]) and the commit runs
//! them with `EXECUTE`. A multi-statement query has no parameters, so every value is inlined,
//! and only integers are (sequence numbers, tokens, times, limits) and the notification
//! channel when it is a plain identifier; anything else takes the general path.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::Either;
use sqlx::postgres::{PgConnection, PgRow};
use switchboard_core::Result;

use super::bounds::bounded;
use super::inbox;
use crate::store::sql::prepared::{Prepared, PreparedFinish};
use crate::store::sql::rows::{held, inbox_item};
use crate::store::sql::{Answer, Failed, Job, SqlRow, lease_span, limit};
use crate::store::{Claim, InboxItem, Lease, new_token};

/// `$1` seqs, `$2` tokens of finished leases (their heads locked by [`inbox::LEASED`] in the
/// same transaction): the rows whose lease holds leave the inbox, each head moves to its
/// conversation's next pending row (ready at once) or goes, as [`ADVANCE_INBOX`] and
/// [`DROP_INBOX`] do; notifies channel `$3` when a head was finished.
///
/// [`ADVANCE_INBOX`]: super::heads::ADVANCE_INBOX
/// [`DROP_INBOX`]: super::heads::DROP_INBOX
pub(super) const FINISH: &str = "WITH held AS (
       SELECT r.seq, r.conversation
         FROM UNNEST($1::bigint[], $2::bigint[]) AS l(seq, token)
         JOIN inbox AS r ON r.seq = l.seq AND r.state = 0
         JOIN inbox_heads AS h ON h.conversation = r.conversation AND h.seq = l.seq
                              AND h.token = l.token),
     gone AS (
       DELETE FROM inbox USING held WHERE inbox.seq = held.seq
       RETURNING inbox.seq, inbox.conversation),
     next AS (
       SELECT g.conversation,
              (SELECT i.seq FROM inbox AS i
                WHERE i.conversation = g.conversation AND i.state = 0 AND i.seq <> g.seq
                ORDER BY i.seq LIMIT 1) AS seq
         FROM gone AS g),
     moved AS (
       UPDATE inbox_heads AS h SET seq = n.seq, ready_at = 0, token = 0, attempts = 0,
                                   error = NULL
         FROM next AS n WHERE h.conversation = n.conversation AND n.seq IS NOT NULL
       RETURNING h.conversation),
     dropped AS (
       DELETE FROM inbox_heads AS h USING next AS n
        WHERE h.conversation = n.conversation AND n.seq IS NULL
       RETURNING h.conversation)
     SELECT pg_notify($3, 'inbox') FROM (SELECT 1 FROM gone LIMIT 1) AS finished";

/// A batch the one-round-trip path takes: its finishes and its claims, by job position.
pub(super) struct Drain<'a> {
    finishes: Vec<(usize, &'a [PreparedFinish])>,
    claims: Vec<(usize, &'a Claim)>,
}

/// The batch as a drain batch, when every job is an inbox claim or a finish whose every
/// outcome is handled without replies or state, and the channel is a plain identifier.
pub(super) fn plan<'a>(jobs: &[&'a Job], channel: &str) -> Option<Drain<'a>> {
    if !plain(channel) {
        return None;
    }
    let mut drain = Drain {
        finishes: vec![],
        claims: vec![],
    };
    for (i, job) in jobs.iter().enumerate() {
        match job {
            Job::ClaimInbox(claim) => drain.claims.push((i, claim)),
            Job::FinishInbox(rows) if rows.iter().all(bare) => {
                drain.finishes.push((i, rows.as_slice()));
            }
            _ => return None,
        }
    }
    Some(drain)
}

/// A completion that writes nothing but its own end.
fn bare(f: &PreparedFinish) -> bool {
    matches!(&f.outcome, Prepared::Done { outbox, state, .. } if outbox.is_empty() && state.is_empty())
}

fn plain(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An integer array literal: `'{1,2,3}'`.
fn array(values: impl Iterator<Item = i64>) -> String {
    let mut s = String::from("'{");
    for (i, v) in values.enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v}");
    }
    s.push_str("}'");
    s
}

impl Drain<'_> {
    /// Runs the batch on `conn` (outside any transaction) in one round trip; one answer per
    /// job, in `jobs` order (`count` of them).
    pub(super) async fn run(
        &self,
        conn: &mut PgConnection,
        bound: Option<Duration>,
        channel: &str,
        count: usize,
    ) -> std::result::Result<Vec<Answer>, Failed> {
        // Each lease once (a repeat is answered `false`, as the general path does).
        let all: Vec<Lease> = self
            .finishes
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|f| f.lease))
            .collect();
        let mut unique: Vec<Lease> = Vec::with_capacity(all.len());
        let mut seen = HashSet::new();
        for l in &all {
            if seen.insert(*l) {
                unique.push(*l);
            }
        }
        let mut sql = String::new();
        if !unique.is_empty() {
            let seqs = array(unique.iter().map(|l| l.seq));
            let tokens = array(unique.iter().map(|l| l.token));
            let _ = writeln!(sql, "EXECUTE sb_drain_leased({seqs}, {tokens});");
            let _ = writeln!(
                sql,
                "EXECUTE sb_drain_finish({seqs}, {tokens}, '{channel}');"
            );
        }
        let mut tokens = Vec::with_capacity(self.claims.len());
        for (_, claim) in &self.claims {
            let (now, until) = lease_span(claim);
            let token = new_token();
            tokens.push(token);
            let n = limit(claim.limit);
            let _ = writeln!(sql, "EXECUTE sb_drain_claim({now}, {until}, {token}, {n});");
        }
        let statements = bounded(bound, fetch(conn, sql)).await.map_err(|f| Failed {
            retry: f.retryable(),
            unreachable: f.unreachable(),
            error: f.error("drain commit"),
        })?;
        let mut statements = statements.into_iter();
        let mut answers: Vec<Option<Answer>> = (0..count).map(|_| None).collect();
        if !unique.is_empty() {
            let locked = statements.next().unwrap_or_default();
            let _finished = statements.next();
            let held = held(&locked)?;
            let held: HashSet<Lease> = held
                .keys()
                .filter_map(|&p| unique.get(p))
                .copied()
                .collect();
            let mut answered = HashSet::new();
            for (i, rows) in &self.finishes {
                let r = rows
                    .iter()
                    .map(|f| Ok(held.contains(&f.lease) && answered.insert(f.lease.seq)))
                    .collect();
                answers[*i] = Some(Answer::Finished(r));
            }
        }
        let mut claimed = 0;
        for ((i, _), token) in self.claims.iter().zip(tokens) {
            let rows = statements.next().unwrap_or_default();
            claimed += rows.len();
            answers[*i] = Some(Answer::Inbox(items(&rows, token)?));
        }
        tracing::trace!(finished = unique.len(), claimed, "drain commit");
        answers
            .into_iter()
            .map(|a| a.ok_or_else(|| Failed::from(crate::store::sql::writer::unexpected())))
            .collect()
    }
}

/// The names of the prepared statements ([`prepare`]).
const NAMES: [&str; 3] = ["sb_drain_leased", "sb_drain_finish", "sb_drain_claim"];

/// Prepares the drain's statements on `conn` (once per connection: their plans are kept, where
/// a plain multi-statement query is parsed and planned on each commit, about 1.5 ms here).
pub(super) async fn prepare(conn: &mut PgConnection) -> std::result::Result<(), sqlx::Error> {
    let found: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pg_prepared_statements WHERE name = ANY($1)")
            .bind(NAMES)
            .fetch_all(&mut *conn)
            .await?;
    if found.len() == NAMES.len() {
        return Ok(());
    }
    let mut sql = String::new();
    for name in found.iter().filter(|n| NAMES.contains(&n.as_str())) {
        let _ = writeln!(sql, "DEALLOCATE {name};");
    }
    let [leased, finish, claim] = NAMES;
    let _ = writeln!(
        sql,
        "PREPARE {leased}(bigint[], bigint[]) AS {};",
        inbox::LEASED
    );
    let _ = writeln!(
        sql,
        "PREPARE {finish}(bigint[], bigint[], text) AS {FINISH};"
    );
    let _ = writeln!(
        sql,
        "PREPARE {claim}(bigint, bigint, bigint, bigint) AS {};",
        inbox::CLAIM
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await?;
    Ok(())
}

/// Runs the statements of `sql` (one implicit transaction); the rows of each, in order.
async fn fetch(
    conn: &mut PgConnection,
    sql: String,
) -> std::result::Result<Vec<Vec<PgRow>>, sqlx::Error> {
    let mut statements = vec![];
    let mut rows = vec![];
    let mut stream = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(conn);
    while let Some(step) = stream.try_next().await? {
        match step {
            Either::Left(_) => statements.push(std::mem::take(&mut rows)),
            Either::Right(row) => rows.push(row),
        }
    }
    Ok(statements)
}

fn items(rows: &[PgRow], token: i64) -> Result<Vec<InboxItem>> {
    rows.iter()
        .map(|row| {
            let options: Option<String> = row.text_opt("options")?;
            inbox_item(row, row, token, options.as_deref())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals() {
        assert_eq!(array([1, -2, 3].into_iter()), "'{1,-2,3}'");
        assert_eq!(array(std::iter::empty()), "'{}'");
    }

    #[test]
    fn only_plain_channels() {
        assert!(plain("switchboard_public"));
        assert!(!plain("switchboard_a'b"));
        assert!(!plain(""));
    }
}
