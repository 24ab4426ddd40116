//! What only the SQLite store has: migrations of rows in flight, the per-file lock, reopening,
//! group commit.

use std::time::SystemTime;

use switchboard_core::{ConversationRef, OutboundMessage};

use crate::store::testkit::{LEASE, event as ev};
use crate::store::{Claim, Inserted, SqliteStore, Store, millis};

/// A file written by a version-2 engine that died mid-send migrates to version 3 with the row
/// uncertain: the new engine reconciles it instead of trusting it was never sent.
#[tokio::test]
async fn sqlite_v2_rows_in_flight_migrate_uncertain() {
    use sqlx::{ConnectOptions, Connection};
    let db = TempDb::new();
    {
        let opts: sqlx::sqlite::SqliteConnectOptions = db.url().parse().unwrap();
        let mut conn = opts.create_if_missing(true).connect().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE sb_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
             INSERT INTO sb_migrations VALUES (1, 0), (2, 0);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for sql in [
            include_str!("../migrations/0001_init.sql"),
            include_str!("../migrations/0002_retention_receipts.sql"),
        ] {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        let to = serde_json::to_string(&ConversationRef::parse("mem", "V").unwrap()).unwrap();
        let msg = serde_json::to_string(&OutboundMessage::text("hi").unwrap()).unwrap();
        for (key, inflight) in [("v:0", 1), ("w:0", 0)] {
            sqlx::query(
                "INSERT INTO outbox (key, channel, conversation, target, message, created_at,
                                     inflight, token, lease_until)
                 VALUES (?, 'mem', ?, ?, ?, 1000, ?, 7, 99)",
            )
            .bind(key)
            .bind(format!("mem/{key}"))
            .bind(&to)
            .bind(&msg)
            .bind(inflight)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();
    }
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let latest = super::migrate::MIGRATIONS.last().map(|(v, _)| *v);
    assert_eq!(Some(store.schema_version().await.unwrap()), latest);
    store.recover().await.unwrap();
    let mut items = store
        .claim_outbox(Claim::new(SystemTime::now(), LEASE, 10))
        .await
        .unwrap();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(items.len(), 2);
    assert!(items[0].uncertain, "{:?}", items[0]);
    assert_eq!(items[0].first_attempt_at.map(millis), Some(1000));
    assert!(items[0].last_attempt_at.is_some());
    assert!(!items[1].uncertain);
    assert_eq!(items[1].first_attempt_at, None);
}

/// A database file removed on drop.
pub(crate) struct TempDb(pub(crate) std::path::PathBuf);

impl TempDb {
    pub(crate) fn new() -> Self {
        let p = std::env::temp_dir().join(format!(
            "switchboard-test-{}-{}.db",
            std::process::id(),
            fastrand::u64(..)
        ));
        TempDb(p)
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

#[tokio::test]
async fn sqlite_lock_is_shared_in_process_and_released_with_the_last_store() {
    // (Another process is refused: tests/engine/store_lock.rs.)
    let db = TempDb::new();
    let lock = format!("{}.lock", db.0.display());
    let first = SqliteStore::connect(&db.url()).await.unwrap();
    let again = SqliteStore::connect(&db.url()).await.unwrap();
    let probe = std::fs::File::open(&lock).unwrap();
    assert!(probe.try_lock().is_err(), "the lock is held");
    drop(first);
    assert!(probe.try_lock().is_err(), "held while a store lives");
    drop(again);
    assert!(probe.try_lock().is_ok(), "released with the last store");
}

#[tokio::test]
async fn sqlite_survives_reopen_and_recovers_leases() {
    let db = TempDb::new();
    {
        let s = SqliteStore::connect(&db.url()).await.unwrap();
        s.insert_inbound(&[ev("r1", "R")]).await.unwrap();
        let claimed = s
            .claim_inbox(Claim::new(SystemTime::now(), LEASE, 1))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
    }
    let s = SqliteStore::connect(&db.url()).await.unwrap();
    assert!(
        s.claim_inbox(Claim::new(SystemTime::now(), LEASE, 1))
            .await
            .unwrap()
            .is_empty()
    );
    s.recover().await.unwrap();
    let again = s
        .claim_inbox(Claim::new(SystemTime::now(), LEASE, 1))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(
        s.insert_inbound(&[ev("r1", "R")]).await.unwrap(),
        vec![Inserted::Duplicate]
    );
}

#[tokio::test]
async fn sqlite_recovers_forward_leases_but_not_disabled_endpoints() {
    use crate::store::{ForwardFinish, ForwardOutcome, NewForward};
    let db = TempDb::new();
    let now = SystemTime::now();
    let long = std::time::Duration::from_secs(3600);
    {
        let s = SqliteStore::connect(&db.url()).await.unwrap();
        s.enqueue_forwards(
            &[
                NewForward::new("app", "sms:e1", "sms/c1", "{}"),
                NewForward::new("off", "sms:e2", "sms/c2", "{}"),
            ],
            now,
        )
        .await
        .unwrap();
        let claimed = s.claim_forwards(Claim::new(now, long, 10)).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let off = claimed.iter().find(|i| i.endpoint == "off").unwrap();
        let gone = ForwardOutcome::Disable {
            reason: "HTTP 410 Gone".into(),
        };
        s.finish_forwards(vec![ForwardFinish::new(off.lease, gone)], now)
            .await
            .unwrap();
        // Killed here: "app"'s delivery was in flight, leased for an hour.
    }
    let s = SqliteStore::connect(&db.url()).await.unwrap();
    let claim = || Claim::new(SystemTime::now(), long, 10);
    assert!(s.claim_forwards(claim()).await.unwrap().is_empty());
    s.recover().await.unwrap();
    let again = s.claim_forwards(claim()).await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!((again[0].id.as_str(), again[0].attempts), ("sms:e1", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_commit_dedupes_concurrent_callers() {
    let db = TempDb::new();
    let store = std::sync::Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    // 40 callers at once; keys k0..k9 are each delivered by 4 of them (retry storms), u{i} once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let shared = format!("k{}", i % 10);
            let own = format!("u{i}");
            let r = store
                .insert_inbound(&[ev(&shared, "G"), ev(&own, "G")])
                .await
                .unwrap();
            (shared, r)
        }));
    }
    let mut new_shared = std::collections::HashMap::new();
    let mut seqs = Vec::new();
    for t in tasks {
        let (shared, r) = t.await.unwrap();
        if let Inserted::New(seq) = r[0] {
            *new_shared.entry(shared).or_insert(0) += 1;
            seqs.push(seq);
        }
        match r[1] {
            Inserted::New(seq) => seqs.push(seq),
            Inserted::Duplicate => panic!("a unique event was reported duplicate"),
        }
    }
    assert_eq!(new_shared.len(), 10);
    assert!(new_shared.values().all(|&n| n == 1), "{new_shared:?}");
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 50);
    assert_eq!(store.stats().await.unwrap().inbox_pending, 50);
}

#[tokio::test]
async fn sqlite_batches_of_any_size_keep_arrival_order() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    // 1 and 64 rows: one VALUES statement of that size; 65 and 300: the JSON-array statement.
    for (n, size) in [1_usize, 64, 65, 300].into_iter().enumerate() {
        let events: Vec<_> = (0..size).map(|i| ev(&format!("b{n}-{i}"), "B")).collect();
        let mut with_repeat = events.clone();
        with_repeat.push(events[0].clone());
        let r = store.insert_inbound(&with_repeat).await.unwrap();
        assert_eq!(r.len(), size + 1);
        assert_eq!(r[size], Inserted::Duplicate, "size {size}");
        let seqs: Vec<i64> = r[..size]
            .iter()
            .map(|x| match x {
                Inserted::New(s) => *s,
                Inserted::Duplicate => panic!("size {size}: a new event reported duplicate"),
            })
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "size {size}: {seqs:?}"
        );
        // Offered again: all duplicates.
        let again = store.insert_inbound(&events).await.unwrap();
        assert!(
            again.iter().all(|x| *x == Inserted::Duplicate),
            "size {size}"
        );
    }
    let claimed = store
        .claim_inbox(Claim::new(SystemTime::now(), LEASE, 1))
        .await
        .unwrap();
    assert_eq!(claimed[0].event.id.as_str(), "b0-0");
    assert_eq!(
        store.stats().await.unwrap().inbox_pending,
        1 + 64 + 65 + 300
    );
}

