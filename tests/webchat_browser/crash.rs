//! The widget through 20 forced stream drops and a SIGKILL of the server, in the browser.
//!
//! The server runs as a child process (this test binary again, with [`CHILD`] set: the test
//! [`server_child`]) on a SQLite file, with the gateway's REST API on. The page is served
//! through a TCP proxy in the test ([`Proxy`]): its origin stays the same when the server is
//! killed and restarted on the same port, and the proxy cuts the event stream's connection 20
//! times. Meanwhile 100 agent messages are sent to the page's conversation through
//! `POST /v1/messages` (through the durable outbox), each with its own `Idempotency-Key`
//! and retried until accepted, about five after each drop; the server is SIGKILLed once mid-burst
//! and restarted. At the end the page shows each of the 100 exactly once, in order, and the
//! widget's cursor is at the log's end.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::webchat_support::proxy::Proxy;
use serde_json::{Value, json};
use switchboard::gateway::GatewayConfig;
use switchboard::{Env, SwitchboardBuilder};

use super::*;

/// Set in the child process: the server's config.
const CHILD: &str = "SWITCHBOARD_WEBCHAT_BROWSER_CHILD";
/// The gateway's API key.
const KEY: &str = "k-browser-0123456789";
/// Agent messages in the burst.
const MESSAGES: usize = 100;
/// Forced stream drops during the burst.
const DROPS: usize = 20;

/// The server, when this binary runs as the child.
#[test]
fn server_child() {
    let Ok(config) = std::env::var(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let doc: toml::Table = format!("[gateway]\napi_keys = [\"{KEY}\"]\n")
            .parse()
            .unwrap();
        let gateway = GatewayConfig::from_document(&doc, &Env::process())
            .unwrap()
            .unwrap();
        let sb = SwitchboardBuilder::from_config_str(&config, &Env::process())
            .unwrap()
            .gateway(gateway)
            .build()
            .await
            .unwrap();
        sb.serve().await.unwrap();
    });
}

