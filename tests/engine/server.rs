//! The HTTP server's own limits over real TCP: a request's deadline covers reading its body
//! (a trickling client is answered 408, and holds no load-shedding permit while it trickles),
//! and the graceful drain on shutdown is bounded by `shutdown_grace`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use switchboard::{Config, MemoryStore, Switchboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Opens a webhook request that announces a 1,000-byte body and then sends one byte every
/// 200 ms (more than three minutes for the whole body). Returns the read half and the task
/// trickling the body.
async fn trickle(addr: std::net::SocketAddr) -> (tokio::net::tcp::OwnedReadHalf, JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let head = "POST /webhooks/mem HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
    write.write_all(head.as_bytes()).await.unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..999 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    (read, task)
}

/// The status code of the response on `read`, or `None` if none came (EOF or error).
async fn status(read: &mut tokio::net::tcp::OwnedReadHalf) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&got);
    line.split(' ').nth(1)?.trim().parse().ok()
}

async fn engine(config: Config) -> (Switchboard, switchboard::MemoryAdapter) {
    let mem = memory("mem");
    let sb = Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel(Arc::new(mem.clone()))
        .on_message(|_ctx| async move { Ok(()) })
        .build()
        .await
        .unwrap();
    (sb, mem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_is_answered_408_within_the_timeout_and_holds_no_permit() {
    let timeout = Duration::from_secs(4);
    let mut config = Config::default();
    config.server.request_timeout = timeout;
    config.server.max_in_flight = 1;
    let (sb, mem) = engine(config).await;
    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/mem", running.url());
    let client = reqwest::Client::new();

    let started = Instant::now();
    let (mut slow, writer) = trickle(running.addr()).await;
    // Let the slow request reach the handler.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A body still arriving holds no permit (issue 15, item 3): with max_in_flight = 1 a
    // well-formed webhook is still stored at once.
    let req = mem.signed_request(&url, &[inbound("first", "C1", "hi")]);
    let first = post(&client, &url, &req).await;
    assert_eq!(first.status(), 200, "a trickling body took the only permit");
    assert!(
        started.elapsed() < timeout,
        "the answer came too late to prove anything: {:?}",
        started.elapsed()
    );

    // The trickling request is answered 408 once its deadline passes, not when (if ever) its
    // body completes (more than three minutes away).
    let answer = tokio::time::timeout(timeout + Duration::from_secs(20), status(&mut slow))
        .await
        .expect("no answer to a trickling body within request_timeout + 20 s");
    let waited = started.elapsed();
    assert_eq!(answer, Some(408));
    assert!(
        waited >= timeout - Duration::from_millis(500),
        "answered before the deadline: {waited:?}"
    );
    writer.abort();

    let req = mem.signed_request(&url, &[inbound("after", "C1", "hi")]);
    assert_eq!(post(&client, &url, &req).await.status(), 200);
    let stats = sb.stats().await.unwrap();
    assert_eq!(stats.inbox_pending + stats.inbox_done, 2, "{stats:?}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_stalled_request_no_longer_than_the_grace() {
    let grace = Duration::from_secs(1);
    let mut config = Config::default();
    config.server.request_timeout = Duration::from_secs(120);
    config.server.shutdown_grace = grace;
    let (sb, _mem) = engine(config).await;
    let running = sb.start(listener().await).unwrap();
    let (_slow, writer) = trickle(running.addr()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), running.shutdown())
        .await
        .expect("shutdown waited for a request the client never finishes")
        .unwrap();
    assert!(
        started.elapsed() >= grace - Duration::from_millis(100),
        "the drain did not wait for the request at all: {:?}",
        started.elapsed()
    );
    writer.abort();
}
