//! The gateway crash test (issue 14): the engine runs in gateway mode as a child process on a
//! SQLite file and is killed with SIGKILL at least 12 times while 200 signed webhooks from 10
//! conversations arrive, each retried by the sender until it gets a 2xx, and an application
//! sends 60 messages through `POST /v1/messages` with an `Idempotency-Key`, each retried (same
//! key, same body) until it gets a 202. The receiver, in this process on 127.0.0.1, answers some
//! deliveries `500`, stalls past the forward timeout (300 ms here) on some and then answers
//! 200, is down now and then (its listener closed, its open connections cut), and otherwise
//! answers `200` with one or two synchronous replies for that event. A third of the kills land
//! at a random moment, a third while the receiver is down, a third 0-2 ms after the receiver
//! answered 200 (the window between the engine's receipt of an answer and the commit that
//! records the delivery with its replies).
//!
//! Afterwards:
//! - every acknowledged event reached the receiver at least once, signed, and every delivery of
//!   one event carried the same `webhook-id` (`{channel}:{event id}`);
//! - per conversation, the first deliveries are in the events' order, and the receiver saw an
//!   event only after it had answered 2xx to the previous one;
//! - every synchronous reply and every API message reached the provider exactly once, in
//!   per-conversation order, with the documented outbox keys (`crash/gw/app/{webhook-id}/{i}`,
//!   `crash/app/{Idempotency-Key}`), and every 202 for one key named the same message;
//! - nothing is dead, pending or disabled in the store.
//!
//! "Exactly once" is the engine's promise for this provider (`crate::sender`,
//! `UncertainSends::Deduplicated`): the provider, `SinkAdapter` as in `tests/crash.rs`, honours
//! idempotency keys (it declares `idempotent_sends`), so a send a kill interrupted between the
//! provider's accept and the outbox commit is resent and absorbed by the provider. The sink
//! file records every attempt, so the test counts those resends too and bounds them: at most one
//! per sender slot per kill.
//!
//! The receiver's answers are a function of the seed, the event and how many times it arrived
//! (`SWITCHBOARD_GATEWAY_CRASH_SEED`, default 14), so a run repeats its script whatever the
//! timing; the kills' pauses and the pacing come from the same seed. The child is this same
//! test binary, re-run with `SWITCHBOARD_GATEWAY_CRASH_CHILD` set (see `gateway_crash_child`).
//! A restart releases the leases of the killed process (one engine per SQLite file), so a
//! delivery a kill interrupted goes out again at once, and a run takes about 10 s.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use switchboard::core::memory::{MemoryInbound, default_capabilities};
use switchboard::gateway::GatewayConfig;
use switchboard::gateway::signature::{WebhookSecret, verify};
use switchboard::{
    Adapter, AdapterInfo, ChannelName, ConversationRef, Env, MemoryAdapter, OutboundMessage,
    Registry, Result, Secret, SendReceipt, SentMessage, Switchboard, SwitchboardBuilder,
    WebhookOutcome, WebhookRequest,
};
use tokio::task::{JoinHandle, JoinSet};

const CHILD: &str = "SWITCHBOARD_GATEWAY_CRASH_CHILD";
const SEED: &str = "SWITCHBOARD_GATEWAY_CRASH_SEED";
/// The inbound webhooks' secret (the MemoryAdapter's signature).
const SECRET: &str = "crash-secret";
/// The forwarding endpoint's Standard Webhooks secret.
const FORWARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const API_KEY: &str = "k-gateway-crash-0123456789";
const CONVERSATIONS: usize = 10;
const PER_CONVERSATION: usize = 20;
const API_CONVERSATIONS: usize = 4;
const API_PER_CONVERSATION: usize = 15;
/// `engine.senders` in the child: at most this many sends are in flight when a kill lands.
const SENDERS: usize = 4;
/// `[gateway] timeout` in the child.
const FORWARD_TIMEOUT: Duration = Duration::from_millis(300);
const MIN_KILLS: usize = 12;