fn spawn(config: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::server_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What the widget keeps in `localStorage` (`{token, lastSeq}`), or null.
const SAVED: &str = "var k = Object.keys(localStorage).filter(function (k) { \
     return k.indexOf('switchboard-webchat:') === 0; })[0]; \
     return k ? JSON.parse(localStorage.getItem(k)) : null";

/// Each message's sequence number (`data-seq`), in the order shown.
const SEQS: &str = "return Array.from(document.querySelectorAll('.sbw-msg')).map(function (m) { \
     return parseInt(m.getAttribute('data-seq'), 10); })";

fn update(i: usize) -> String {
    format!("agent update {i:03}")
}

/// Where the burst is: shared by the sender and the test.
#[derive(Default)]
struct Progress {
    /// Interruptions so far: forced drops, and the kill.
    interruptions: AtomicUsize,
    /// Messages accepted (answered 202).
    accepted: AtomicUsize,
    /// Attempts that got no answer or a 5xx (the server was down or starting).
    refused: AtomicUsize,
}

/// Interruptions in all: the drops and the kill.
const INTERRUPTIONS: usize = DROPS + 1;

/// Sends the burst: message `i` once at least `i * 22 / 100` interruptions happened (about
/// five after each, the last ones after the last), each retried with its `Idempotency-Key`
/// until the server (restarting or not) accepts it.
fn burst(
    api: String,
    conversation: String,
    progress: Arc<Progress>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        for i in 0..MESSAGES {
            let gate = (i * (INTERRUPTIONS + 1) / MESSAGES).min(INTERRUPTIONS);
            while progress.interruptions.load(Ordering::SeqCst) < gate {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let body = json!({"channel": "site", "conversation": conversation,
                "message": {"text": update(i)}});
            loop {
                let r = http
                    .post(format!("{api}/v1/messages"))
                    .bearer_auth(KEY)
                    .header("Idempotency-Key", format!("burst-{i:03}"))
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => break,
                    Ok(r) if r.status().is_client_error() => {
                        panic!("{}: {}", r.status(), r.text().await.unwrap())
                    }
                    _ => progress.refused.fetch_add(1, Ordering::SeqCst),
                };
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            progress.accepted.store(i + 1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..600))).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_drops_and_a_sigkill_during_a_burst_show_each_message_once_in_order() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let Some((chromium, driver)) = browser_or_skip("webchat_browser") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let started = Instant::now();
    let upstream: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let proxy = Proxy::start(upstream).await;
    let db = temp("browser-crash.sqlite");
    let config = config(&db.display().to_string(), upstream.port(), "").replace(
        &format!("[\"{ORIGIN}\"]"),
        &format!("[\"{ORIGIN}\", \"{}\"]", proxy.url()),
    );
    let mut child = spawn(&config);
    let driver = Driver::start(&driver).await;
    let browser = Browser::open(&driver, &chromium).await;
    browser
        .goto(&format!("{}/webchat/site/demo", proxy.url()))
        .await;
    assert!(browser.until(CONNECTED, WAIT).await, "the widget connected");

    // The page's conversation: its token resumed over the protocol.
    let saved = browser.js(SAVED).await;
    let client = Client::new(&format!("http://{upstream}"));
    let (token, conversation) = client
        .session_with(json!({ "token": saved["token"] }))
        .await;

    let progress = Arc::new(Progress::default());
    let sender = burst(format!("http://{upstream}"), conversation, progress.clone());
    let kill_after = fastrand::usize(8..12);
    let (mut drops, mut killed_at) = (0, None);
    while drops < DROPS {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "{drops} drops so far"
        );
        if !proxy.live_stream() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // A random moment of the stream's life: some records arrive live, others are
        // replayed from Last-Event-ID after the interruption.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..600))).await;
        if killed_at.is_none() && drops == kill_after {
            // The kill, mid-burst, with the stream open. The server stays down until the
            // sender has found it so, then starts again on the same port.
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed_at = Some(progress.accepted.load(Ordering::SeqCst));
            progress.interruptions.fetch_add(1, Ordering::SeqCst);
            let closed = eventually(WAIT, || async { !proxy.live_stream() }).await;
            assert!(closed, "the killed server's stream closed");
            let refused = eventually(Duration::from_secs(5), || async {
                progress.refused.load(Ordering::SeqCst) > 0
            })
            .await;
            assert!(refused, "a send met the server down");
            child = spawn(&config);
        } else if proxy.cut_streams() > 0 {
            drops += 1;
            progress.interruptions.fetch_add(1, Ordering::SeqCst);
        }
    }
    sender.await.unwrap();
    let killed_at = killed_at.expect("the server was killed during the burst");
    let burst_done = started.elapsed();

    // The server's log holds each message once, in order.
    let want: Vec<String> = (0..MESSAGES).map(update).collect();
    assert!(
        eventually(Duration::from_secs(30), || {
            let (c, t) = (client.clone(), token.clone());
            async move { c.try_history(&t).await.is_some_and(|h| h.len() >= MESSAGES) }
        })
        .await,
        "the outbox delivered the burst"
    );
    let history = client.history(&token).await;
    assert_eq!(
        history
            .iter()
            .map(|r| text(r).to_owned())
            .collect::<Vec<_>>(),
        want,
        "the log"
    );
    let last = history.last().unwrap().seq;

    // The widget's cursor reaches the log's end: it has seen every record; the page shows
    // each exactly once, in order.
    let cursor =
        format!("var s = (function () {{ {SAVED} }})(); return !!s && s.lastSeq === {last}");
    assert!(
        browser.until(&cursor, Duration::from_secs(30)).await,
        "the widget's cursor reached {last}: {}",
        browser.js(SAVED).await
    );
    let shown = browser.js(SHOWN).await;
    browser
        .screenshot(&artifact("5-drops-and-sigkill.png"))
        .await;
    assert_eq!(shown, json!(want), "each message once, in order");
    let seqs: Vec<u64> = serde_json::from_value::<Vec<u64>>(browser.js(SEQS).await).unwrap();
    assert_eq!(
        seqs,
        history.iter().map(|r| r.seq).collect::<Vec<_>>(),
        "the log's sequence numbers, in order"
    );
    assert_eq!(
        browser
            .js("return document.querySelector('.sbw-status').textContent")
            .await,
        Value::from("Connected")
    );
    // The initial stream, one after each drop, one after the restart (at least).
    let opened = proxy.streams_opened();
    assert!(opened as usize > DROPS + 1, "{opened} stream connections");
    println!(
        "webchat browser crash test: {DROPS} drops, SIGKILL after {killed_at} of {MESSAGES} \
         accepted, {} send attempts refused, {opened} stream connections; burst {:.1?}, total {:.1?}",
        progress.refused.load(Ordering::SeqCst),
        burst_done,
        started.elapsed()
    );
    browser.quit().await;
    child.kill().unwrap();
    child.wait().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
