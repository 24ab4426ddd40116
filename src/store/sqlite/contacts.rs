//! The policy facts' writes on SQLite ([`Store::contact`](crate::store::Store::contact); the
//! reads are shared, in `sql::rows`): two set-based upserts in the inbound insert's transaction,
//! each batch one JSON array.

use rusqlite::Connection;
use switchboard_core::Result;

use crate::store::contacts::ContactWrites;
use crate::store::sql::Param;
use crate::store::to_json;

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

/// Writes `writes` (one row per key) in the open transaction.
pub(super) fn upsert(conn: &Connection, writes: &ContactWrites<'_>) -> Result<()> {
    if !writes.inbound.is_empty() {
        let rows = to_json("contacts", &writes.inbound)?;
        super::native::execute(
            conn,
            "insert inbound: contacts",
            UPSERT_INBOUND,
            &[Param::Text(&rows)],
        )?;
    }
    if !writes.consent.is_empty() {
        let rows: Vec<(&str, &str, bool, &str, i64)> = writes
            .consent
            .iter()
            .map(|(c, r)| (*c, r.scope.as_str(), r.opted_out, r.keyword.as_str(), r.at))
            .collect();
        let rows = to_json("consent", &rows)?;
        super::native::execute(
            conn,
            "insert inbound: consent",
            UPSERT_CONSENT,
            &[Param::Text(&rows)],
        )?;
    }
    Ok(())
}
