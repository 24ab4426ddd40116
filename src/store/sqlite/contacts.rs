//! The policy facts ([`Store::contact`](crate::store::Store::contact)): written by the inbound
//! insert in its transaction (two set-based upserts, only when the batch has customer messages
//! or keywords), read by primary key.

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use switchboard_core::Result;
use switchboard_core::policy::{Contact, OptOut};

use super::{db, json};
use crate::store::contacts::{ContactWrites, EventContact};

/// `[[conversation, last inbound ms], …]`: the time only moves forward.
pub(super) const UPSERT_INBOUND: &str = "INSERT INTO contacts (conversation, last_inbound_at)
     SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j WHERE true
     ON CONFLICT (conversation) DO UPDATE
        SET last_inbound_at = MAX(last_inbound_at, excluded.last_inbound_at)";

/// `[[conversation, scope, opted out, keyword, at], …]`: a change replaces an earlier one.
pub(super) const UPSERT_CONSENT: &str =
    "INSERT INTO consent (conversation, scope, opted_out, keyword, at)
     SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4
       FROM json_each(?1) AS j WHERE true
     ON CONFLICT (conversation, scope) DO UPDATE
        SET opted_out = excluded.opted_out, keyword = excluded.keyword, at = excluded.at
      WHERE excluded.at >= consent.at";

/// `?1` conversation: its last inbound time.
pub(super) const LAST_INBOUND: &str =
    "SELECT last_inbound_at FROM contacts WHERE conversation = ?1";

/// `?1` conversation, `?2` scope: the opt-out in force.
pub(super) const OPTED_OUT: &str = "SELECT keyword, at FROM consent
      WHERE conversation = ?1 AND scope = ?2 AND opted_out = 1";

/// Records what the batch's new events bring, `(conversation key, facts)` in insertion order.
pub(super) async fn record<'a>(
    conn: &mut SqliteConnection,
    events: impl IntoIterator<Item = (&'a str, &'a EventContact)>,
) -> Result<()> {
    let writes = ContactWrites::of(events);
    if !writes.inbound.is_empty() {
        sqlx::query(UPSERT_INBOUND)
            .bind(json("contacts", &writes.inbound)?)
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound: contacts"))?;
    }
    if !writes.consent.is_empty() {
        let rows: Vec<(&str, &str, bool, &str, i64)> = writes
            .consent
            .iter()
            .map(|(c, r)| (*c, r.scope.as_str(), r.opted_out, r.keyword.as_str(), r.at))
            .collect();
        sqlx::query(UPSERT_CONSENT)
            .bind(json("consent", &rows)?)
            .execute(&mut *conn)
            .await
            .map_err(db("insert inbound: consent"))?;
    }
    Ok(())
}

/// The facts of `conversation`, with the opt-out in force under `scope`.
pub(super) async fn contact(
    pool: &SqlitePool,
    conversation: &str,
    scope: Option<&str>,
) -> Result<Contact> {
    let last: Option<i64> = sqlx::query(LAST_INBOUND)
        .bind(conversation)
        .fetch_optional(pool)
        .await
        .map_err(db("contact"))?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(db("contact"))?;
    let mut opted_out = None;
    if let Some(scope) = scope
        && let Some(row) = sqlx::query(OPTED_OUT)
            .bind(conversation)
            .bind(scope)
            .fetch_optional(pool)
            .await
            .map_err(db("contact"))?
    {
        opted_out = Some(OptOut {
            keyword: row.try_get(0).map_err(db("contact"))?,
            at: switchboard_core::model::time::from_millis(row.try_get(1).map_err(db("contact"))?),
        });
    }
    Ok(Contact::new(
        last.map(switchboard_core::model::time::from_millis),
        opted_out,
    ))
}
