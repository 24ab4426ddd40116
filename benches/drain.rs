//! Drain rate of the engine on a SQLite file (`synchronous = FULL`): a backlog of queued events
//! over many conversations, a no-op handler, and how long the workers take to handle it all;
//! optionally with handled events already retained (their dedupe keys) to show that the claim
//! rate does not depend on them. In one process; pin it to one core to measure as the server
//! runs (`taskset -c 0`).
//!
//! `cargo bench -p switchboard --bench drain -- [events] [conversations] [retained] [workers]`
//! (defaults: 100000 events, 1000 conversations, 0 retained, the default `engine.workers`).
//!
//! With `DRAIN_STORE=postgres://user@host:5432/db` (and `--features postgres`) the same on the
//! PostgreSQL store, in a fresh schema dropped afterwards; `DRAIN_INSTANCES=N` runs N engines
//! (each with its own store: pool, writer, listener) on that one schema, in this process, as
//! N instances would share a database. It prints the load average, the CPU this process and
//! the PostgreSQL server processes used during the drain, and per event.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard::core::model::{EventId, EventKind, InboundMessage, Sender};
use switchboard::store::Synchronous;
use switchboard::{
    ChannelName, Config, ConversationRef, InboundEvent, MemoryAdapter, Secret, SqliteStore, Store,
    Switchboard, UserId,
};

fn event(i: usize, conversations: usize, tag: &str) -> InboundEvent {
    InboundEvent::new(
        EventId::new(format!("{tag}-{i}")).unwrap(),
        ConversationRef::parse("mem", &format!("C{}", i % conversations)).unwrap(),
        Sender::user(UserId::new("U1").unwrap()),
        SystemTime::now(),
        EventKind::Message(InboundMessage::text(format!("hello {i}"))),
        serde_json::json!({ "id": i }),
    )
}

/// Inserts `n` events over `conversations`, 4 callers of 2,000-event batches at a time.
async fn fill(store: &Arc<dyn Store>, n: usize, conversations: usize, tag: &str) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(2000) {
        let events: Vec<InboundEvent> = chunk
            .iter()
            .map(|i| event(*i, conversations, tag))
            .collect();
        let store = store.clone();
        tasks.spawn(async move { store.insert_inbound(&events).await.unwrap() });
        while tasks.len() >= 4 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    eprintln!("filled {n} {tag} events in {:.1?}", start.elapsed());
}

/// Starts the workers of every engine and waits until `expected` more events are handled;
/// events/s and the seconds it took.
async fn drain(sbs: &[Switchboard], before: u64, expected: u64) -> (f64, f64) {
    let start = Instant::now();
    let workers: Vec<_> = sbs.iter().map(|sb| sb.start_workers()).collect();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let s = sbs[0].stats().await.unwrap();
        if s.inbox_done >= before + expected && s.inbox_pending == 0 {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    for w in workers {
        w.stop().await;
    }
    (expected as f64 / secs, secs)
}

/// CPU seconds (user + system) used so far by the processes whose `comm` is `name`, or by this
/// process (`None`), from `/proc` (0 where it cannot be read).
fn cpu_seconds(name: Option<&str>) -> f64 {
    let ticks = |stat: &str| -> f64 {
        // Fields after the `(comm)`: state is the 1st, utime the 12th, stime the 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (n(11) + n(12)) / 100.0
    };
    match name {
        None => std::fs::read_to_string("/proc/self/stat").map_or(0.0, |s| ticks(&s)),
        Some(name) => std::fs::read_dir("/proc")
            .map(|dir| {
                dir.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                    .filter(|s| {
                        s.split_once('(')
                            .and_then(|(_, r)| r.split_once(')'))
                            .is_some_and(|(c, _)| c == name)
                    })
                    .map(|s| ticks(&s))
                    .sum()
            })
            .unwrap_or(0.0),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let conversations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let retained: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let workers: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = std::env::temp_dir().join(format!("switchboard-drain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/drain.db", dir.display());
        let instances: usize = std::env::var("DRAIN_INSTANCES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for i in 0..instances {
            stores.push(match std::env::var("DRAIN_STORE") {
                Ok(pg) => postgres(&pg, i == 0).await,
                Err(_) => {
                    assert_eq!(instances, 1, "one engine per SQLite file");
                    Arc::new(
                        SqliteStore::connect_with(&url, Synchronous::Full)
                            .await
                            .unwrap(),
                    )
                }
            });
        }
        let store = stores[0].clone();
        let mut sbs = Vec::new();
        for store in &stores {
            let mut config = Config::default();
            if let Some(w) = workers {
                config.engine.workers = w;
            }
            let mem = MemoryAdapter::new(ChannelName::new("mem").unwrap(), Secret::new("drain"));
            sbs.push(
                Switchboard::builder()
                    .config(config)
                    .store(store.clone())
                    .channel(Arc::new(mem))
                    .build()
                    .await
                    .unwrap(),
            );
        }
        if retained > 0 {
            fill(&store, retained, conversations, "old").await;
            let (rate, _) = drain(&sbs, 0, retained as u64).await;
            eprintln!("handled {retained} events to retain ({rate:.0}/s)");
        }
        fill(&store, events, conversations, "new").await;
        let before = sbs[0].stats().await.unwrap().inbox_done;
        let load_before = load_average();
        let (own, server) = (cpu_seconds(None), cpu_seconds(Some("postgres")));
        let (rate, secs) = drain(&sbs, before, events as u64).await;
        let own = cpu_seconds(None) - own;
        let server = cpu_seconds(Some("postgres")) - server;
        let per = |cpu: f64| cpu / events as f64 * 1e6;
        println!(
            "drained {events} events over {conversations} conversations with {retained} handled events retained, {instances} instance(s), workers {}: {rate:.0} events/s",
            sbs[0].config().engine.workers
        );
        println!(
            "  in {secs:.1} s; engine CPU {own:.1} s ({:.0}% of a core, {:.0} µs/event); PostgreSQL server CPU {server:.1} s ({:.0} µs/event); load average {load_before} before, {} after",
            own / secs * 100.0,
            per(own),
            per(server),
            load_average()
        );
        drop(sbs);
        drop(stores);
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(pg) = std::env::var("DRAIN_STORE") {
            drop_schema(&pg).await;
        }
    });
}

const DRAIN_SCHEMA: &str = "sb_drain_bench";

/// A store on the bench's schema; the first one starts from an empty schema.
#[cfg(feature = "postgres")]
async fn postgres(url: &str, first: bool) -> Arc<dyn Store> {
    if first {
        drop_schema(url).await;
    }
    let options = switchboard::store::PgOptions::default().with_schema(DRAIN_SCHEMA);
    Arc::new(
        switchboard::store::PgStore::connect_with(url, options)
            .await
            .unwrap(),
    )
}

#[cfg(feature = "postgres")]
async fn drop_schema(url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {DRAIN_SCHEMA} CASCADE"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_url: &str, _first: bool) -> Arc<dyn Store> {
    panic!("DRAIN_STORE=postgres://… needs --features postgres");
}

#[cfg(not(feature = "postgres"))]
async fn drop_schema(_url: &str) {}