// ---------------------------------------------------------------------------------------------
// The provider: a sink that keeps each idempotency key once (as tests/crash.rs).

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
        let id = switchboard::MessageId::new(format!("sink-{}", fastrand::u64(..)))?;
        Ok(SendReceipt::new(
            vec![SentMessage::new(id, to.clone())],
            vec![],
        ))
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.inbound.handle_webhook(request)
    }
}

fn read_sink(path: &PathBuf) -> Vec<SinkLine> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The child.

fn child_config(port: u16, db: &str, sink: &str, receiver: &str) -> String {
    // Plenty of quick retries: no event may run out of attempts (a dead letter is a failure
    // here) through its scripted failures, a down receiver and the kills' interrupted claims.
    let mut schedule = vec!["\"0s\""];
    schedule.extend(["\"100ms\""; 59]);
    let schedule = schedule.join(", ");
    let timeout = FORWARD_TIMEOUT.as_millis();
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "1s"

[store]
url = "sqlite://{db}"
synchronous = "normal"

[engine]
workers = 4
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

[gateway]
allow_private_targets = true
api_keys = ["{API_KEY}"]
timeout = "{timeout}ms"
retry_schedule = [{schedule}]

[[gateway.forward]]
name = "app"
url = "{receiver}"
secrets = ["{FORWARD_SECRET}"]
"#
    )
}

/// The child: only does something when started by `gateway_crash_test`. It reads `[gateway]`
/// and gives the engine the rest of the document, as `switchboard serve` does.
#[test]
fn gateway_crash_child() {
    let Ok(config) = std::env::var(CHILD) else {
        return;
    };
    let mut doc: toml::Table = config.parse().unwrap();
    let gateway = GatewayConfig::from_document(&doc, &Env::process())
        .unwrap()
        .unwrap();
    doc.remove("gateway");
    let engine = toml::to_string(&doc).unwrap();
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
        let sb: Switchboard = SwitchboardBuilder::from_config_str(&engine, &Env::process())
            .unwrap()
            .registry(registry)
            .gateway(gateway)
            .build()
            .await
            .unwrap();
        sb.serve().await.unwrap();
    });
}

/// The running child, killed when dropped (a failed assertion leaves no process behind).
struct ChildProcess(Child);

impl ChildProcess {
    fn spawn(config: &str) -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "gateway_crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ChildProcess(child)
    }

    fn kill(&mut self) {
        self.0.kill().unwrap(); // SIGKILL on Unix
        self.0.wait().unwrap();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

// ---------------------------------------------------------------------------------------------
// The receiver.

/// What the receiver does with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `500`.
    Fail,
    /// Answers 200 (with the replies) only after the forward timeout has passed.
    Stall,
    /// `200` with the replies.
    Ok,
}

/// The answer to the `k`-th arrival (from 0) of `event`: a function of the seed, the event and
/// `k` only, whatever the timing. From the fourth arrival on, always `Ok`.
fn decide(seed: u64, event: &str, k: usize) -> Answer {
    if k >= 3 {
        return Answer::Ok;
    }
    let mut h = DefaultHasher::new();
    (seed, event, k).hash(&mut h);
    match h.finish() % 100 {
        0..20 => Answer::Fail,
        20..30 => Answer::Stall,
        _ => Answer::Ok,
    }
}

/// The synchronous replies the receiver answers for event number `n` with `text`: two for every
/// fourth event, one for the others (each event has one, so a reply's send proves its event
/// was recorded as delivered).
fn replies_for(n: usize, text: &str) -> Vec<String> {
    if n.is_multiple_of(4) {
        vec![format!("re: {text}"), format!("re2: {text}")]
    } else {
        vec![format!("re: {text}")]
    }
}

/// `ev-C03-007` → 7.
fn event_number(event: &str) -> usize {
    event.rsplit('-').next().unwrap().parse().unwrap()
}

