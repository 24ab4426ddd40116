//! The engine on a PostgreSQL that stops answering mid-work (a black hole: the TCP proxy in
//! the test holds every connection open and forwards nothing, as a network partition does):
//! webhooks are answered 503 within the store's bounds (well before the server's own
//! `request_timeout`), `/readyz` says not ready within `connect_timeout`, nothing unstored is
//! acknowledged, and the instance stores webhooks again once the path is back (the full
//! outage flow, replies in order, is the `postgres` module's cut test).
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (trust, database `test`): skipped without it, failed
//! without it where `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`.
//! `cargo test -p switchboard --features postgres,testkit --test engine -- pg_black_hole::`
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::postgres::{pg_config, served_behind_proxy};
use crate::common::*;
use switchboard::testkit::TestSchema;
use switchboard::{MemoryAdapter, Switchboard, SwitchboardBuilder};

/// An instance on `addr` (a proxy in front of PostgreSQL) with no handler (events stay
/// queued), 1 s store bounds and a 20 s request timeout, so a 503 that comes sooner is the
/// store's.
fn instance(addr: &str, schema: &TestSchema, adapter: &MemoryAdapter) -> SwitchboardBuilder {
    let mut config = pg_config(addr, schema);
    config.store.statement_timeout = Duration::from_secs(1);
    config.server.request_timeout = Duration::from_secs(20);
    Switchboard::builder()
        .config(config)
        .channel(Arc::new(adapter.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_black_hole_answers_503_within_bounds_and_recovers() {
    let adapter = memory("pg");
    let build = |addr: &str, schema: &TestSchema| instance(addr, schema, &adapter);
    let Some((_schema, proxy, served)) = served_behind_proxy(build, Duration::from_secs(30)).await
    else {
        return;
    };
    let first = [inbound("e0", "A", "m0")];
    assert!(served.deliver(&adapter, &first).await.status().is_success());

    proxy.black_hole();
    let refused = adapter.signed_request(&served.url, &[inbound("e1", "A", "m1")]);
    let started = Instant::now();
    let status = served.post(&refused).await.status();
    assert_eq!(status.as_u16(), 503, "not stored, not acknowledged");
    // The store's bounds (a connection 1 s, a statement 1 s + 1 s grace, a batch at once),
    // not the server's 20 s request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(served.get("/readyz").await.status().as_u16(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    proxy.restore();
    assert!(
        served.ready_within(Duration::from_secs(20)).await,
        "ready again once PostgreSQL answers"
    );
    // The provider retries the refused webhook until it is stored; then one more.
    assert!(
        eventually(Duration::from_secs(20), || async {
            served.post(&refused).await.status().is_success()
        })
        .await
    );
    let next = [inbound("e2", "A", "m2")];
    assert!(served.deliver(&adapter, &next).await.status().is_success());
    served.shutdown().await;
}
