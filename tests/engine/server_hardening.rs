//! Issue 15, server items, over real TCP on 127.0.0.1: partial headers (slowloris) are cut off
//! and capped (item 2), slow unauthenticated bodies hold no load-shedding permit (item 3),
//! unsigned or oversized forms are refused before any parsing (item 5), and `/metrics` and
//! `/readyz` move to `admin_listen` when it is set (item 9).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::{Env, MemoryStore, Running, Switchboard, SwitchboardBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-test-token";
const SLACK_SECRET: &str = "slack-test-secret";

async fn start(server: &str) -> (Switchboard, Running) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
{server}

[channels.sms]
provider = "twilio"
account_sid = "{SID}"
auth_token = "{TOKEN}"
from = "+15550001111"
api_base_url = "http://127.0.0.1:9"

[channels.team]
provider = "slack"
bot_token = "xoxb-test"
signing_secret = "{SLACK_SECRET}"
api_base_url = "http://127.0.0.1:9"
"#
    );
    let sb = SwitchboardBuilder::from_config_str(&text, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .store(Arc::new(MemoryStore::new()))
        .on_message(|_ctx| async move { Ok(()) })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener).unwrap();
    (sb, running)
}

/// A signed Twilio SMS webhook to `running`'s `sms` channel.
async fn signed_sms(running: &Running, sid: &str) -> reqwest::Response {
    let url = format!("{}/webhooks/sms", running.url());
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", SID),
        ("From", "+15557654321"),
        ("To", "+15550001111"),
        ("Body", "help"),
        ("NumMedia", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sig = switchboard::twilio::signature::sign(TOKEN, &url, &params);
    reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(&params)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap()
}

/// The status of the response read from `stream`, `None` on EOF or error first.
async fn status_of(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .split(' ')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Item 2: 200 connections sending partial headers, against a cap of 50 connections and a
/// 1 s header-read timeout: `/healthz` and a signed webhook are still answered, and every
/// partial connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_cut_off_and_capped_while_real_requests_are_served() {
    let (sb, running) = start("max_connections = 50\nheader_read_timeout = \"1s\"").await;
    let mut partial = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(running.addr()).await.unwrap();
        s.write_all(b"POST /webhooks/sms HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        partial.push(s);
    }
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", running.url()))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(signed_sms(&running, "SM0001").await.status(), 200);
    eprintln!("served after {:?}", started.elapsed());
    let mut closed = 0;
    for s in &mut partial {
        if closed_within(s, Duration::from_secs(10)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 200, "every partial connection is closed");
    let stats = sb.stats().await.unwrap();
    assert_eq!(stats.inbox_pending + stats.inbox_done, 1, "{stats:?}");
    running.shutdown().await.unwrap();
}

/// Opens an unauthenticated Twilio upload (a made-up signature) announcing 100 kB and sending
/// one byte every 200 ms.
async fn slow_upload(
    addr: SocketAddr,
) -> (tokio::net::tcp::OwnedReadHalf, tokio::task::JoinHandle<()>) {
    let (read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = "POST /webhooks/sms HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: bm90IGEgc2lnbmF0dXJl\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nBody=";
    write.write_all(head.as_bytes()).await.unwrap();
    let task = tokio::spawn(async move {
        for _ in 0..10_000 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    (read, task)
}

/// Item 3: 70 slow unauthenticated uploads against `max_in_flight = 64`: a valid signed
/// Twilio webhook is answered 200 and stored; the uploads end in 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_unauthenticated_bodies_do_not_starve_a_signed_webhook() {
    let (sb, running) = start("max_in_flight = 64\nrequest_timeout = \"3s\"").await;
    let mut uploads = Vec::new();
    for _ in 0..70 {
        uploads.push(slow_upload(running.addr()).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answer = signed_sms(&running, "SM0002").await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let stats = sb.stats().await.unwrap();
    assert_eq!(
        stats.inbox_pending + stats.inbox_done,
        1,
        "stored: {stats:?}"
    );
    for (mut read, task) in uploads {
        let status = tokio::time::timeout(Duration::from_secs(20), status_of(&mut read))
            .await
            .unwrap();
        assert_eq!(status, Some(408));
        task.abort();
    }
    running.shutdown().await.unwrap();
}

/// One megabyte of tiny pairs: `a=1&a=1&…`.
fn megabyte_form() -> String {
    "a=1&".repeat(256 * 1024)
}

/// Item 5: refused before parsing. No signature header: 401 before the body is read. A
/// made-up signature on 1 MiB of tiny pairs: 400 before parsing, sorting or hashing, on the
/// Twilio and Slack paths. A content type the provider never sends: 415.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_oversized_forms_are_refused_before_parsing() {
    let (sb, running) = start("max_body_bytes = 2097152").await;

    // Headers only, announcing 1 MiB that never comes: answered from the headers.
    let mut s = TcpStream::connect(running.addr()).await.unwrap();
    s.write_all(
        b"POST /webhooks/sms HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n",
    )
    .await
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(2), status_of(&mut s))
        .await
        .expect("answered without the body");
    assert_eq!(status, Some(401));

    let client = reqwest::Client::new();
    let body = megabyte_form();
    let started = Instant::now();
    let unsigned = client
        .post(format!("{}/webhooks/sms", running.url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let twilio = client
        .post(format!("{}/webhooks/sms", running.url()))
        .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(twilio.status(), 400);
    assert!(
        twilio
            .text()
            .await
            .unwrap()
            .contains("more than 1000 form parameters"),
        "a clear reason"
    );
    let slack = client
        .post(format!("{}/webhooks/team", running.url()))
        .header("X-Slack-Signature", "v0=00")
        .header("X-Slack-Request-Timestamp", "1700000000")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(slack.status(), 400);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    let text = client
        .post(format!("{}/webhooks/sms", running.url()))
        .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let stats = sb.stats().await.unwrap();
    assert_eq!(stats.inbox_pending + stats.inbox_done, 0);
    running.shutdown().await.unwrap();
}

/// Item 9: with `admin_listen`, `/metrics` and `/readyz` are served there only; the webhook
/// listener keeps `/healthz` and the webhooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_move_to_the_admin_listener() {
    let (_sb, running) = start("admin_listen = \"127.0.0.1:0\"").await;
    let admin = running.admin_addr().expect("the admin listener is bound");
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(format!("{}/metrics", running.url())).await, 404);
    assert_eq!(get(format!("{}/readyz", running.url())).await, 404);
    assert_eq!(get(format!("{}/healthz", running.url())).await, 200);
    assert_eq!(get(format!("http://{admin}/metrics")).await, 200);
    assert_eq!(get(format!("http://{admin}/readyz")).await, 200);
    assert_eq!(get(format!("http://{admin}/webhooks/sms")).await, 404);
    assert_eq!(signed_sms(&running, "SM0003").await.status(), 200);
    running.shutdown().await.unwrap();
}
