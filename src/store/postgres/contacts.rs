//! The policy facts' writes on PostgreSQL ([`Store::contact`](crate::store::Store::contact);
//! the reads are shared, in `sql::rows`): two set-based upserts in the inbound insert's
//! transaction, rows in key order so that two instances upserting the same conversations never
//! deadlock.

use sqlx::postgres::PgConnection;
use switchboard_core::Result;

use crate::store::contacts::{ConsentRow, ContactWrites};
use crate::store::sql::db;

/// `$1` conversations, `$2` last inbound ms: the time only moves forward.
const UPSERT_INBOUND: &str = "INSERT INTO contacts (conversation, last_inbound_at)
     SELECT * FROM UNNEST($1::text[], $2::bigint[])
     ON CONFLICT (conversation) DO UPDATE
        SET last_inbound_at = GREATEST(contacts.last_inbound_at, excluded.last_inbound_at)";

/// `$1` conversations, `$2` scopes, `$3` opted out, `$4` keywords, `$5` times: a change
/// replaces an earlier one.
const UPSERT_CONSENT: &str = "INSERT INTO consent (conversation, scope, opted_out, keyword, at)
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::boolean[], $4::text[], $5::bigint[])
     ON CONFLICT (conversation, scope) DO UPDATE
        SET opted_out = excluded.opted_out, keyword = excluded.keyword, at = excluded.at
      WHERE excluded.at >= consent.at";

/// Writes `writes` (one row per key) in the open transaction.
pub(super) async fn upsert(conn: &mut PgConnection, writes: &ContactWrites<'_>) -> Result<()> {
    if !writes.inbound.is_empty() {
        let mut inbound = writes.inbound.clone();
        inbound.sort_unstable();
        sqlx::query(UPSERT_INBOUND)
            .bind(inbound.iter().map(|(c, _)| *c).collect::<Vec<_>>())
            .bind(inbound.iter().map(|(_, t)| *t).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound: contacts"))?;
    }
    if !writes.consent.is_empty() {
        let mut c: Vec<(&str, &ConsentRow)> = writes.consent.clone();
        c.sort_unstable_by(|a, b| (a.0, a.1.scope.as_str()).cmp(&(b.0, b.1.scope.as_str())));
        sqlx::query(UPSERT_CONSENT)
            .bind(c.iter().map(|(k, _)| *k).collect::<Vec<_>>())
            .bind(c.iter().map(|(_, r)| r.scope.as_str()).collect::<Vec<_>>())
            .bind(c.iter().map(|(_, r)| r.opted_out).collect::<Vec<_>>())
            .bind(
                c.iter()
                    .map(|(_, r)| r.keyword.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(c.iter().map(|(_, r)| r.at).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound: consent"))?;
    }
    Ok(())
}
