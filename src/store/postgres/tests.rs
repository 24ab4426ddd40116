//! The PostgreSQL store against a real server (127.0.0.1:5432, database `test`; skipped with a
//! line where it is not there, failed where services are required): the conformance suite,
//! each check in a schema of its own dropped afterwards, and what only a shared store has
//! (migrations under a lock, a newer schema refused, claims from two instances, wake-ups
//! across instances, an outage of the connection path).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::store::testkit::{LEASE, Subject, event as ev};
use crate::store::{Claim, Completion, Inserted, Queue, Store};
use crate::testkit::{PG_ADDR, TcpProxy, TestSchema, pg_url};

use super::{PgOptions, PgStore, SCHEMA_VERSION};

async fn store(schema: &TestSchema) -> PgStore {
    PgStore::connect_with(&pg_url(), schema.options())
        .await
        .unwrap()
}

async fn pg() -> Option<Subject> {
    let schema = TestSchema::new().await?;
    let store = store(&schema).await;
    Some(Subject::with_guard(Arc::new(store), schema))
}

mod conformance {
    crate::store_conformance_tests!(optional super::pg);
}

/// The contact-facts check accepts a claim without them: this store reads them.
#[tokio::test]
async fn pg_claims_carry_the_contact_facts() {
    let Some(subject) = pg().await else { return };
    crate::store::testkit::claims_carry_contact_facts(subject.store()).await;
}

/// The forwarding checks skip a store without the queue: this one must have it.
#[tokio::test]
async fn pg_has_a_forwarding_queue() {
    let Some(subject) = pg().await else { return };
    crate::store::testkit::forwarding_is_supported(subject.store()).await;
}

#[tokio::test]
async fn pg_instances_starting_together_migrate_once() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let url = pg_url();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (url, options) = (url.clone(), schema.options());
            tokio::spawn(async move { PgStore::connect_with(&url, options).await })
        })
        .collect();
    for start in starts {
        let s = start.await.unwrap().unwrap();
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(s.schema(), schema.name());
    }
}

#[tokio::test]
async fn pg_a_newer_schema_is_refused() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = store(&schema).await;
    sqlx::query("INSERT INTO sb_migrations (version, applied_at) VALUES ($1, 0)")
        .bind(SCHEMA_VERSION + 1)
        .execute(&store.core.dialect().pool)
        .await
        .unwrap();
    let err = PgStore::connect_with(&pg_url(), schema.options())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), switchboard_core::ErrorKind::InvalidConfig);
    let msg = err.to_string();
    assert!(msg.contains("newer than this switchboard"), "{msg}");
}

#[tokio::test]
async fn pg_bad_urls_and_schemas_are_config_errors() {
    let err = PgStore::connect("postgres://user@host:notaport/db")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("store.url"), "{err}");
    let err = PgStore::connect_with(
        &pg_url(),
        PgOptions::default().with_schema("x; DROP TABLE y"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("store.schema"), "{err}");
}

/// Two instances on one database claim at once: no head is handed out twice while leased,
/// every event is handled exactly once, in order per conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_two_instances_claim_each_head_once_in_order() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let a = Arc::new(store(&schema).await);
    let b = Arc::new(store(&schema).await);
    let (convs, per) = (40, 5);
    for i in 0..per {
        let events: Vec<_> = (0..convs)
            .map(|c| ev(&format!("e{c}-{i}"), &format!("C{c}")))
            .collect();
        let r = a.insert_inbound(&events).await.unwrap();
        assert!(r.iter().all(|x| matches!(x, Inserted::New(_))));
    }
    let handled = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        let handled = handled.clone();
        tasks.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 20 {
                let items = store
                    .claim_inbox(Claim::new(SystemTime::now(), LEASE, 7))
                    .await
                    .unwrap();
                if items.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                idle = 0;
                for item in &items {
                    handled.lock().unwrap().push((
                        item.event.conversation.conversation.to_string(),
                        item.event.id.as_str().to_owned(),
                    ));
                }
                let finishes = items
                    .iter()
                    .map(|i| {
                        crate::store::InboxFinish::new(
                            i.lease,
                            crate::store::InboxOutcome::Done(Completion::default()),
                        )
                    })
                    .collect();
                let done = store.finish_inbox(finishes).await.unwrap();
                assert!(done.iter().all(|d| matches!(d, Ok(true))), "{done:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let handled = handled.lock().unwrap().clone();
    assert_eq!(handled.len(), convs * per, "each event once");
    let unique: HashSet<_> = handled.iter().collect();
    assert_eq!(unique.len(), handled.len(), "no event twice");
    let mut by_conv: HashMap<&str, Vec<&str>> = HashMap::new();
    for (c, e) in &handled {
        by_conv.entry(c).or_default().push(e);
    }
    for (c, events) in by_conv {
        let n = c.trim_start_matches('C');
        let want: Vec<String> = (0..per).map(|i| format!("e{n}-{i}")).collect();
        assert_eq!(events, want, "order of {c}");
    }
    assert_eq!(a.stats().await.unwrap().inbox_pending, 0);
}

/// A write through one instance wakes the claim loops of another (LISTEN/NOTIFY).
#[tokio::test]
async fn pg_writes_wake_other_instances() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let a = store(&schema).await;
    let b = store(&schema).await;
    let mut wakes = a.wake_ups().unwrap();
    b.insert_inbound(&[ev("w1", "W")]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), wakes.recv())
        .await
        .expect("a wake-up within 5s")
        .unwrap();
    assert_eq!(got, Queue::Inbox);
    b.enqueue_outbound(&[crate::store::testkit::reply("k1", "W", "hi")])
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if wakes.recv().await.unwrap() == Queue::Outbox {
                return Queue::Outbox;
            }
        }
    })
    .await
    .expect("an outbox wake-up within 5s");
    assert_eq!(got, Queue::Outbox);
}

