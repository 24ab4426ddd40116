//! Rows into the store's types, and the statements both dialects run as written: scalar
//! parameters in `$n` form (SQLite reads `$1` as `?1`), `BIGINT` columns (SQLite stores any
//! integer; PostgreSQL's columns are all `BIGINT`), flags read as booleans (SQLite's 0/1
//! integers decode as `bool`).

use std::collections::HashMap;
use std::time::SystemTime;

use switchboard_core::model::MessageId;
use switchboard_core::model::time::from_millis;
use switchboard_core::{ChannelName, Result};

use super::db;
use crate::store::{
    ContactFacts, DeadLetter, DeadLetterKind, InboxItem, Lease, OptOut, OutboxItem, OutboxState,
    OutboxStatus, SendProof, StoreStats, from_json,
};

/// A parameter of a shared statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// A `BIGINT`.
    Int(i64),
    /// A `TEXT`.
    Text(&'a str),
    /// A nullable `TEXT`.
    OptText(Option<&'a str>),
    /// A `BLOB` (SQLite) or `BYTEA` (PostgreSQL).
    Bytes(&'a [u8]),
}

/// `sql` (a shared statement) with its parameters bound, for either dialect.
pub(crate) fn bind<'q, DB>(
    sql: &'static str,
    params: &[Param<'q>],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    params.iter().fold(sqlx::query(sql), |q, p| match *p {
        Param::Int(n) => q.bind(n),
        Param::Text(s) => q.bind(s),
        Param::OptText(s) => q.bind(s),
        Param::Bytes(b) => q.bind(b),
    })
}

/// The columns of a row, by name, as the few types the store reads.
pub(crate) trait SqlRow {
    /// A `BIGINT` column.
    fn int(&self, col: &str) -> Result<i64>;
    /// A nullable `BIGINT` column.
    fn int_opt(&self, col: &str) -> Result<Option<i64>>;
    /// A `TEXT` column.
    fn text(&self, col: &str) -> Result<String>;
    /// A nullable `TEXT` column.
    fn text_opt(&self, col: &str) -> Result<Option<String>>;
    /// A flag (`BOOLEAN` on PostgreSQL, 0/1 on SQLite).
    fn flag(&self, col: &str) -> Result<bool>;
    /// A `BLOB` (SQLite) or `BYTEA` (PostgreSQL) column.
    fn bytes(&self, col: &str) -> Result<Vec<u8>>;
}

impl<R> SqlRow for R
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    i64: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    String: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    bool: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    Vec<u8>: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
{
    fn int(&self, col: &str) -> Result<i64> {
        self.try_get(col).map_err(db("row"))
    }
    fn int_opt(&self, col: &str) -> Result<Option<i64>> {
        self.try_get(col).map_err(db("row"))
    }
    fn text(&self, col: &str) -> Result<String> {
        self.try_get(col).map_err(db("row"))
    }
    fn text_opt(&self, col: &str) -> Result<Option<String>> {
        self.try_get(col).map_err(db("row"))
    }
    fn flag(&self, col: &str) -> Result<bool> {
        self.try_get(col).map_err(db("row"))
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.try_get(col).map_err(db("row"))
    }
}

/// A count column as `u32` (attempts).
pub(crate) fn attempts(row: &impl SqlRow, col: &str) -> Result<u32> {
    Ok(u32::try_from(row.int(col)?).unwrap_or(u32::MAX))
}

/// A time column (milliseconds), if set.
pub(crate) fn time(row: &impl SqlRow, col: &str) -> Result<Option<SystemTime>> {
    Ok(row.int_opt(col)?.map(from_millis))
}

/// The leases that hold: position → (conversation, channel).
pub(crate) type Held = HashMap<usize, (String, String)>;

/// Rows of a lease check (`pos`, `conversation`, `channel`): position → (conversation,
/// channel).
#[cfg(feature = "postgres")]
pub(crate) fn held(rows: &[impl SqlRow]) -> Result<Held> {
    rows.iter()
        .map(|row| {
            let pos = usize::try_from(row.int("pos")?).unwrap_or(usize::MAX);
            Ok((pos, (row.text("conversation")?, row.text("channel")?)))
        })
        .collect()
}

/// A claimed inbox head (`attempts`) with its row (`seq`, `event`) and its conversation's live
/// options, leased with `token` (PostgreSQL returns both in one row).
#[cfg(feature = "postgres")]
pub(crate) fn inbox_item(
    head: &impl SqlRow,
    row: &impl SqlRow,
    token: i64,
    options: Option<&str>,
) -> Result<InboxItem> {
    let (event, raw) = (row.text("event")?, row.text_opt("raw")?);
    claimed_event(
        Lease::new(row.int("seq")?, token),
        &event,
        raw.as_deref(),
        attempts(head, "attempts")?,
        options,
    )
}

