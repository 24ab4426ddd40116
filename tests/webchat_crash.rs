//! The web chat crash test: the server runs as a child process on a SQLite file and is
//! killed with SIGKILL at random moments (at least 4 times) while a visitor sends 60
//! messages (each retried with its `client_id` until it gets a 202) and the handler answers
//! each one. A follower keeps an event stream open through the kills, reconnecting with
//! `Last-Event-ID` each time. Afterwards the log holds every message's echo and every reply
//! exactly once, in order, and the follower saw exactly the log: nothing lost, nothing
//! repeated.
//!
//! The child is this same test binary, re-run with `SWITCHBOARD_WEBCHAT_CRASH_CHILD` set.
//! The same guarantee seen by the widget in a browser (stream drops through a proxy, a SIGKILL
//! during a burst of agent messages): `webchat_browser`'s `crash` module.
#![allow(clippy::unwrap_used, missing_docs)]

mod webchat_support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::{Env, SwitchboardBuilder};
use webchat_support::*;

const MESSAGES: usize = 60;
const CHILD: &str = "SWITCHBOARD_WEBCHAT_CRASH_CHILD";

#[test]
fn webchat_crash_child() {
    let Ok(config) = std::env::var(CHILD) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sb = SwitchboardBuilder::from_config_str(&config, &Env::process())
            .unwrap()
            .on_message(|ctx| async move {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..4))).await;
                let text = ctx.event().text().unwrap_or_default().to_owned();
                ctx.reply_text(format!("re: {text}"))?;
                Ok(())
            })
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
            "webchat_crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Retries `f` until it answers (the server is restarting).
async fn until_up<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the server never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_and_repeats_nothing_on_the_stream() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = temp("crash.sqlite");
    let config = config(&db.display().to_string(), port, "");
    let base = format!("http://127.0.0.1:{port}");
    let mut client = Client::new(&base);
    client.http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut child = spawn(&config);
    let token = until_up(|| {
        let c = client.clone();
        async move {
            let r = c.post("sessions").body("{}").send().await.ok()?;
            let v: serde_json::Value = r.json().await.ok()?;
            Some(v["token"].as_str()?.to_owned())
        }
    })
    .await;

    // The follower: one stream at a time, reconnecting from the last id it saw.
    let seen: Arc<Mutex<Vec<Rec>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (token, seen, stop) = (token.clone(), seen.clone(), stop.clone());
        let mut streaming = client.clone();
        streaming.http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        tokio::spawn(async move {
            let mut reconnects = 0;
            while !stop.load(Ordering::SeqCst) {
                let last = seen.lock().unwrap().last().map(|r| r.seq);
                let mut req = streaming
                    .http
                    .get(streaming.url(&format!("events?token={token}")));
                if let Some(l) = last {
                    req = req.header("last-event-id", l.to_string());
                }
                let Ok(resp) = req.send().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if resp.status() != 200 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                reconnects += 1;
                let mut sse = Sse::from_response(resp);
                while let Some(r) = sse.next(Duration::from_millis(500)).await {
                    if r.seq > 0 {
                        seen.lock().unwrap().push(r);
                    }
                }
            }
            reconnects
        })
    };

    let sender = {
        let (c, token) = (client.clone(), token.clone());
        tokio::spawn(async move {
            for i in 0..MESSAGES {
                let body = json!({ "client_id": format!("m{i:03}"), "text": format!("m{i:03}") });
                loop {
                    let r = c
                        .post("messages")
                        .bearer_auth(&token)
                        .body(body.to_string())
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status() == 202) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // A visitor's pace: the burst spans several kills.
                tokio::time::sleep(Duration::from_millis(fastrand::u64(10..40))).await;
            }
        })
    };

    let (mut kills, mut during) = (0, 0);
    while kills < 4 || !sender.is_finished() {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(100..400))).await;
        if !sender.is_finished() {
            during += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        child = spawn(&config);
    }
    sender.await.unwrap();
    assert!(during >= 2, "only {during} kills landed during the burst");

    // Every message and every reply reaches the log; the follower catches up.
    let history = until_up(|| {
        let (c, token) = (client.clone(), token.clone());
        async move {
            let h = c.try_history(&token).await?;
            (h.len() >= 2 * MESSAGES).then_some(h)
        }
    })
    .await;
    let want = history.len();
    let caught_up = eventually(Duration::from_secs(20), || {
        let n = seen.lock().unwrap().len();
        async move { n >= want }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    child.kill().unwrap();
    child.wait().unwrap();
    let reconnects = follower.await.unwrap();
    assert!(
        caught_up,
        "the follower saw {} of {}",
        seen.lock().unwrap().len(),
        history.len()
    );

    let seqs: Vec<u64> = history.iter().map(|r| r.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers grow: {seqs:?}"
    );
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in &history {
        *counts
            .entry(format!("{}:{}", role(r), text(r)))
            .or_default() += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "each record once: {counts:?}"
    );
    let echoes: Vec<&str> = history
        .iter()
        .filter(|r| role(r) == "visitor")
        .map(text)
        .collect();
    let replies: Vec<&str> = history
        .iter()
        .filter(|r| role(r) == "bot")
        .map(text)
        .collect();
    let want_echoes: Vec<String> = (0..MESSAGES).map(|i| format!("m{i:03}")).collect();
    let want_replies: Vec<String> = (0..MESSAGES).map(|i| format!("re: m{i:03}")).collect();
    assert_eq!(echoes, want_echoes);
    assert_eq!(replies, want_replies);
    assert_eq!(
        *seen.lock().unwrap(),
        history,
        "the stream: nothing lost, nothing repeated"
    );
    println!(
        "webchat crash test: {kills} kills ({during} during the burst), {reconnects} stream connections, {} records",
        history.len()
    );
    let _ = std::fs::remove_file(&db);
}
