//! `bench webchat`: many open web chat event streams on one `switchboard serve`: the server's
//! memory per idle stream, and the latency from a message being appended to a conversation's
//! log to its record written on that conversation's stream, under an open-loop rate.
//!
//! The server runs a `provider = "webchat"` channel on the memory store with a `token_secret`,
//! so this tool signs the visitors' tokens itself (opening 10,000 sessions through `POST
//! sessions` would meet the per-IP session cap, as it should). Each stream is a raw HTTP/1.1
//! connection that reads `GET events` and parses `data:` lines. The load posts visitor
//! messages (`POST messages`) to random conversations at `--rate`; the latency of one is from
//! just before its request is written to the arrival of its echo on the conversation's
//! stream: the inbox insert, the append to the durable log, the wake-up and the SSE write
//! (what an outbound `send` does after its claim, minus the provider-less render).

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use switchboard::webchat::TokenKey;
use switchboard::webchat::token::{SessionClaims, issue_session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Workdir, header};
use crate::Result;
use crate::cli::WebchatArgs;
use crate::process::{Server, free_port};
use crate::report::Latencies;

const SECRET: &str = "switchboard-load-webchat-token-secret-0123456789";

/// Sent times of the messages in flight, by client id.
type Inflight = Arc<Mutex<HashMap<String, Instant>>>;

fn config(addr: SocketAddr) -> String {
    format!(
        r#"[server]
listen = "{addr}"
[store]
url = "memory:"
[channels.site]
provider = "webchat"
allowed_origins = ["http://{addr}"]
token_secret = "{SECRET}"
visitor_rate = {{ per_second = 1000.0, burst = 1000 }}
[channels.site.rate]
per_second = 100000.0
burst = 10000
"#
    )
}

/// The server's resident memory in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn token(key: &TokenKey, i: usize) -> String {
    let now = switchboard::core::model::time::to_millis(SystemTime::now());
    issue_session(
        key,
        &SessionClaims {
            channel: "site".into(),
            conversation: format!("anon:bench{i:08}"),
            user_id: None,
            name: None,
            issued_at: now,
            expires_at: now + 3_600_000,
        },
    )
}

/// Opens one stream and reads it until the end, recording the latency of every echo whose
/// client id is in flight.
async fn stream(
    addr: SocketAddr,
    token: String,
    inflight: Inflight,
    latencies: Arc<Mutex<Latencies>>,
    opened: tokio::sync::mpsc::Sender<bool>,
) {
    let Ok(mut conn) = TcpStream::connect(addr).await else {
        let _ = opened.send(false).await;
        return;
    };
    let request = format!(
        "GET /webchat/site/events?token={token} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if conn.write_all(request.as_bytes()).await.is_err() {
        let _ = opened.send(false).await;
        return;
    }
    let mut buf = vec![0_u8; 4096];
    let mut text = String::new();
    let mut announced = false;
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !announced && text.contains("retry: 3000") {
            announced = true;
            let _ = opened.send(text.starts_with("HTTP/1.1 200")).await;
        }
        while let Some(at) = text.find("\"client_id\":\"") {
            let rest = &text[at + 13..];
            let Some(end) = rest.find('"') else { break };
            let id = rest[..end].to_owned();
            text.drain(..at + 13 + end);
            let sent = inflight.lock().map(|mut m| m.remove(&id)).ok().flatten();
            if let (Some(sent), Ok(mut l)) = (sent, latencies.lock()) {
                l.record(sent.elapsed());
            }
        }
        if text.len() > 8192 {
            let keep = text.len() - 256;
            text.drain(..keep);
        }
    }
    if !announced {
        let _ = opened.send(false).await;
    }
}