/// A claimed event from its columns: the event's JSON, the raw payload it shares with other
/// events of its request (see `store::raw`), and its conversation's live options (JSON).
pub(crate) fn claimed_event(
    lease: Lease,
    event: &str,
    raw: Option<&str>,
    attempts: u32,
    options: Option<&str>,
) -> Result<InboxItem> {
    let mut event: switchboard_core::InboundEvent = from_json("event", event)?;
    if let Some(raw) = raw {
        event.raw = from_json("raw payload", raw)?;
    }
    let mut item = InboxItem::new(lease, event, attempts);
    if let Some(o) = options {
        item.options = from_json("options", o)?;
    }
    Ok(item)
}

/// A claimed outbox head (`attempts`, `interrupted`, `uncertain`, `first_attempt_at`,
/// `last_attempt_at`) with its row (`seq`, `key`, `target`, `message`), leased with `token`
/// (PostgreSQL returns both in one row).
pub(crate) fn outbox_item(head: &impl SqlRow, row: &impl SqlRow, token: i64) -> Result<OutboxItem> {
    let mut item = OutboxItem::new(
        Lease::new(row.int("seq")?, token),
        row.text("key")?,
        from_json("target", &row.text("target")?)?,
        from_json("message", &row.text("message")?)?,
        attempts(head, "attempts")?,
    );
    item.interrupted = head.flag("interrupted")?;
    item.uncertain = head.flag("uncertain")?;
    item.first_attempt_at = time(head, "first_attempt_at")?;
    item.last_attempt_at = time(head, "last_attempt_at")?;
    item.contact = Some(contact_facts(row)?);
    Ok(item)
}

/// The claimed outbox row's policy facts ([`OutboxItem::contact`]): the columns
/// `last_inbound_at` (the `contacts` row's, `NULL` without one) and `opted_out`, a JSON array of
/// the conversation's opt-outs in force as `[scope, keyword, at]` (both dialects' claims
/// select them; `NULL` reads as none).
fn contact_facts(row: &impl SqlRow) -> Result<ContactFacts> {
    let opted_out: Vec<(String, String, i64)> = match row.text_opt("opted_out")? {
        Some(json) => from_json("opt-outs", &json)?,
        None => Vec::new(),
    };
    let opted_out = opted_out
        .into_iter()
        .map(|(scope, keyword, at)| {
            (
                scope,
                OptOut {
                    keyword,
                    at: from_millis(at),
                },
            )
        })
        .collect();
    Ok(ContactFacts::new(time(row, "last_inbound_at")?, opted_out))
}

/// The row with key `$1` and, while it is its conversation's head, the head's claim state.
pub(crate) const STATUS: &str = "SELECT o.state, o.message_ids, o.delivery, o.target,
            COALESCE(h.attempts, o.attempts) AS attempts,
            CASE WHEN h.seq IS NULL THEN o.error ELSE h.error END AS error,
            CASE WHEN h.seq IS NULL THEN o.first_attempt_at ELSE h.first_attempt_at END AS first_attempt_at,
            CASE WHEN h.seq IS NULL THEN o.last_attempt_at ELSE h.last_attempt_at END AS last_attempt_at,
            COALESCE(h.uncertain, o.uncertain) AS uncertain
       FROM outbox AS o
       LEFT JOIN outbox_heads AS h ON h.conversation = o.conversation AND h.seq = o.seq
                                  AND o.state = 0
      WHERE o.key = $1";

/// A [`STATUS`] row.
pub(crate) fn outbox_status(row: &impl SqlRow) -> Result<OutboxStatus> {
    let mut st = OutboxStatus::new(match row.int("state")? {
        0 => OutboxState::Pending,
        1 => OutboxState::Sent,
        _ => OutboxState::Dead,
    });
    st.attempts = attempts(row, "attempts")?;
    st.message_ids = row
        .text_opt("message_ids")?
        .map(|s| from_json("message ids", &s))
        .transpose()?
        .unwrap_or_default();
    st.delivery = row
        .text_opt("delivery")?
        .map(|s| from_json("delivery", &s))
        .transpose()?;
    st.error = row.text_opt("error")?;
    st.first_attempt_at = time(row, "first_attempt_at")?;
    st.last_attempt_at = time(row, "last_attempt_at")?;
    st.uncertain = row.flag("uncertain")?;
    st.to = Some(from_json("target", &row.text("target")?)?);
    Ok(st)
}

/// The proofs of key `$1`, by part.
pub(crate) const PROOFS: &str =
    "SELECT key, part, parts, channel, message_id FROM outbox_proofs WHERE key = $1 ORDER BY part";

/// A [`PROOFS`] row.
pub(crate) fn proof(row: &impl SqlRow) -> Result<SendProof> {
    Ok(SendProof::new(
        row.text("key")?,
        ChannelName::new(row.text("channel")?)?,
        u32::try_from(row.int("part")?).unwrap_or(u32::MAX),
        u32::try_from(row.int("parts")?).unwrap_or(u32::MAX),
        MessageId::new(row.text("message_id")?)?,
    ))
}

