//! Several instances, proven by killing them: three `switchboard serve` processes with the
//! support bridge share one PostgreSQL database (a schema of this test's, dropped afterwards)
//! and their agents' channel rate through Redis. Customers write over SMS (the Twilio
//! emulator); each webhook goes to a random live instance (all three have the same
//! `public_url`, as behind a load balancer) and is retried, on another instance too, until a
//! 2xx. Instances are SIGKILLed at random moments, at least six times and sometimes two at once,
//! and restarted. Afterwards, at the Slack emulator: every customer message was relayed once (none
//! lost, none doubled), in order, each customer in one thread, and the agents' channel was never
//! called faster than its configured rate (the emulator enforces a limit a little above it and
//! answers 429 beyond; no call got one).
//!
//! Needs PostgreSQL on 127.0.0.1:5432 and Redis on 6379: skipped without them, failed without
//! them where `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::slack::emulator::{
    Emulator as SlackEmulator, EmulatorOptions as SlackOptions, RateLimit,
};
use switchboard::testkit::{PG_ADDR, REDIS_ADDR, TestSchema, require_service};
use switchboard::twilio::emulator::{
    Emulator as Twilio, EmulatorOptions as TwilioOptions, Inbound,
};

const AGENTS: &str = "C0AGENTS";
/// The instances' shared `public_url` (signatures are checked against it; nothing calls it).
const PUBLIC: &str = "http://switchboard.lb.test";
const INSTANCES: usize = 3;
const CUSTOMERS: usize = 8;
const PER_CUSTOMER: usize = 6;
/// The agents' channel rate (whole channel, every instance together).
const RATE: f64 = 8.0;
const BURST: u32 = 4;

