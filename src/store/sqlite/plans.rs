//! Every hot statement's query plan uses indexes: `EXPLAIN QUERY PLAN` must show no full scan
//! of a queue table (a claim, a completion or a receipt whose cost grew with the backlog or the
//! rows retained would show up here as `SCAN inbox` and the like).

use super::{contacts, heads, inbox, media, outbox, pending, receipts, state, update};
use crate::store::SqliteStore;
use crate::store::sql::rows;
use crate::store::sqlite::tests::TempDb;

/// (what, SQL) of every statement on the engine's hot path.
const HOT: &[(&str, &str)] = &[
    ("insert key", inbox::INSERT_KEY),
    ("insert event", inbox::INSERT_ROW),
    ("insert raw payloads", inbox::INSERT_RAW),
    ("insert inbox heads", inbox::INSERT_HEADS),
    ("claim inbox", inbox::CLAIM),
    ("claimed events", inbox::EVENTS),
    ("claimed options", inbox::OPTIONS),
    ("inbox leases", inbox::LEASED),
    ("dead-letter inbox", inbox::BURY),
    ("delete handled", inbox::DELETE),
    ("retry inbox", inbox::RETRY),
    ("taken keys", inbox::TAKEN),
    ("advance inbox heads", heads::ADVANCE_INBOX),
    ("drop inbox heads", heads::DROP_INBOX),
    ("advance outbox heads", heads::ADVANCE_OUTBOX),
    ("drop outbox heads", heads::DROP_OUTBOX),
    ("renew inbox", heads::RENEW_INBOX),
    ("renew outbox", heads::RENEW_OUTBOX),
    ("release inbox leases", heads::RELEASE_INBOX),
    ("release outbox leases", heads::RELEASE_OUTBOX),
    ("insert outbox", outbox::INSERT_ROWS),
    ("insert outbox heads", outbox::INSERT_HEADS),
    ("held keys", outbox::HELD),
    ("claim outbox", outbox::CLAIM),
    ("claimed rows", outbox::ROWS),
    ("outbox status", rows::STATUS),
    ("outbox leases", update::LEASED),
    ("attempt", update::ATTEMPT),
    ("message ids", update::MESSAGE_IDS),
    ("map ids", update::MAP_IDS),
    ("release outbox", update::RELEASE),
    ("sent or dead", update::SETTLE),
    ("proofs", rows::PROOFS),
    ("insert proof", rows::INSERT_PROOF),
    ("pending key", rows::PENDING),
    ("proven head", rows::READY_NOW),
    ("delivered", receipts::DELIVERED),
    ("watermark", rows::WATERMARK),
    ("set delivery", receipts::SET_DELIVERY),
    ("insert outbox media", media::INSERT),
    ("claimed outbox media", media::SELECT),
    ("drop sent outbox media", media::DROP),
    ("keep early receipts", pending::KEEP),
    ("kept early receipts", pending::KEPT),
    ("drop early receipts", pending::DROP),
    ("upsert state", state::UPSERT_STATE),
    ("delete state", state::DELETE_STATE),
    ("upsert options", state::UPSERT_OPTIONS),
    ("delete options", state::DELETE_OPTIONS),
    ("upsert last inbound", contacts::UPSERT_INBOUND),
    ("upsert consent", contacts::UPSERT_CONSENT),
    ("last inbound", rows::LAST_INBOUND),
    ("opted out", rows::OPTED_OUT),
];

/// The tables a hot statement must never scan whole.
const QUEUE_TABLES: &[&str] = &[
    "inbox",
    "inbox_keys",
    "inbox_heads",
    "outbox",
    "outbox_heads",
    "sent_messages",
    "outbox_proofs",
    "conversation_state",
    "degraded_options",
    "pending_receipts",
    "outbox_media",
    "inbox_raw",
    "contacts",
    "consent",
];

/// A plan line that reads a whole queue table: `SCAN t`, `SCAN t AS x`, or a scan of one of
/// its indexes (`SCAN t USING COVERING INDEX i`), which costs as much. Only `SEARCH` (an index
/// range or lookup) is allowed on them.
fn full_scan(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("SCAN ")?;
    let table = rest.split_whitespace().next()?;
    QUEUE_TABLES.iter().find(|t| **t == table).copied()
}

#[tokio::test]
async fn no_hot_statement_scans_a_queue_table() {
    use sqlx::{ConnectOptions, Row};
    let db = TempDb::new();
    // Migrate the file, then ask a plain connection (the store holds the writer).
    drop(SqliteStore::connect(&db.url()).await.unwrap());
    let opts: sqlx::sqlite::SqliteConnectOptions = db.url().parse().unwrap();
    let mut conn = opts.connect().await.unwrap();
    let mut problems = Vec::new();
    for (what, sql) in HOT {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        for line in &plan {
            if let Some(table) = full_scan(line) {
                problems.push(format!("{what}: full scan of {table}: {plan:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn full_scans_are_recognised() {
    assert_eq!(full_scan("SCAN inbox"), Some("inbox"));
    assert_eq!(full_scan("SCAN outbox AS o"), Some("outbox"));
    assert_eq!(full_scan("SCAN j VIRTUAL TABLE INDEX 1:"), None);
    assert_eq!(
        full_scan("SCAN inbox USING COVERING INDEX inbox_conversation"),
        Some("inbox")
    );
    assert_eq!(
        full_scan("SEARCH inbox USING INTEGER PRIMARY KEY (rowid=?)"),
        None
    );
}

/// The web chat log's statements, the retention's included, read a conversation's rows or the
/// oldest ones through an index, never the whole log or every head.
#[tokio::test]
async fn web_chat_log_statements_use_indexes() {
    use sqlx::{ConnectOptions, Row};

    use crate::store::sql::webchat as w;
    let db = TempDb::new();
    drop(SqliteStore::connect(&db.url()).await.unwrap());
    let opts: sqlx::sqlite::SqliteConnectOptions = db.url().parse().unwrap();
    let mut conn = opts.connect().await.unwrap();
    let statements = [
        ("head", w::HEAD),
        ("keyed", w::KEYED),
        ("next", w::NEXT),
        ("append", w::APPEND),
        ("read", w::READ),
        ("pruned", w::PRUNED),
        ("old records", w::RETENTION.old),
        ("heads over the limit", w::RETENTION.over),
        ("beyond the newest", w::BEYOND),
        ("prune a prefix", w::PRUNE_PREFIX),
        ("mark pruned", w::MARK_PRUNED),
    ];
    let mut problems = Vec::new();
    for (what, sql) in statements {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        if plan
            .iter()
            .any(|l| l.starts_with("SCAN webchat_log") || l.starts_with("SCAN webchat_heads"))
        {
            problems.push(format!("{what}: {plan:?}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
