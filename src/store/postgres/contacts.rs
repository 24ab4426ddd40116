//! The policy facts ([`Store::contact`](crate::store::Store::contact)): written by the inbound
//! insert in its transaction (two set-based upserts, only when the batch has customer messages
//! or keywords; rows in key order, so that two instances upserting the same conversations never
//! deadlock), read by primary key.

use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};
use switchboard_core::Result;
use switchboard_core::model::time::from_millis;
use switchboard_core::policy::{Contact, OptOut};

use super::db;
use crate::store::contacts::{ContactWrites, EventContact};

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

/// Records what the batch's new events bring, `(conversation key, facts)` in insertion order.
pub(super) async fn record<'a>(
    conn: &mut PgConnection,
    events: impl IntoIterator<Item = (&'a str, &'a EventContact)>,
) -> Result<()> {
    let mut writes = ContactWrites::of(events);
    if !writes.inbound.is_empty() {
        writes.inbound.sort_unstable();
        sqlx::query(UPSERT_INBOUND)
            .bind(writes.inbound.iter().map(|(c, _)| *c).collect::<Vec<_>>())
            .bind(writes.inbound.iter().map(|(_, t)| *t).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound: contacts"))?;
    }
    if !writes.consent.is_empty() {
        let c = &mut writes.consent;
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

/// The facts of `conversation`, with the opt-out in force under `scope`: one round trip.
pub(super) async fn contact(
    pool: &PgPool,
    conversation: &str,
    scope: Option<&str>,
) -> Result<Contact> {
    let row = sqlx::query(
        "SELECT (SELECT last_inbound_at FROM contacts WHERE conversation = $1),
                c.keyword, c.at
           FROM (SELECT 1) AS one
           LEFT JOIN consent AS c
             ON c.conversation = $1 AND c.scope = $2 AND c.opted_out",
    )
    .bind(conversation)
    .bind(scope)
    .fetch_one(pool)
    .await
    .map_err(db("contact"))?;
    let last: Option<i64> = row.try_get(0).map_err(db("contact"))?;
    let keyword: Option<String> = row.try_get(1).map_err(db("contact"))?;
    let at: Option<i64> = row.try_get(2).map_err(db("contact"))?;
    let opted_out = keyword.zip(at).map(|(keyword, at)| OptOut {
        keyword,
        at: from_millis(at),
    });
    Ok(Contact::new(last.map(from_millis), opted_out))
}