#[derive(Clone, Debug)]
struct Arrival {
    /// When, on the receiver's clock (arrivals and answers share it).
    tick: u64,
    webhook_id: String,
    /// The event id in the body (`data.id`).
    event: String,
    conversation: String,
    signed: bool,
    answer: Answer,
}

#[derive(Default)]
struct Log {
    arrivals: Vec<Arrival>,
    /// The tick of the first 2xx answer to each event.
    answered: HashMap<String, u64>,
    answers: BTreeMap<&'static str, usize>,
}

#[derive(Clone)]
struct Receiver {
    seed: u64,
    port: u16,
    secret: Arc<WebhookSecret>,
    log: Arc<Mutex<Log>>,
    clock: Arc<AtomicU64>,
    server: Arc<Mutex<Option<JoinHandle<()>>>>,
    /// How many 2xx answers the receiver gave (the killer waits for the next one).
    oks: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Receiver {
    async fn start(seed: u64) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            seed,
            port: listener.local_addr().unwrap().port(),
            secret: Arc::new(WebhookSecret::parse(FORWARD_SECRET).unwrap()),
            log: Arc::default(),
            clock: Arc::default(),
            server: Arc::default(),
            oks: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        r.serve(listener);
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    /// Serves on `listener`; each connection is a task of the accept loop's, so taking the
    /// receiver down (aborting the loop) closes the listener and cuts every open connection.
    fn serve(&self, listener: tokio::net::TcpListener) {
        let router = axum::Router::new()
            .route("/events", axum::routing::post(receive))
            .with_state(self.clone());
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(router.clone());
                conns.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        *self.server.lock().unwrap() = Some(task);
    }

    async fn down(&self) {
        let task = self.server.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    async fn up(&self) {
        let start = Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(start.elapsed() < Duration::from_secs(10), "rebinding: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        self.serve(listener);
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.log.lock().unwrap().arrivals.clone()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let webhook_id = h("webhook-id");
    let signed = h("webhook-timestamp").parse::<i64>().is_ok_and(|ts| {
        verify(
            &r.secret,
            &webhook_id,
            ts,
            body.as_bytes(),
            &h("webhook-signature"),
            unix_now(),
        )
        .is_ok()
    });
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let data = &v["data"];
    let event = data["id"].as_str().unwrap_or_default().to_owned();
    let conversation = data["conversation"]["conversation"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let text = data["kind"]["text"].as_str().unwrap_or_default().to_owned();
    let json = [("content-type", "application/json")];
    let answer = {
        let mut log = r.log.lock().unwrap();
        let k = log.arrivals.iter().filter(|a| a.event == event).count();
        let answer = decide(r.seed, &event, k);
        log.arrivals.push(Arrival {
            tick: r.tick(),
            webhook_id,
            event: event.clone(),
            conversation,
            signed,
            answer,
        });
        answer
    };
    let name = match answer {
        Answer::Fail => "500",
        Answer::Stall => "stalled past the timeout",
        Answer::Ok => "200",
    };
    *r.log.lock().unwrap().answers.entry(name).or_default() += 1;
    match answer {
        Answer::Fail => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json,
                r#"{"error": "scripted failure"}"#.to_owned(),
            );
        }
        Answer::Stall => tokio::time::sleep(FORWARD_TIMEOUT + Duration::from_millis(200)).await,
        Answer::Ok => {}
    }
    let messages: Vec<serde_json::Value> = replies_for(event_number(&event), &text)
        .into_iter()
        .map(|t| json!({ "text": t }))
        .collect();
    let tick = r.tick();
    r.log.lock().unwrap().answered.entry(event).or_insert(tick);
    r.oks.send_modify(|n| *n += 1);
    (
        StatusCode::OK,
        json,
        json!({ "messages": messages }).to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// The test.

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "switchboard-gwcrash-{}-{}-{name}",
        std::process::id(),
        fastrand::u32(..)
    ))
}

/// The API's id of a message sent with `Idempotency-Key: key` on channel `crash` (the outbox
/// key `crash/app/{key}`, base64url).
fn api_id(key: &str) -> String {
    format!("msg_{}", URL_SAFE_NO_PAD.encode(format!("crash/app/{key}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_crash_test() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let seed: u64 = std::env::var(SEED)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let mut rng = fastrand::Rng::with_seed(seed);
    let receiver = Receiver::start(seed).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let db = temp("db.sqlite");
    let sink = temp("sink.jsonl");
    let config = child_config(
        port,
        &db.display().to_string(),
        &sink.display().to_string(),
        &receiver.url(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let signer = MemoryAdapter::new(ChannelName::new("crash").unwrap(), Secret::new(SECRET));

    let mut child = ChildProcess::spawn(&config);
    wait_healthy(&client, &base).await;

    // Providers: one task per conversation, in order, each webhook retried until 2xx.
    let mut tasks = Vec::new();
    for c in 0..CONVERSATIONS {
        let (client, url, signer) = (
            client.clone(),
            format!("{base}/webhooks/crash"),
            signer.clone(),
        );
        let mut rng = fastrand::Rng::with_seed(seed ^ (c as u64 + 1));
        tasks.push(tokio::spawn(async move {
            let conv = format!("C{c:02}");
            for n in 0..PER_CONVERSATION {
                let text = format!("{conv}-{n:03}");
                let ev = MemoryInbound::message(&format!("ev-{text}"), &conv, "U1", &text);
                loop {
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
                tokio::time::sleep(Duration::from_millis(rng.u64(150..350))).await;
            }
        }));
    }
    // The application: one task per conversation, in order, each send retried with its key
    // and body until 202; the id must be the same at every 202.
    let api_ids: Arc<Mutex<HashMap<String, HashSet<String>>>> = Arc::default();
    for c in 0..API_CONVERSATIONS {
        let (client, url, ids) = (
            client.clone(),
            format!("{base}/v1/messages"),
            api_ids.clone(),
        );
        let mut rng = fastrand::Rng::with_seed(seed ^ (0x100 + c as u64));
        tasks.push(tokio::spawn(async move {
            let conv = format!("A{c}");
            for n in 0..API_PER_CONVERSATION {
                let key = format!("{conv}-{n:03}");
                let body = json!({"channel": "crash", "conversation": conv, "message": {"text": format!("api {key}")}});
                loop {
                    let sent = client
                        .post(&url)
                        .bearer_auth(API_KEY)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(resp) = sent else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let status = resp.status().as_u16();
                    let Ok(answer) = resp.json::<serde_json::Value>().await else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    match status {
                        202 => {
                            let id = answer["id"].as_str().unwrap().to_owned();
                            ids.lock().unwrap().entry(key.clone()).or_default().insert(id);
                            break;
                        }
                        s if (400..500).contains(&s) => {
                            panic!("POST {key}: {s} {answer}")
                        }
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                tokio::time::sleep(Duration::from_millis(rng.u64(200..400))).await;
            }
        }));
    }
    let done = Arc::new(AtomicBool::new(false));
    let all_sent = {
        let done = done.clone();
        tokio::spawn(async move {
            for t in tasks {
                t.await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };

    // The killer: SIGKILL at least MIN_KILLS times and until every webhook and every API send
    // was acknowledged: a third at a random moment, a third while the receiver is down, a third
    // 0-2 ms after the receiver answered 200 (in the window between the engine's receipt of the
    // answer and the commit recording the delivery with its replies, where the redelivery must
    // not double them).
    let (mut kills, mut during, mut downs) = (0, 0, 0);
    let started = Instant::now();
    while kills < MIN_KILLS || !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.u64(100..400))).await;
        let down = kills % 3 == 2;
        if down {
            receiver.down().await;
            downs += 1;
            tokio::time::sleep(Duration::from_millis(rng.u64(100..400))).await;
        } else if kills % 3 == 1 {
            let mut oks = receiver.oks.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(2), oks.changed()).await;
            let pause = rng.u64(0..3);
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
        if !done.load(Ordering::SeqCst) {
            during += 1;
        }
        child.kill();
        kills += 1;
        child = ChildProcess::spawn(&config);
        wait_healthy(&client, &base).await;
        if down {
            tokio::time::sleep(Duration::from_millis(rng.u64(200..700))).await;
            receiver.up().await;
        }
    }
    all_sent.await.unwrap();
    let traffic = started.elapsed();
    assert!(during >= 6, "only {during} kills landed during the traffic");

    // The last incarnation finishes the work: every event forwarded, every reply and API message
    // at the provider. Each event has a reply, so its reply's send proves it was delivered.
    let events = CONVERSATIONS * PER_CONVERSATION;
    let mut want: BTreeMap<String, (String, String)> = BTreeMap::new(); // key → (conversation, text)
    for c in 0..CONVERSATIONS {
        let conv = format!("C{c:02}");
        for n in 0..PER_CONVERSATION {
            let text = format!("{conv}-{n:03}");
            for (i, reply) in replies_for(n, &text).into_iter().enumerate() {
                want.insert(
                    format!("crash/gw/app/crash:ev-{text}/{i}"),
                    (conv.clone(), reply),
                );
            }
        }
    }
    for c in 0..API_CONVERSATIONS {
        for n in 0..API_PER_CONVERSATION {
            let key = format!("A{c}-{n:03}");
            want.insert(
                format!("crash/app/{key}"),
                (format!("A{c}"), format!("api {key}")),
            );
        }
    }
    let finished = Instant::now();
    while finished.elapsed() < Duration::from_secs(75) {
        let delivered: HashSet<String> = read_sink(&sink)
            .into_iter()
            .filter(|l| !l.duplicate)
            .map(|l| l.key)
            .collect();
        if delivered.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = finished.elapsed();
    // Anything a live engine would send twice shows up meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill();

    let arrivals = receiver.arrivals();
    let lines = read_sink(&sink);
    let delivered: Vec<&SinkLine> = lines.iter().filter(|l| !l.duplicate).collect();
    let resent = lines.len() - delivered.len();
    let answers = receiver.log.lock().unwrap().answers.clone();
    // Events delivered again after the receiver answered 200 at once: a kill (or the receiver
    // going down) took the answer before the delivery was recorded.
    let again = {
        let mut ok: HashSet<&str> = HashSet::new();
        let mut again: HashSet<&str> = HashSet::new();
        for a in &arrivals {
            if ok.contains(a.event.as_str()) {
                again.insert(a.event.as_str());
            }
            if a.answer == Answer::Ok {
                ok.insert(a.event.as_str());
            }
        }
        again.len()
    };
    eprintln!(
        "gateway crash test (seed {seed}; {SEED} repeats another): {kills} kills ({during} during the traffic, {downs} with the receiver down), traffic {traffic:?} then {drained:?} to drain; {} deliveries of {events} events ({answers:?}; {again} events delivered again after a 200); {} sends at the provider, {resent} interrupted sends resent (deduplicated by key)",
        arrivals.len(),
        delivered.len(),
    );

    // (1) Every acknowledged event arrived, signed, always with its one webhook-id.
    let mut ids: HashMap<&str, HashSet<&str>> = HashMap::new();
    for a in &arrivals {
        assert!(a.signed, "a delivery without a valid signature: {a:?}");
        ids.entry(a.event.as_str())
            .or_default()
            .insert(a.webhook_id.as_str());
    }
    assert_eq!(ids.len(), events, "every event reached the receiver");
    for (event, ids) in &ids {
        let want_id = format!("crash:{event}");
        assert_eq!(
            ids.iter().copied().collect::<Vec<_>>(),
            vec![want_id.as_str()],
            "every delivery of {event} has the same webhook-id"
        );
    }
    // In order per conversation: first deliveries in the events' order, and an event arrives
    // only after the receiver answered 2xx to the previous one.
    let answered = receiver.log.lock().unwrap().answered.clone();
    for c in 0..CONVERSATIONS {
        let conv = format!("C{c:02}");
        let mut firsts: Vec<&Arrival> = Vec::new();
        for a in arrivals.iter().filter(|a| a.conversation == conv) {
            if !firsts.iter().any(|f| f.event == a.event) {
                firsts.push(a);
            }
        }
        let order: Vec<&str> = firsts.iter().map(|a| a.event.as_str()).collect();
        let want_order: Vec<String> = (0..PER_CONVERSATION)
            .map(|n| format!("ev-{conv}-{n:03}"))
            .collect();
        assert_eq!(order, want_order, "first deliveries of {conv} in order");
        for pair in firsts.windows(2) {
            let previous = answered.get(&pair[0].event).copied();
            assert!(
                previous.is_some_and(|t| t < pair[1].tick),
                "{} arrived (tick {}) before {} was answered 2xx ({previous:?})",
                pair[1].event,
                pair[1].tick,
                pair[0].event
            );
        }
    }

    // (1) and (2): every synchronous reply and every API message at the provider exactly once,
    // in order per conversation.
    let got: HashSet<&str> = delivered.iter().map(|l| l.key.as_str()).collect();
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "never sent: {missing:?}");
    let unexpected: Vec<&&str> = got.iter().filter(|k| !want.contains_key(**k)).collect();
    assert!(
        unexpected.is_empty(),
        "sent but never asked for: {unexpected:?}"
    );
    assert_eq!(delivered.len(), want.len(), "each key once");
    for l in &delivered {
        let (conv, text) = &want[&l.key];
        assert_eq!((&l.conversation, &l.text), (conv, text), "{}", l.key);
    }
    let mut by_conversation: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in &delivered {
        by_conversation
            .entry(l.conversation.as_str())
            .or_default()
            .push(l.text.as_str());
    }
    for c in 0..CONVERSATIONS {
        let conv = format!("C{c:02}");
        let expected: Vec<String> = (0..PER_CONVERSATION)
            .flat_map(|n| replies_for(n, &format!("{conv}-{n:03}")))
            .collect();
        assert_eq!(
            by_conversation[conv.as_str()],
            expected,
            "replies of {conv}"
        );
    }
    for c in 0..API_CONVERSATIONS {
        let conv = format!("A{c}");
        let expected: Vec<String> = (0..API_PER_CONVERSATION)
            .map(|n| format!("api {conv}-{n:03}"))
            .collect();
        assert_eq!(
            by_conversation[conv.as_str()],
            expected,
            "messages of {conv}"
        );
    }
    // The provider drops repeats of a key; the engine's own share: it resends only sends a kill
    // interrupted, at most one per sender slot per kill.
    assert!(
        resent <= kills * SENDERS,
        "{resent} resends for {kills} kills with {SENDERS} senders"
    );
    // (2) Every retry of a key was answered with the same message, the key's.
    let api_ids = api_ids.lock().unwrap().clone();
    assert_eq!(api_ids.len(), API_CONVERSATIONS * API_PER_CONVERSATION);
    for (key, ids) in &api_ids {
        assert_eq!(ids.len(), 1, "{key}: {ids:?}");
        assert!(ids.contains(&api_id(key)), "{key}: {ids:?}");
    }

    // Nothing dead, pending or disabled.
    let store = switchboard::SqliteStore::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let stats = switchboard::Store::stats(&store).await.unwrap();
    assert_eq!(stats.dead, 0, "{stats:?}");
    assert_eq!(stats.inbox_done as usize, events, "{stats:?}");
    assert_eq!(stats.outbox_pending, 0, "{stats:?}");
    assert_eq!(stats.outbox_sent as usize, want.len(), "{stats:?}");
    let endpoints = switchboard::Store::forward_endpoints(&store).await.unwrap();
    assert!(
        endpoints
            .iter()
            .all(|e| e.disabled.is_none() && e.pending == 0 && e.dead == 0),
        "{endpoints:?}"
    );
    drop(store);
    for p in [&sink, &db] {
        let _ = std::fs::remove_file(p);
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
