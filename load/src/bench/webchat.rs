//! `bench webchat`: many open web chat event streams on one `switchboard serve`: the server's
//! memory per idle stream, and the latency from a `send` to its record written on the
//! conversation's stream, under an open-loop rate.
//!
//! The server runs a `provider = "webchat"` channel on the memory store with a `token_secret`,
//! so this tool signs the visitors' tokens itself (opening 10,000 sessions through `POST
//! sessions` would meet the per-IP session cap, as it should). Each stream is a raw HTTP/1.1
//! connection that reads `GET events` and looks for the texts `bench N`. The load sends one
//! message every 1/`--rate` to a spread of conversations, each text `bench N`:
//!
//! - `--via send` (default): the application's send, through the gateway's `POST
//!   /v1/messages` (an API key in `[gateway]`): the outbox insert, the sender's claim and
//!   attempt, the adapter's render and append to the durable log, the wake-up, the SSE write;
//! - `--via message`: a visitor's `POST messages`: the inbox insert, the echo's append, the
//!   wake-up, the SSE write.
//!
//! The latency of one is from just before its request is written to the arrival of its record
//! on the conversation's stream (both clocks are this process's).

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
use crate::cli::{Via, WebchatArgs};
use crate::process::{CpuMeter, Server, free_port, raise_open_files};
use crate::report::Latencies;

const SECRET: &str = "switchboard-load-webchat-token-secret-0123456789";
/// The gateway API key `--via send` uses.
const API_KEY: &str = "switchboard-load-webchat-api-key";
/// What every message's text starts with; its number follows.
const TEXT: &str = "\"text\":\"bench ";

/// Sent times of the messages in flight, by number.
type Inflight = Arc<Mutex<HashMap<u64, Instant>>>;