/// The connection path to PostgreSQL is cut: calls fail (nothing is acknowledged), pings
/// fail; restored, the same store works again and nothing stored was lost.
/// Whether `store` answers a ping within 10 s.
async fn answers_again(store: &PgStore) -> bool {
    for _ in 0..100 {
        if store.ping().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn pg_outage_fails_calls_and_recovers() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let proxy = TcpProxy::start(PG_ADDR).await.unwrap();
    let url = format!("postgres://postgres@{}/test", proxy.addr());
    let options = schema
        .options()
        .with_connect_timeout(Duration::from_secs(1));
    let store = PgStore::connect_with(&url, options).await.unwrap();
    store.insert_inbound(&[ev("o1", "O")]).await.unwrap();
    proxy.cut();
    let err = store.insert_inbound(&[ev("o2", "O")]).await;
    assert!(err.is_err(), "nothing acknowledged while cut: {err:?}");
    assert!(store.ping().await.is_err());
    proxy.restore();
    assert!(answers_again(&store).await, "the store answers again");
    // o2 was refused (or stored): its webhook is retried, and dedupe makes it one event.
    let again = store.insert_inbound(&[ev("o2", "O")]).await.unwrap();
    assert_eq!(again.len(), 1);
    let items = store
        .claim_inbox(Claim::new(SystemTime::now(), LEASE, 10))
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "one head per conversation");
    assert_eq!(items[0].event.id.as_str(), "o1");
    let st = store.stats().await.unwrap();
    assert_eq!(st.inbox_pending, 2);
}

/// A database that accepts connections and then never answers (a black hole, the proxy
/// holding the connections open): every call fails within the client's bounds instead of
/// hanging, a batch of writes fails at once (not one bound per job), a readiness check fails
/// within `connect_timeout`, and the store works again once the path is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_black_holed_database_fails_calls_within_bounds_and_recovers() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let proxy = TcpProxy::start(PG_ADDR).await.unwrap();
    let url = format!("postgres://postgres@{}/test", proxy.addr());
    let options = schema
        .options()
        .with_connect_timeout(Duration::from_secs(1))
        .with_statement_timeout(Some(Duration::from_secs(1)));
    let store = Arc::new(PgStore::connect_with(&url, options).await.unwrap());
    store.insert_inbound(&[ev("b1", "B")]).await.unwrap();
    // Writes in flight when the database goes silent: their statements never get an answer.
    let busy = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let batch: Vec<_> = (0..50).map(|j| ev(&format!("w{i}-{j}"), "W")).collect();
                if store.insert_inbound(&batch).await.is_err() {
                    return i;
                }
            }
            unreachable!()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.black_hole();

    // Without client-side bounds these calls hang for as long as the black hole lasts.
    let never = Duration::from_secs(20);
    let stopped = tokio::time::timeout(never, busy).await;
    assert!(stopped.is_ok(), "a write in flight fails, not hangs");
    let started = std::time::Instant::now();
    let ping = tokio::time::timeout(never, store.ping()).await;
    assert!(
        matches!(ping, Ok(Err(_))),
        "ping fails, not hangs: {ping:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let started = std::time::Instant::now();
    let writes: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_inbound(&[ev(&format!("x{i}"), "X")]).await })
        })
        .collect();
    for w in writes {
        let r = tokio::time::timeout(never, w).await.unwrap().unwrap();
        assert!(
            r.is_err(),
            "nothing acknowledged while the database is silent"
        );
    }
    // One bound for the batch (acquire 1 s, or a statement 1 s + 1 s grace), not one per job.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let read = tokio::time::timeout(never, store.outbox_status("k")).await;
    assert!(matches!(read, Ok(Err(_))), "reads fail too: {read:?}");

    proxy.restore();
    assert!(answers_again(&store).await, "the store answers again");
    let mut stored = None;
    for _ in 0..50 {
        if let Ok(r) = store.insert_inbound(&[ev("b2", "B")]).await {
            stored = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored.map(|r| r.len()), Some(1), "writes go through again");
    let items = store
        .claim_inbox(Claim::new(SystemTime::now(), LEASE, 10))
        .await
        .unwrap();
    assert_eq!(items[0].event.id.as_str(), "b1");
}

/// An instance starting (recovering) beside a live one takes none of its leases: only leases
/// that ran out are claimed again.
#[tokio::test]
async fn pg_recovery_reclaims_only_expired_leases() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let live = store(&schema).await;
    live.insert_inbound(&[ev("l1", "L")]).await.unwrap();
    let now = SystemTime::now();
    let held = live.claim_inbox(Claim::new(now, LEASE, 1)).await.unwrap();
    assert_eq!(held.len(), 1);
    let starting = store(&schema).await;
    starting.recover().await.unwrap();
    let none = starting
        .claim_inbox(Claim::new(SystemTime::now(), LEASE, 10))
        .await
        .unwrap();
    assert!(none.is_empty(), "a live lease is not taken away");
    let expired = now + LEASE + Duration::from_secs(1);
    let again = starting
        .claim_inbox(Claim::new(expired, LEASE, 10))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "an expired lease is reclaimed");
    assert_ne!(again[0].lease.token, held[0].lease.token);
    // The first holder's late finish is refused (fencing).
    let late = live
        .finish_inbox(vec![crate::store::InboxFinish::new(
            held[0].lease,
            crate::store::InboxOutcome::Done(Completion::default()),
        )])
        .await
        .unwrap();
    assert!(matches!(late[..], [Ok(false)]), "{late:?}");
}