/// Issue 15, item 6: one signed Slack `block_actions` payload with 300 actions stored 300
/// full copies of the request (each event's `raw`). Now the payload is stored once in
/// `inbox_raw`; the rows hold the events without it. Pruning drops it once no pending event
/// or dead letter refers to it.
#[tokio::test]
async fn a_requests_raw_payload_is_stored_once() {
    use sqlx::{ConnectOptions, Row};
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    let (events, raw) = crate::store::testkit::raw_payloads::one_request(300);
    let raw_len = serde_json::to_string(&raw).unwrap().len();
    store.insert_inbound(&events).await.unwrap();
    let mut conn = db
        .url()
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT (SELECT sum(length(event)) FROM inbox), (SELECT count(*) FROM inbox_raw),
                (SELECT sum(length(raw)) FROM inbox_raw)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let (events_len, raws, raws_len): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((raws, raws_len), (1, raw_len as i64), "the payload once");
    assert!(
        (events_len as usize) < 301 * 400,
        "rows hold {events_len} bytes for a {raw_len}-byte payload (300 copies: {})",
        300 * raw_len
    );
    // Handled: the payload goes with the retention once nothing refers to it.
    let now = SystemTime::now();
    while let Some(item) = store
        .claim_inbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .pop()
    {
        assert!(item.event.raw.is_object(), "the raw payload is back");
        let c = crate::store::Completion {
            outbox: vec![],
            state: vec![],
        };
        assert!(
            crate::store::StoreExt::complete_inbox(&store, item.lease, c)
                .await
                .unwrap()
        );
    }
    let later = now + std::time::Duration::from_secs(60);
    let pruned = store
        .prune(crate::store::Prune::new(later, later))
        .await
        .unwrap();
    assert_eq!(pruned.raw_payloads, 1);
}