/// A proof `($1 key, $2 part, $3 parts, $4 channel, $5 message id)` recorded at `$6`; the
/// first of each part wins.
pub(crate) const INSERT_PROOF: &str =
    "INSERT INTO outbox_proofs (key, part, parts, channel, message_id, proven_at)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key, part) DO NOTHING";

/// The pending row with key `$1`: `seq`, `conversation`.
pub(crate) const PENDING: &str =
    "SELECT seq, conversation FROM outbox WHERE key = $1 AND state = 0";

/// The head row `$2` of conversation `$1`, unless a live lease (at `$3`) holds it, is ready at
/// once.
pub(crate) const READY_NOW: &str = "UPDATE outbox_heads SET ready_at = 0
      WHERE conversation = $1 AND seq = $2 AND (token = 0 OR ready_at <= $3)";

/// The sent rows (`seq`, `delivery`) of conversation `$1` sent at or before `$2`.
pub(crate) const WATERMARK: &str =
    "SELECT seq, delivery FROM outbox WHERE state = 1 AND conversation = $1 AND sent_at <= $2";

/// The state of conversation `$1`.
pub(crate) const STATE: &str = "SELECT value FROM conversation_state WHERE conversation = $1";

/// The options of conversation `$1` live at `$2`.
pub(crate) const OPTIONS: &str =
    "SELECT options FROM degraded_options WHERE conversation = $1 AND expires_at > $2";

/// Dead letters of both queues, oldest first, at most `$1` (an event's shared raw payload
/// with it: see `store::raw`).
pub(crate) const DEAD_LETTERS: &str = "SELECT * FROM (
       SELECT CAST(0 AS BIGINT) AS kind, seq, conversation, event_id AS key, event AS payload,
              error, attempts, (SELECT raw FROM inbox_raw WHERE digest = inbox.raw_digest) AS raw
         FROM inbox WHERE state = 2
       UNION ALL
       SELECT CAST(1 AS BIGINT) AS kind, seq, conversation, key, message AS payload, error,
              attempts, NULL AS raw
         FROM outbox WHERE state = 2) AS d
     ORDER BY seq LIMIT $1";

/// A [`DEAD_LETTERS`] row.
pub(crate) fn dead_letter(row: &impl SqlRow) -> Result<DeadLetter> {
    let mut payload: serde_json::Value = from_json("dead letter", &row.text("payload")?)?;
    if let (Some(raw), Some(event)) = (row.text_opt("raw")?, payload.as_object_mut()) {
        event.insert("raw".to_owned(), from_json("raw payload", &raw)?);
    }
    let mut dead = DeadLetter::new(
        if row.int("kind")? == 0 {
            DeadLetterKind::Inbound
        } else {
            DeadLetterKind::Outbound
        },
        row.int("seq")?,
        row.text("conversation")?,
        row.text("key")?,
        payload,
    );
    dead.error = row.text_opt("error")?.unwrap_or_default();
    dead.attempts = attempts(row, "attempts")?;
    Ok(dead)
}

/// Row counts (scans).
pub(crate) const STATS: &str = "SELECT
       (SELECT COUNT(*) FROM inbox WHERE state = 0) AS inbox_pending,
       (SELECT COUNT(*) FROM inbox_keys) AS keys,
       (SELECT COUNT(*) FROM inbox WHERE state = 2) AS inbox_dead,
       (SELECT COUNT(*) FROM outbox WHERE state = 0) AS outbox_pending,
       (SELECT COUNT(*) FROM outbox WHERE state = 1) AS outbox_sent,
       (SELECT COUNT(*) FROM outbox WHERE state = 2) AS outbox_dead";

/// The [`STATS`] row.
pub(crate) fn stats(row: &impl SqlRow) -> Result<StoreStats> {
    let count = |col: &str| -> Result<u64> { Ok(u64::try_from(row.int(col)?).unwrap_or(0)) };
    let (pending, keys, dead_in) = (
        count("inbox_pending")?,
        count("keys")?,
        count("inbox_dead")?,
    );
    Ok(StoreStats {
        inbox_pending: pending,
        inbox_done: keys.saturating_sub(pending + dead_in),
        outbox_pending: count("outbox_pending")?,
        outbox_sent: count("outbox_sent")?,
        dead: dead_in + count("outbox_dead")?,
    })
}

/// `$1` conversation: its last inbound time ([`Store::contact`](crate::store::Store::contact)).
pub(crate) const LAST_INBOUND: &str =
    "SELECT last_inbound_at FROM contacts WHERE conversation = $1";

/// `$1` conversation, `$2` scope: the opt-out in force, if the latest change was one.
pub(crate) const OPTED_OUT: &str = "SELECT keyword, at FROM consent
      WHERE conversation = $1 AND scope = $2 AND opted_out";
