//! The crash test: the engine runs as a child process on a SQLite file and is killed with
//! SIGKILL at random moments (at least 5 times) while 500 signed webhooks from 25 conversations
//! arrive, each retried by the sender until it gets a 2xx, as providers do. Afterwards every
//! acknowledged event was handled and every reply was sent exactly once, in per-conversation
//! order.
//!
//! The child is this same test binary, re-run with `SWITCHBOARD_CRASH_CHILD` set (see
//! `crash_child`). Its channel is served by `SinkAdapter`, a third-party adapter registered
//! through the `Registry`: inbound it verifies and decodes like the MemoryAdapter; outbound it
//! is a "provider" that appends each message to a file and, like a provider that honours
//! idempotency keys, stores a key only once (it declares `idempotent_sends`). A send the kill
//! interrupted between the provider's accept and the outbox commit is therefore resent safely;
//! the file records every attempt so the test can also count those resends, and bounds them:
//! at most one per sender slot per kill.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::core::memory::{MemoryInbound, default_capabilities};
use switchboard::{
    Adapter, AdapterInfo, ChannelName, ConversationRef, Env, MemoryAdapter, OutboundMessage,
    Registry, Result, Secret, SendReceipt, SentMessage, Switchboard, SwitchboardBuilder,
    WebhookOutcome, WebhookRequest,
};

const SECRET: &str = "crash-secret";
const CONVERSATIONS: usize = 25;
const PER_CONVERSATION: usize = 20;
/// `engine.senders` in the child: at most this many sends are in flight when a kill lands.
const SENDERS: usize = 8;

#[derive(Debug)]
struct SinkAdapter {
    info: AdapterInfo,
    inbound: MemoryAdapter,
    file: Mutex<(std::fs::File, HashSet<String>)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SinkLine {
    key: String,
    conversation: String,
    text: String,
    duplicate: bool,
}

impl SinkAdapter {
    fn open(channel: ChannelName, path: &str) -> Self {
        let mut caps = default_capabilities();
        caps.idempotent_sends = true;
        // It deduplicates instead of looking sends up (tests/crash_reconcile.rs reconciles).
        caps.reconcile = false;
        let known: HashSet<String> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<SinkLine>(l).ok())
            .map(|l| l.key)
            .collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        SinkAdapter {
            info: AdapterInfo::new("sink", channel.clone(), caps),
            inbound: MemoryAdapter::new(channel, Secret::new(SECRET)),
            file: Mutex::new((file, known)),
        }
    }
}

#[switchboard::async_trait]
impl Adapter for SinkAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        let key = message.idempotency_key.clone().unwrap_or_default();
        let mut g = self.file.lock().unwrap();
        let duplicate = !g.1.insert(key.clone());
        let line = SinkLine {
            key: key.clone(),
            conversation: to.conversation.as_str().to_owned(),
            text: message.text.clone().unwrap_or_default(),
            duplicate,
        };
        // One write(2) per line: a SIGKILL cannot tear it.
        let mut bytes = serde_json::to_vec(&line).unwrap();
        bytes.push(b'\n');
        g.0.write_all(&bytes).unwrap();
        let id = switchboard::MessageId::new(format!("sink-{key}"))?;
        Ok(SendReceipt::new(
            vec![SentMessage::new(id, to.clone())],
            vec![],
        ))
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.inbound.handle_webhook(request)
    }
}

fn child_config(port: u16, db: &str, sink: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "1s"

[store]
url = "sqlite://{db}"
synchronous = "normal"

[engine]
workers = 8
senders = {SENDERS}
lease = "3s"
handler_timeout = "2s"
poll_interval = "50ms"
backoff_base = "20ms"
backoff_max = "200ms"

[channels.crash]
provider = "sink"
sink_file = "{sink}"

[channels.crash.rate]
per_second = 5000.0
burst = 100
per_conversation_per_second = 1000.0
per_conversation_burst = 10
"#
    )
}

/// The child: only does something when started by `crash_test`.
#[test]
fn crash_child() {
    let Ok(config) = std::env::var("SWITCHBOARD_CRASH_CHILD") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut registry = Registry::new();
        registry.register("sink", |mut t| {
            let path = t.required_str("sink_file")?;
            let channel = t.channel().clone();
            t.finish()?;
            Ok(Arc::new(SinkAdapter::open(channel, &path)) as Arc<dyn Adapter>)
        });
        let sb: Switchboard = SwitchboardBuilder::from_config_str(&config, &Env::process())
            .unwrap()
            .registry(registry)
            .on_message(|ctx| async move {
                // A little work, so kills land mid-handler too.
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..4))).await;
                let text = ctx.event().text().unwrap_or_default().to_owned();
                ctx.reply_text(format!("reply {text}"))?;
                Ok(())
            })
            .build()
            .await
            .unwrap();
        sb.serve().await.unwrap();
    });
}

