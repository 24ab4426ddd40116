//! The engine on a PostgreSQL that stops answering mid-work (a black hole: the TCP proxy in
//! the test holds every connection open and forwards nothing, as a network partition does):
//! webhooks are answered 503 within the store's bounds (well before the server's own
//! `request_timeout`), `/readyz` says not ready within `connect_timeout`, nothing unstored is
//! acknowledged, and the instance stores webhooks again once the path is back (the full
//! outage flow, replies in order, is `engine_postgres`'s cut test).
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (trust, database `test`): skipped without it, failed
//! without it where `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`.
//! `cargo test -p switchboard --features postgres,testkit --test pg_black_hole`
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use switchboard::testkit::{PG_ADDR, TcpProxy, TestSchema};
use switchboard::{Config, MemoryAdapter, Switchboard};

/// An instance on `addr` (a proxy in front of PostgreSQL) with no handler (events stay
/// queued), 1 s store bounds and a 20 s request timeout, so a 503 that comes sooner is the
/// store's.
async fn instance(addr: &str, schema: &TestSchema, adapter: &MemoryAdapter) -> Switchboard {
    let mut config = Config::default();
    config.store.url = format!("postgres://postgres@{addr}/test");
    config.store.schema = Some(schema.name().to_owned());
    config.store.connect_timeout = Duration::from_secs(1);
    config.store.statement_timeout = Duration::from_secs(1);
    config.server.request_timeout = Duration::from_secs(20);
    let builder = Switchboard::builder().config(config);
    builder
        .channel(Arc::new(adapter.clone()))
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_black_hole_answers_503_within_bounds_and_recovers() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let proxy = TcpProxy::start(PG_ADDR).await.unwrap();
    let adapter = memory("pg");
    let sb = instance(&proxy.addr().to_string(), &schema, &adapter).await;
    let listener = listener().await;
    let base = format!("http://{}", listener.local_addr().unwrap());
    let running = sb.start(listener).unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("{base}/webhooks/pg");
    let first = adapter.signed_request(&url, &[inbound("e0", "A", "m0")]);
    assert!(post(&client, &url, &first).await.status().is_success());

    proxy.black_hole();
    let refused = adapter.signed_request(&url, &[inbound("e1", "A", "m1")]);
    let started = Instant::now();
    let status = post(&client, &url, &refused).await.status();
    assert_eq!(status.as_u16(), 503, "not stored, not acknowledged");
    // The store's bounds (a connection 1 s, a statement 1 s + 1 s grace, a batch at once),
    // not the server's 20 s request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    proxy.restore();
    assert!(
        eventually(Duration::from_secs(20), || async {
            let r = client.get(format!("{base}/readyz")).send().await;
            r.is_ok_and(|r| r.status().is_success())
        })
        .await,
        "ready again once PostgreSQL answers"
    );
    // The provider retries the refused webhook until it is stored; then one more.
    assert!(
        eventually(Duration::from_secs(20), || async {
            post(&client, &url, &refused).await.status().is_success()
        })
        .await
    );
    let next = adapter.signed_request(&url, &[inbound("e2", "A", "m2")]);
    assert!(post(&client, &url, &next).await.status().is_success());
    running.shutdown().await.unwrap();
}