fn config(addr: SocketAddr) -> String {
    format!(
        r#"[server]
listen = "{addr}"
[store]
url = "memory:"
[gateway]
api_keys = ["{API_KEY}"]
[channels.site]
provider = "webchat"
allowed_origins = ["http://{addr}"]
token_secret = "{SECRET}"
visitor_rate = {{ per_second = 1000.0, burst = 1000 }}
[channels.site.rate]
per_second = 100000.0
burst = 10000
per_conversation_per_second = 1000.0
per_conversation_burst = 1000
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

/// The numbers of the `bench N` texts in `text`, and how much of `text` they end (what is
/// left may hold the start of the next one).
fn numbers(text: &str) -> (Vec<u64>, usize) {
    let (mut found, mut done) = (Vec::new(), 0);
    while let Some(at) = text[done..].find(TEXT) {
        let start = done + at + TEXT.len();
        let Some(end) = text[start..].find('"') else {
            break;
        };
        if let Ok(n) = text[start..start + end].parse() {
            found.push(n);
        }
        done = start + end;
    }
    (found, done)
}

/// Opens one stream and reads it until the end, recording the latency of every record whose
/// number is in flight.
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
        let (found, done) = numbers(&text);
        for n in found {
            let sent = inflight.lock().map(|mut m| m.remove(&n)).ok().flatten();
            if let (Some(sent), Ok(mut l)) = (sent, latencies.lock()) {
                l.record(sent.elapsed());
            }
        }
        text.drain(..done);
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
    // One socket per stream on each side, plus the load's connections and the server's files;
    // the server inherits this process's limit.
    let limit = raise_open_files(args.streams as u64 + 2048)?;
    println!("   open-file limit {limit} (this process and the server)");
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
    println!("   server pid {pid}, CPUs {}", server.cpus_allowed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;

    let key = TokenKey::from_secret(&switchboard::Secret::new(SECRET));
    let inflight: Inflight = Arc::default();
    let latencies = Arc::new(Mutex::new(Latencies::with_capacity(1 << 16)));
    let (ok, tasks) = open_streams(args.streams, addr, &key, &inflight, &latencies).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid).ok_or("cannot read the server's VmRSS")?;
    let per = (idle.saturating_sub(before)) as f64 / ok.max(1) as f64;
    println!(
        "   server RSS {before} KiB before, {idle} KiB with {ok} idle streams: {per:.1} KiB per idle stream"
    );

    let (sent_secs, errors) = load(args, &base, &key, ok, &inflight, pid).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lost = inflight.lock().map(|m| m.len()).unwrap_or(0);
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    let s = l.summary();
    let total = (args.rate * args.duration.as_secs_f64()) as usize;
    let what = match args.via {
        Via::Send => "send (POST /v1/messages) → SSE write",
        Via::Message => "POST messages → its echo's SSE write",
    };
    println!(
        "   {total} messages in {sent_secs:.1} s ({:.0}/s) to {ok} streams: {} seen, {lost} not seen, {errors} refused",
        total as f64 / sent_secs,
        l.len(),
    );
    println!(
        "   {what}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
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

/// Opens `count` streams (at most 256 opening at once); returns how many opened and their
/// tasks.
async fn open_streams(
    count: usize,
    addr: SocketAddr,
    key: &TokenKey,
    inflight: &Inflight,
    latencies: &Arc<Mutex<Latencies>>,
) -> Result<(usize, Vec<tokio::task::JoinHandle<()>>)> {
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(1024);
    let start = Instant::now();
    let (mut ok, mut pending) = (0, 0_usize);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tasks.push(tokio::spawn(stream(
            addr,
            token(key, i),
            inflight.clone(),
            latencies.clone(),
            opened_tx.clone(),
        )));
        pending += 1;
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
        "   {ok} of {count} streams open in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok((ok, tasks))
}

/// The open loop: one message every 1/rate to a spread of the `streams` conversations.
/// Returns how long the sending took and how many requests were refused.
async fn load(
    args: &WebchatArgs,
    base: &str,
    key: &TokenKey,
    streams: usize,
    inflight: &Inflight,
    pid: u32,
) -> Result<(f64, u64)> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1.0));
    let total = (args.rate * args.duration.as_secs_f64()) as usize;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (server_cpu, own_cpu) = (CpuMeter::start(pid), CpuMeter::own());
    let load_start = Instant::now();
    for n in 0..total {
        ticker.tick().await;
        let i = spread(n, streams.max(1));
        let request = match args.via {
            Via::Send => http
                .post(format!("{base}/v1/messages"))
                .header("authorization", format!("Bearer {API_KEY}"))
                .header("idempotency-key", format!("b{n}"))
                .body(format!(
                    r#"{{"channel":"site","conversation":"anon:bench{i:08}","message":{{"text":"bench {n}"}}}}"#
                )),
            Via::Message => http
                .post(format!("{base}/webchat/site/messages"))
                .header("authorization", format!("Bearer {}", token(key, i)))
                .body(format!(r#"{{"client_id":"b{n}","text":"bench {n}"}}"#)),
        }
        .header("content-type", "application/json");
        let (inflight, errors) = (inflight.clone(), errors.clone());
        let n = n as u64;
        tokio::spawn(async move {
            if let Ok(mut m) = inflight.lock() {
                m.insert(n, Instant::now());
            }
            let r = request.send().await;
            if !r.is_ok_and(|r| r.status() == 202) {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let secs = load_start.elapsed().as_secs_f64();
    let pct = |p: Option<f64>| p.map_or_else(|| "?".to_owned(), |p| format!("{p:.0}%"));
    println!(
        "   during the load: server CPU {} (others on its core {}), load side {}",
        pct(server_cpu.percent()),
        pct(server_cpu.others_percent()),
        pct(own_cpu.percent())
    );
    Ok((secs, errors.load(std::sync::atomic::Ordering::Relaxed)))
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
        // As `switchboard serve` reads it: [gateway] apart, the rest for the engine.
        let mut whole: toml::Table = config(addr).parse().unwrap();
        let gateway = switchboard::gateway::GatewayConfig::from_document(&whole, &env)
            .unwrap()
            .unwrap();
        whole.remove("gateway");
        let sb = switchboard::SwitchboardBuilder::from_config_str(
            &toml::to_string(&whole).unwrap(),
            &env,
        )
        .unwrap()
        .gateway(gateway)
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
        inflight.lock().unwrap().insert(1, Instant::now());
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/webchat/site/messages"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", token(&key, 7)))
            .body(r#"{"client_id":"b1","text":"bench 1"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let seen = |n: usize| {
            let (latencies, inflight) = (latencies.clone(), inflight.clone());
            async move {
                let start = Instant::now();
                while latencies.lock().unwrap().len() < n {
                    assert!(start.elapsed() < Duration::from_secs(10), "not timed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                assert!(inflight.lock().unwrap().is_empty());
            }
        };
        seen(1).await;
        // An application's send through the gateway reaches the same stream.
        inflight.lock().unwrap().insert(2, Instant::now());
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/v1/messages"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {API_KEY}"))
            .header("idempotency-key", "b2")
            .body(r#"{"channel":"site","conversation":"anon:bench00000007","message":{"text":"bench 2"}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
        seen(2).await;
        reader.abort();
        running.shutdown().await.unwrap();
        assert_ne!(spread(1, 10), spread(2, 10));
        assert_eq!(
            numbers(r#"{"text":"bench 12"} x {"text":"bench 3"} {"text":"bench 4"#),
            (vec![12, 3], 38)
        );
    }
}