pub(crate) async fn bench(args: &WebchatArgs) -> Result<()> {
    let dir = Workdir::new(args.placement.keep)?;
    header("bench webchat", &args.placement, &dir);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let config_path = dir.path.join("webchat.toml");
    std::fs::write(&config_path, config(addr))?;
    let log = dir.path.join("serve.log");
    let serve_args: Vec<OsString> = vec!["serve".into(), "--config".into(), config_path.into()];
    let mut server = Server::spawn(
        "switchboard",
        args.placement.server(),
        &args.switchboard,
        &serve_args,
        &log,
    )?;
    let base = format!("http://{addr}");
    server
        .wait_ready(&format!("{base}/readyz"), Duration::from_secs(60), &log)
        .await?;
    let pid = server.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;

    let key = TokenKey::from_secret(&switchboard::Secret::new(SECRET));
    let inflight: Inflight = Arc::default();
    let latencies = Arc::new(Mutex::new(Latencies::with_capacity(1 << 16)));
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(1024);
    let start = Instant::now();
    let (mut ok, mut pending) = (0, 0_usize);
    let mut tasks = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        tasks.push(tokio::spawn(stream(
            addr,
            token(&key, i),
            inflight.clone(),
            latencies.clone(),
            opened_tx.clone(),
        )));
        pending += 1;
        // At most 256 connections opening at once.
        while pending >= 256 {
            match tokio::time::timeout(Duration::from_secs(30), opened_rx.recv()).await {
                Ok(Some(o)) => {
                    pending -= 1;
                    ok += usize::from(o);
                }
                _ => return Err("streams stopped opening (30 s without an answer)".into()),
            }
        }
    }
    while pending > 0 {
        match tokio::time::timeout(Duration::from_secs(30), opened_rx.recv()).await {
            Ok(Some(o)) => {
                pending -= 1;
                ok += usize::from(o);
            }
            _ => break,
        }
    }
    println!(
        "   {ok} of {} streams open in {:.1} s",
        args.streams,
        start.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let per = (idle.saturating_sub(before)) as f64 / ok.max(1) as f64;
    println!(
        "   server RSS {before} KiB before, {idle} KiB with {ok} idle streams: {per:.1} KiB per idle stream"
    );

    // Open loop: one message every 1/rate to a random conversation.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1.0));
    let total = (args.rate * args.duration.as_secs_f64()) as usize;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let load_start = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let i = spread(n, ok.max(1));
        let client_id = format!("b{n}");
        let body = format!(r#"{{"client_id":"{client_id}","text":"bench {n}"}}"#);
        let url = format!("{base}/webchat/site/messages");
        let auth = format!("Bearer {}", token(&key, i));
        let (http, inflight, errors) = (http.clone(), inflight.clone(), errors.clone());
        tokio::spawn(async move {
            if let Ok(mut m) = inflight.lock() {
                m.insert(client_id, Instant::now());
            }
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .header("authorization", auth)
                .body(body)
                .send()
                .await;
            if !r.is_ok_and(|r| r.status() == 202) {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let sent_secs = load_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lost = inflight.lock().map(|m| m.len()).unwrap_or(0);
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let s = l.summary();
    println!(
        "   {total} messages in {sent_secs:.1} s ({:.0}/s) to {ok} streams: {} echoes seen, {} not seen, {} refused",
        total as f64 / sent_secs,
        l.len(),
        lost,
        errors.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "   append → SSE write: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        f64::from(s.p50_us) / 1000.0,
        f64::from(s.p90_us) / 1000.0,
        f64::from(s.p99_us) / 1000.0,
        f64::from(s.max_us) / 1000.0
    );
    if let Some(rss) = rss_kib(pid) {
        println!("   server RSS after the load: {rss} KiB");
    }
    for t in &tasks {
        t.abort();
    }
    server.stop().await;
    Ok(())
}

/// A spread of conversation indexes without a random source: a multiplicative hash of `n`.
fn spread(n: usize, len: usize) -> usize {
    (n.wrapping_mul(2_654_435_761)) % len
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The benchmark's pieces against an in-process server on its config: a signed token opens
    /// a stream, a posted message's echo is seen on it and timed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stream_of_the_bench_sees_and_times_an_echo() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let env = switchboard::Env::from_pairs(Vec::<(String, String)>::new());
        let sb = switchboard::SwitchboardBuilder::from_config_str(&config(addr), &env)
            .unwrap()
            .build()
            .await
            .unwrap();
        let running = sb.start(listener).unwrap();
        let key = TokenKey::from_secret(&switchboard::Secret::new(SECRET));
        let inflight: Inflight = Arc::default();
        let latencies = Arc::new(Mutex::new(Latencies::default()));
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = tokio::spawn(stream(
            addr,
            token(&key, 7),
            inflight.clone(),
            latencies.clone(),
            tx,
        ));
        assert_eq!(rx.recv().await, Some(true), "the stream opened");
        inflight.lock().unwrap().insert("b1".into(), Instant::now());
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/webchat/site/messages"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", token(&key, 7)))
            .body(r#"{"client_id":"b1","text":"bench 1"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let start = Instant::now();
        while latencies.lock().unwrap().len() == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "no echo timed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(inflight.lock().unwrap().is_empty());
        reader.abort();
        running.shutdown().await.unwrap();
        assert_ne!(spread(1, 10), spread(2, 10));
    }
}
