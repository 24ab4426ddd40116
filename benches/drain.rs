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
//! PostgreSQL store, in a fresh schema dropped afterwards.
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

/// Starts the workers and waits until `expected` more events are handled; events/s.
async fn drain(sb: &Switchboard, before: u64, expected: u64) -> f64 {
    let start = Instant::now();
    let workers = sb.start_workers();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let s = sb.stats().await.unwrap();
        if s.inbox_done >= before + expected && s.inbox_pending == 0 {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    workers.stop().await;
    expected as f64 / secs
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
        let store: Arc<dyn Store> = match std::env::var("DRAIN_STORE") {
            Ok(pg) => postgres(&pg).await,
            Err(_) => Arc::new(
                SqliteStore::connect_with(&url, Synchronous::Full)
                    .await
                    .unwrap(),
            ),
        };
        let mut config = Config::default();
        if let Some(w) = workers {
            config.engine.workers = w;
        }
        let mem = MemoryAdapter::new(ChannelName::new("mem").unwrap(), Secret::new("drain"));
        let sb = Switchboard::builder()
            .config(config)
            .store(store.clone())
            .channel(Arc::new(mem))
            .build()
            .await
            .unwrap();
        if retained > 0 {
            fill(&store, retained, conversations, "old").await;
            let rate = drain(&sb, 0, retained as u64).await;
            eprintln!("handled {retained} events to retain ({rate:.0}/s)");
        }
        fill(&store, events, conversations, "new").await;
        let before = sb.stats().await.unwrap().inbox_done;
        let rate = drain(&sb, before, events as u64).await;
        println!(
            "drained {events} events over {conversations} conversations with {retained} handled events retained, workers {}: {rate:.0} events/s",
            sb.config().engine.workers
        );
        drop(sb);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(pg) = std::env::var("DRAIN_STORE") {
            drop_schema(&pg).await;
        }
    });
}

const DRAIN_SCHEMA: &str = "sb_drain_bench";

#[cfg(feature = "postgres")]
async fn postgres(url: &str) -> Arc<dyn Store> {
    drop_schema(url).await;
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
async fn postgres(_url: &str) -> Arc<dyn Store> {
    panic!("DRAIN_STORE=postgres://… needs --features postgres");
}

#[cfg(not(feature = "postgres"))]
async fn drop_schema(_url: &str) {}