struct Instance {
    port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl Instance {
    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL on Unix
            c.wait().unwrap();
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(port: u16, schema: &str, prefix: &str, slack: &str, twilio: &Twilio) -> String {
    let t = twilio.options();
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "{PUBLIC}"
shutdown_grace = "1s"

[store]
url = "postgres://postgres@{PG_ADDR}/test"
schema = "{schema}"
pool_size = 4
connect_timeout = "2s"

[engine]
workers = 8
senders = 8
lease = "3s"
poll_interval = "100ms"
backoff_base = "50ms"
backoff_max = "1s"

[rate_limits]
url = "redis://{REDIS_ADDR}"
key_prefix = "{prefix}"
timeout = "1s"
instances = {INSTANCES}

[channels.team]
provider = "slack"
bot_token = "xoxb-emulator-token"
signing_secret = "emulator-signing-secret"
bot_user_id = "U0EMUBOT"
bot_id = "B0EMUBOT"
api_base_url = "{slack}"
rate = {{ per_second = {RATE:.1}, burst = {BURST}, per_conversation_per_second = 50.0, per_conversation_burst = 50 }}

[channels.sms]
provider = "twilio"
account_sid = "{sid}"
auth_token = "{token}"
from = "{from}"
api_base_url = "{twilio}"

[bridge]
agents = "team"
agents_conversation = "{AGENTS}"
customers = ["sms"]
"#,
        sid = t.account_sid,
        token = t.auth_token,
        from = t.numbers[0],
        twilio = twilio.base_url(),
    )
}

async fn healthy(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("instance {base} did not become ready");
}

fn marker(c: usize, n: usize) -> String {
    format!("cust{c:02}-msg{n:02}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_survive_kills() {
    if !require_service("Redis", REDIS_ADDR).await {
        return;
    }
    let Some(test_schema) = TestSchema::new().await else {
        return;
    };
    let schema = test_schema.name().to_owned();
    let slack = SlackEmulator::start(SlackOptions {
        channels: vec![AGENTS.to_owned()],
        // A little above the configured rate: a 429 means the instances together went faster.
        rate_limit: Some(RateLimit {
            per_second: RATE * 1.25,
            burst: BURST + 2,
        }),
        latency: Duration::from_millis(20),
        ..SlackOptions::default()
    })
    .await
    .unwrap();
    let twilio = Twilio::start(TwilioOptions::default()).await.unwrap();
    let prefix = format!("sbmulti-{:016x}", fastrand::u64(..));
    let dir = std::env::temp_dir();
    let mut instances: Vec<Instance> = (0..INSTANCES)
        .map(|i| {
            let port = free_port();
            let path = dir.join(format!("{schema}-{i}.toml"));
            std::fs::write(
                &path,
                config(port, &schema, &prefix, &slack.base_url(), &twilio),
            )
            .unwrap();
            Instance {
                port,
                config: path,
                child: None,
            }
        })
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // The first starts alone (it creates the schema), then the others together.
    instances[0].spawn();
    healthy(&client, &instances[0].base()).await;
    for inst in &mut instances[1..] {
        inst.spawn();
    }
    for inst in &instances[1..] {
        healthy(&client, &inst.base()).await;
    }
    let live: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(
        instances.iter().map(|i| Some(i.base())).collect(),
    ));

    // Customers: each writes its messages in order, each retried until a 2xx.
    let done = Arc::new(AtomicBool::new(false));
    let twilio = Arc::new(twilio);
    let mut customers = Vec::new();
    for c in 0..CUSTOMERS {
        let (client, live, twilio) = (client.clone(), live.clone(), twilio.clone());
        customers.push(tokio::spawn(async move {
            let phone = format!("+1555000{c:04}");
            let to = twilio.options().numbers[0].clone();
            let mut attempts = 0;
            for n in 0..PER_CUSTOMER {
                let msg = Inbound::text(&phone, &to, &format!("hello {}", marker(c, n)));
                let req = twilio.signed_request(&format!("{PUBLIC}/webhooks/sms"), &msg);
                loop {
                    attempts += 1;
                    let target = {
                        let live = live.lock().unwrap();
                        let up: Vec<&String> = live.iter().flatten().collect();
                        up.get(fastrand::usize(..up.len().max(1)))
                            .map(|s| (*s).clone())
                    };
                    if let Some(base) = target {
                        let mut r = client
                            .post(format!("{base}/webhooks/sms"))
                            .body(req.body.clone());
                        for (k, v) in &req.headers {
                            r = r.header(k.as_str(), v.to_str().unwrap());
                        }
                        if let Ok(resp) = r.send().await
                            && resp.status().is_success()
                        {
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                tokio::time::sleep(Duration::from_millis(fastrand::u64(20..120))).await;
            }
            attempts
        }));
    }
    let all_sent = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut attempts = 0;
            for c in customers {
                attempts += c.await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
            attempts
        })
    };

    // The killer: at least six kills, some of two instances at once, until every webhook is in.
    let (mut kills, mut doubles) = (0, 0);
    while kills < 6 || doubles < 1 || !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(300..900))).await;
        let two = doubles == 0 && kills >= 2 || fastrand::u8(..4) == 0;
        let first = fastrand::usize(..INSTANCES);
        let victims: Vec<usize> = if two {
            vec![
                first,
                (first + 1 + fastrand::usize(..INSTANCES - 1)) % INSTANCES,
            ]
        } else {
            vec![first]
        };
        for &v in &victims {
            live.lock().unwrap()[v] = None;
            instances[v].kill();
            kills += 1;
        }
        if victims.len() == 2 {
            doubles += 1;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..400))).await;
        for &v in &victims {
            instances[v].spawn();
        }
        for &v in &victims {
            healthy(&client, &instances[v].base()).await;
            live.lock().unwrap()[v] = Some(instances[v].base());
        }
    }
    let attempts = all_sent.await.unwrap();

    // Every message relayed: wait for the last ones.
    let expected = CUSTOMERS * PER_CUSTOMER;
    let relayed = |slack: &SlackEmulator| {
        slack
            .messages()
            .into_iter()
            .filter(|m| m.channel == AGENTS && m.text.contains("cust"))
            .count()
    };
    let start = Instant::now();
    while relayed(&slack) < expected && start.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for inst in &mut instances {
        inst.kill();
    }

    let messages: Vec<_> = slack
        .messages()
        .into_iter()
        .filter(|m| m.channel == AGENTS)
        .collect();
    let posts = slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage")
        .collect::<Vec<_>>();
    let limited = posts.iter().filter(|c| c.status == 429).count();
    eprintln!(
        "multi-instance crash test: {kills} kills ({doubles} of two at once), {attempts} webhook \
         attempts for {expected} messages, {} Slack messages, {} chat.postMessage calls, {limited} \
         answered 429",
        messages.len(),
        posts.len()
    );
    // Each customer: one thread, and each message in it once, in order.
    let mut threads: HashMap<usize, String> = HashMap::new();
    for c in 0..CUSTOMERS {
        let mine: Vec<_> = messages
            .iter()
            .filter(|m| m.text.contains(&format!("cust{c:02}-")))
            .collect();
        let found: Vec<String> = mine
            .iter()
            .flat_map(|m| {
                (0..PER_CUSTOMER)
                    .filter(|n| m.text.contains(&marker(c, *n)))
                    .map(|n| marker(c, n))
                    .collect::<Vec<_>>()
            })
            .collect();
        let want: Vec<String> = (0..PER_CUSTOMER).map(|n| marker(c, n)).collect();
        assert_eq!(found, want, "customer {c}: each message once, in order");
        let roots: std::collections::HashSet<String> = mine
            .iter()
            .map(|m| m.thread_ts.clone().unwrap_or_else(|| m.ts.clone()))
            .collect();
        assert_eq!(roots.len(), 1, "customer {c} in one thread: {roots:?}");
        threads.insert(c, roots.into_iter().next().unwrap());
    }
    let parents = messages.iter().filter(|m| m.thread_ts.is_none()).count();
    assert_eq!(parents, CUSTOMERS, "one thread per customer, no second one");
    assert_eq!(
        limited, 0,
        "the agents' channel was called faster than its rate"
    );

    let store = switchboard::store::PgStore::connect_with(
        &format!("postgres://postgres@{PG_ADDR}/test"),
        test_schema.options(),
    )
    .await
    .unwrap();
    let stats = switchboard::Store::stats(&store).await.unwrap();
    assert_eq!(stats.dead, 0, "{stats:?}");
    assert_eq!(stats.inbox_pending, 0, "{stats:?}");
    assert_eq!(stats.outbox_pending, 0, "{stats:?}");
    drop(store);
    for inst in &instances {
        let _ = std::fs::remove_file(&inst.config);
    }
}