struct ChildProcess {
    child: Child,
}

fn spawn_child(config: &str) -> ChildProcess {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("SWITCHBOARD_CRASH_CHILD", config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ChildProcess { child }
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("child did not become healthy");
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "switchboard-crash-{}-{}-{name}",
        std::process::id(),
        fastrand::u32(..)
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test() {
    if std::env::var("SWITCHBOARD_CRASH_CHILD").is_ok() {
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = temp("db.sqlite");
    let sink = temp("sink.jsonl");
    let config = child_config(port, &db.display().to_string(), &sink.display().to_string());
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/webhooks/crash");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let signer = MemoryAdapter::new(ChannelName::new("crash").unwrap(), Secret::new(SECRET));

    let mut child = spawn_child(&config);
    wait_healthy(&client, &base).await;

    // Senders: one task per conversation, in order, each webhook retried until 2xx.
    let acked = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for c in 0..CONVERSATIONS {
        let (client, url, signer) = (client.clone(), url.clone(), signer.clone());
        let (acked, attempts) = (acked.clone(), attempts.clone());
        senders.push(tokio::spawn(async move {
            for n in 0..PER_CONVERSATION {
                let conv = format!("C{c:02}");
                let text = format!("{conv}-{n:03}");
                let ev = MemoryInbound::message(&format!("ev-{conv}-{n:03}"), &conv, "U1", &text);
                loop {
                    attempts.fetch_add(1, Ordering::Relaxed);
                    let req = signer.signed_request(&url, std::slice::from_ref(&ev));
                    let mut r = client.post(&url).body(req.body.clone());
                    for (k, v) in &req.headers {
                        r = r.header(k.as_str(), v.to_str().unwrap());
                    }
                    match r.send().await {
                        Ok(resp) if resp.status().is_success() => break,
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let all_sent = {
        let done = done.clone();
        tokio::spawn(async move {
            for s in senders {
                s.await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    // The killer: SIGKILL at random moments, at least 5 times, until every webhook is acked.
    let mut kills = 0;
    while kills < 5 || !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(80..300))).await;
        child.child.kill().unwrap(); // SIGKILL on Unix
        child.child.wait().unwrap();
        kills += 1;
        child = spawn_child(&config);
        wait_healthy(&client, &base).await;
    }
    all_sent.await.unwrap();
    assert_eq!(
        acked.load(Ordering::SeqCst),
        CONVERSATIONS * PER_CONVERSATION
    );

    // Let the last incarnation finish the work.
    let expected = CONVERSATIONS * PER_CONVERSATION;
    let read_sink = || -> Vec<SinkLine> {
        std::fs::read_to_string(&sink)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let start = Instant::now();
    while read_sink().iter().filter(|l| !l.duplicate).count() < expected
        && start.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.child.kill().unwrap();
    child.child.wait().unwrap();

    let lines = read_sink();
    let delivered: Vec<&SinkLine> = lines.iter().filter(|l| !l.duplicate).collect();
    let resent = lines.len() - delivered.len();
    eprintln!(
        "crash test: {kills} kills, {} webhook attempts for {expected} events, {} provider deliveries, {resent} interrupted sends resent (deduplicated by key)",
        attempts.load(Ordering::SeqCst),
        delivered.len()
    );
    // Every acknowledged event handled and its reply delivered exactly once.
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for l in &delivered {
        *by_key.entry(l.key.as_str()).or_default() += 1;
    }
    assert_eq!(delivered.len(), expected, "one delivery per event");
    assert!(by_key.values().all(|&n| n == 1));
    // The sink drops repeats of a key, so the checks above hold whatever the engine resends;
    // the engine's own share: it resends only sends a kill interrupted, at most one per sender
    // slot per kill (no resends from a live engine, no blind resend loops).
    assert!(
        resent <= kills * SENDERS,
        "{resent} resends for {kills} kills with {SENDERS} senders"
    );
    for c in 0..CONVERSATIONS {
        let conv = format!("C{c:02}");
        let texts: Vec<&str> = delivered
            .iter()
            .filter(|l| l.conversation == conv)
            .map(|l| l.text.as_str())
            .collect();
        let expected: Vec<String> = (0..PER_CONVERSATION)
            .map(|n| format!("reply {conv}-{n:03}"))
            .collect();
        assert_eq!(texts, expected, "replies of {conv} in order, each once");
    }
    // Nothing was dead-lettered and nothing is left over.
    let store = switchboard::SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stats = switchboard::Store::stats(&store).await.unwrap();
    assert_eq!(stats.dead, 0, "{stats:?}");
    assert_eq!(stats.inbox_done as usize, expected, "{stats:?}");
    assert_eq!(stats.outbox_sent as usize, expected, "{stats:?}");
    drop(store);
    for p in [&sink, &db] {
        let _ = std::fs::remove_file(p);
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
