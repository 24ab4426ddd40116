//! Webhook ingest throughput and ack latency on loopback: a no-op server (reads the body,
//! answers 200), the engine with the memory store, and the engine with the SQLite store
//! (synchronous FULL and NORMAL), measured in the same run with the same client.
//!
//! The SQLite store is also measured alone (`in_flight` tasks calling `insert_inbound`, no
//! HTTP), to tell the store's cost from the HTTP stack's.
//!
//! `cargo run --release -p switchboard --example ingest_load -- [requests] [in_flight] [only]`
//! (defaults: 20000 requests, 50 in flight; `only` runs the targets whose name contains it).
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::core::memory::MemoryInbound;
use switchboard::store::Synchronous;
use switchboard::{
    Adapter, ChannelName, MemoryAdapter, MemoryStore, Secret, SqliteStore, Store, Switchboard,
    WebhookOutcome,
};

struct Report {
    name: &'static str,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(
    url: String,
    mem: MemoryAdapter,
    total: usize,
    in_flight: usize,
    tag: &str,
) -> (f64, Vec<Duration>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()
        .unwrap();
    // Pre-sign every request so the client measures the server, not HMAC.
    let reqs: Vec<_> = (0..total)
        .map(|i| {
            let ev = MemoryInbound::message(
                &format!("{tag}-{i}"),
                &format!("C{}", i % 100),
                "U1",
                "hello",
            );
            mem.signed_request(&url, &[ev])
        })
        .collect();
    let reqs = Arc::new(reqs);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (client, url, reqs, next) = (client.clone(), url.clone(), reqs.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(req) = reqs.get(i) else { break };
                let mut r = client.post(&url).body(req.body.clone());
                for (k, v) in &req.headers {
                    r = r.header(k.as_str(), v.to_str().unwrap());
                }
                let t = Instant::now();
                let resp = r.send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                let _ = resp.bytes().await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    (total as f64 / secs, all)
}

/// `total` events inserted by `in_flight` concurrent callers of `insert_inbound`.
async fn direct(
    store: Arc<SqliteStore>,
    mem: &MemoryAdapter,
    total: usize,
    in_flight: usize,
) -> (f64, Vec<Duration>) {
    let events: Arc<Vec<_>> = Arc::new(
        (0..total)
            .map(|i| {
                let ev = MemoryInbound::message(
                    &format!("d-{i}"),
                    &format!("C{}", i % 100),
                    "U1",
                    "hello",
                );
                let req = mem.signed_request("http://localhost/webhooks/mem", &[ev]);
                match mem.handle_webhook(&req) {
                    WebhookOutcome::Accepted { mut events, .. } => events.remove(0),
                    WebhookOutcome::Rejected(r) => panic!("{r:?}"),
                }
            })
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (store, events, next) = (store.clone(), events.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(ev) = events.get(i) else { break };
                let t = Instant::now();
                store
                    .insert_inbound(std::slice::from_ref(ev))
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    (total as f64 / secs, all)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

async fn engine(
    store: Arc<dyn Store>,
    mem: &MemoryAdapter,
) -> (String, tokio::task::JoinHandle<()>) {
    let sb = Switchboard::builder()
        .store(store)
        .channel(Arc::new(mem.clone()))
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/mem", listener.local_addr().unwrap());
    let router = sb.router();
    (
        url,
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }),
    )
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let in_flight: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    // Optional: run only the targets whose name contains this (e.g. "SQLite", "store only").
    let only = args.next().unwrap_or_default();
    let mem = MemoryAdapter::new(ChannelName::new("mem").unwrap(), Secret::new("load"));
    let mut reports = Vec::new();

    // The no-op baseline.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/mem", listener.local_addr().unwrap());
    let noop = axum::Router::new().route(
        "/webhooks/{c}",
        axum::routing::post(|_body: axum::body::Bytes| async { "" }),
    );
    let h = tokio::spawn(async move { axum::serve(listener, noop).await.unwrap() });
    let dir = std::env::temp_dir().join(format!("switchboard-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let targets: Vec<(&'static str, Option<Arc<dyn Store>>)> = vec![
        ("no-op hyper/axum server", None),
        ("engine, memory store", Some(Arc::new(MemoryStore::new()))),
        (
            "engine, SQLite synchronous=FULL",
            Some(Arc::new(
                SqliteStore::connect_with(
                    &format!("sqlite://{}/full.db", dir.display()),
                    Synchronous::Full,
                )
                .await
                .unwrap(),
            )),
        ),
        (
            "engine, SQLite synchronous=NORMAL",
            Some(Arc::new(
                SqliteStore::connect_with(
                    &format!("sqlite://{}/normal.db", dir.display()),
                    Synchronous::Normal,
                )
                .await
                .unwrap(),
            )),
        ),
    ];
    let mut servers = vec![h];
    for (name, store) in targets {
        if !name.contains(only.as_str()) {
            continue;
        }
        let url = match store {
            None => url.clone(),
            Some(store) => {
                let (u, h) = engine(store, &mem).await;
                servers.push(h);
                u
            }
        };
        let _ = load(
            url.clone(),
            mem.clone(),
            1000.min(total),
            in_flight,
            &format!("warm-{name}"),
        )
        .await;
        let (per_sec, lat) = load(url, mem.clone(), total, in_flight, name).await;
        reports.push(Report {
            name,
            per_sec,
            p50: pct(&lat, 0.5),
            p99: pct(&lat, 0.99),
        });
    }
    // The store alone, without HTTP: `in_flight` tasks calling insert_inbound directly.
    for (name, sync) in [
        ("SQLite FULL, store only (no HTTP)", Synchronous::Full),
        ("SQLite NORMAL, store only (no HTTP)", Synchronous::Normal),
    ] {
        if !name.contains(only.as_str()) {
            continue;
        }
        let store = Arc::new(
            SqliteStore::connect_with(
                &format!("sqlite://{}/direct-{:?}.db", dir.display(), sync),
                sync,
            )
            .await
            .unwrap(),
        );
        let (per_sec, lat) = direct(store, &mem, total, in_flight).await;
        reports.push(Report {
            name,
            per_sec,
            p50: pct(&lat, 0.5),
            p99: pct(&lat, 0.99),
        });
    }
    println!("{total} webhooks, {in_flight} in flight, loopback");
    println!(
        "{:<36} {:>12} {:>10} {:>10}",
        "target", "acks/s", "p50", "p99"
    );
    for r in &reports {
        println!(
            "{:<36} {:>12.0} {:>10.2?} {:>10.2?}",
            r.name, r.per_sec, r.p50, r.p99
        );
    }
    for s in servers {
        s.abort();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
