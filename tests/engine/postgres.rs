//! The engine on the PostgreSQL store, served over HTTP: webhooks are stored and answered, and
//! when the connection path to PostgreSQL is cut (a TCP proxy in the test, not the service)
//! webhooks are answered 503 and `/readyz` says not ready, nothing unstored is acknowledged,
//! and work resumes when the path is back; two instances on one database share the work.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (trust, database `test`): skipped without it, failed
//! without it where `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`.
//! `cargo test -p switchboard --features postgres,testkit --test engine -- postgres::`
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use crate::common::postgres::{pg_config, served_behind_proxy};
use crate::common::*;
use switchboard::testkit::{PG_ADDR, TestSchema};
use switchboard::{MemoryAdapter, Switchboard, SwitchboardBuilder};

/// An instance on `addr` (PostgreSQL or a proxy in front of it), replying "re: {text}".
fn instance(addr: &str, schema: &TestSchema, adapter: &MemoryAdapter) -> SwitchboardBuilder {
    let mut config = pg_config(addr, schema);
    config.engine.poll_interval = Duration::from_millis(50);
    // A send whose outcome could not be recorded (the cut) runs again after its lease.
    config.engine.lease = Duration::from_secs(2);
    config.engine.backoff_base = Duration::from_millis(20);
    config.engine.backoff_max = Duration::from_millis(200);
    config.server.request_timeout = Duration::from_secs(5);
    Switchboard::builder()
        .config(config)
        .channel(Arc::new(adapter.clone()))
        .on_message(|ctx| async move {
            let text = ctx.event().text().unwrap_or_default().to_owned();
            ctx.reply_text(format!("re: {text}"))?;
            Ok(())
        })
}

fn texts(adapter: &MemoryAdapter, conv: &str) -> Vec<String> {
    adapter
        .sent()
        .iter()
        .filter(|s| s.to.conversation.as_str() == conv)
        .map(|s| s.text.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_outage_answers_503_and_work_resumes() {
    let adapter = memory("pg");
    let build = |addr: &str, schema: &TestSchema| instance(addr, schema, &adapter);
    let Some((_schema, proxy, served)) = served_behind_proxy(build, Duration::from_secs(15)).await
    else {
        return;
    };
    for i in 0..3 {
        let events = [inbound(&format!("e{i}"), "A", &format!("m{i}"))];
        assert!(
            served
                .deliver(&adapter, &events)
                .await
                .status()
                .is_success()
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || async {
            texts(&adapter, "A").len() == 3
        })
        .await
    );

    proxy.cut();
    let refused = adapter.signed_request(&served.url, &[inbound("e3", "A", "m3")]);
    let status = served.post(&refused).await.status();
    assert_eq!(status.as_u16(), 503, "not stored, not acknowledged");
    assert_eq!(served.get("/readyz").await.status().as_u16(), 503);

    proxy.restore();
    assert!(
        served.ready_within(Duration::from_secs(15)).await,
        "ready again once PostgreSQL is back"
    );
    // The provider retries the refused webhook; then one more.
    assert!(served.post(&refused).await.status().is_success());
    let next = [inbound("e4", "A", "m4")];
    assert!(served.deliver(&adapter, &next).await.status().is_success());
    assert!(
        eventually(Duration::from_secs(20), || async {
            texts(&adapter, "A").len() >= 5
        })
        .await,
        "{:?}",
        texts(&adapter, "A")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let want: Vec<String> = (0..5).map(|i| format!("re: m{i}")).collect();
    assert_eq!(texts(&adapter, "A"), want, "each once, in order");
    served.shutdown().await;
}

/// Two instances on one database: webhooks to either are handled once each, in order per
/// conversation, and the replies go out once (both send on the same "provider").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_two_instances_share_the_work() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let adapter = memory("pg");
    let a = instance(PG_ADDR, &schema, &adapter).build().await.unwrap();
    let b = instance(PG_ADDR, &schema, &adapter).build().await.unwrap();
    let (la, lb) = (listener().await, listener().await);
    let urls = [
        format!("http://{}/webhooks/pg", la.local_addr().unwrap()),
        format!("http://{}/webhooks/pg", lb.local_addr().unwrap()),
    ];
    let (ra, rb) = (a.start(la).unwrap(), b.start(lb).unwrap());
    let client = reqwest::Client::new();
    let (convs, per) = (10, 8);
    for i in 0..per {
        for c in 0..convs {
            let url = &urls[fastrand::usize(..2)];
            let ev = inbound(&format!("e{c}-{i}"), &format!("C{c}"), &format!("C{c} {i}"));
            let req = adapter.signed_request(url, &[ev]);
            assert!(post(&client, url, &req).await.status().is_success());
        }
    }
    assert!(
        eventually(Duration::from_secs(30), || async {
            adapter.sent().len() >= convs * per
        })
        .await,
        "sent {} of {}",
        adapter.sent().len(),
        convs * per
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(adapter.sent().len(), convs * per, "each reply once");
    for c in 0..convs {
        let want: Vec<String> = (0..per).map(|i| format!("re: C{c} {i}")).collect();
        assert_eq!(texts(&adapter, &format!("C{c}")), want, "order of C{c}");
    }
    ra.shutdown().await.unwrap();
    rb.shutdown().await.unwrap();
}
