//! Forwarding survives SIGKILL: `switchboard serve` (SQLite, a Twilio channel on the emulator,
//! `[gateway]` forwarding to a receiver here) is killed at random moments, at least six times,
//! while customers' SMS arrive (each webhook retried until a 2xx, as Twilio's retries and the
//! load balancer would) and while the receiver misbehaves: it answers 500, 503 with
//! `Retry-After`, answers after the gateway's timeout, or is down (connections refused). When
//! it does answer 200, it replies synchronously to each message.
//!
//! Afterwards: every event arrived at least once, always with the same `webhook-id`, body and a
//! valid signature; per conversation in order (no event after a later one); and at the Twilio
//! emulator every synchronous reply was created exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use switchboard::gateway::signature::{WebhookSecret, verify};
use switchboard::twilio::emulator::{Emulator as Twilio, EmulatorOptions, Inbound};

use super::world::{PUBLIC, SECRET, Serve, client, engine_and_sms};

const CONVERSATIONS: usize = 6;
const PER_CONVERSATION: usize = 8;
/// The gateway's timeout in this test; a slow answer takes longer.
const TIMEOUT_MS: u64 = 800;

#[derive(Clone, Debug)]
struct Seen {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// Records every request; answers 200 with a reply about half the time, else 500, 503 with
/// `Retry-After: 1`, or 200 after the gateway gave up waiting.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn marker(c: usize, n: usize) -> String {
    format!("c{c:02}-m{n:02}")
}

fn reply_to(body: &str) -> String {
    let event: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if event["type"] != "message.received" {
        return String::new();
    }
    let text = event["data"]["kind"]["text"].as_str().unwrap_or_default();
    serde_json::json!({"messages": [{"text": format!("re: {text}")}]}).to_string()
}

impl Receiver {
    async fn answer(&self, headers: HeaderMap, body: String) -> axum::response::Response {
        let h = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        self.seen.lock().unwrap().push(Seen {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp"),
            signature: h("webhook-signature"),
            body: body.clone(),
        });
        let json = [("content-type", "application/json")];
        match fastrand::u8(..100) {
            0..20 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            20..28 => (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response(),
            28..40 => {
                tokio::time::sleep(Duration::from_millis(TIMEOUT_MS + 400)).await;
                (StatusCode::OK, json, reply_to(&body)).into_response()
            }
            _ => (StatusCode::OK, json, reply_to(&body)).into_response(),
        }
    }

    /// Serves on `port` until `stop`, going down (the listener closed: connections refused)
    /// for a moment every few seconds.
    async fn run(self, port: u16, stop: Arc<AtomicBool>) {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/events",
            post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move { me.answer(headers, body).await }
            }),
        );
        while !stop.load(Ordering::SeqCst) {
            let listener = loop {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());
            tokio::time::sleep(Duration::from_millis(fastrand::u64(1500..3000))).await;
            server.abort();
            let _ = server.await;
            tokio::time::sleep(Duration::from_millis(fastrand::u64(200..700))).await;
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn config(twilio: &Twilio, receiver: u16) -> String {
    let schedule = vec!["\"150ms\""; 80].join(", ");
    format!(
        r#"{engine}
[gateway]
allow_private_targets = true
timeout = "{TIMEOUT_MS}ms"
retry_schedule = ["0s", {schedule}]

[[gateway.forward]]
name = "app"
url = "http://127.0.0.1:{receiver}/events"
secrets = ["{SECRET}"]
"#,
        engine = engine_and_sms(twilio)
    )
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Customers write in order, each webhook posted until a 2xx; returns when all were taken.
async fn customers(twilio: Arc<Twilio>, base: String) {
    let client = client();
    let mut tasks = Vec::new();
    for c in 0..CONVERSATIONS {
        let (client, twilio, base) = (client.clone(), twilio.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let phone = format!("+1555010{c:04}");
            let to = twilio.options().numbers[0].clone();
            for n in 0..PER_CONVERSATION {
                let msg = Inbound::text(&phone, &to, &format!("hello {}", marker(c, n)));
                let req = twilio.signed_request(&format!("{PUBLIC}/webhooks/sms"), &msg);
                loop {
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
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                tokio::time::sleep(Duration::from_millis(fastrand::u64(50..250))).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The replies the emulator created, by text.
fn replies(twilio: &Twilio) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in twilio.messages() {
        if let Some(body) = m.body.filter(|b| b.starts_with("re: ")) {
            *counts.entry(body).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_replies_survive_sigkill() {
    let twilio = Arc::new(Twilio::start(EmulatorOptions::default()).await.unwrap());
    let receiver = Receiver::default();
    let receiver_port = super::world::free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let down_and_up = tokio::spawn(receiver.clone().run(receiver_port, stop.clone()));
    let mut serve = Serve::new("forward", &config(&twilio, receiver_port));
    let client = client();
    serve.spawn();
    serve.ready(&client).await;

    let sending = tokio::spawn(customers(twilio.clone(), serve.base()));
    // The killer: at random moments, at least six times and twice after every webhook was
    // taken (while the forwarder still works through failures).
    let mut after = 0;
    loop {
        let taken = sending.is_finished();
        if serve.kills >= 6 && after >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(400..1500))).await;
        serve.kill();
        if taken {
            after += 1;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..300))).await;
        serve.spawn();
        serve.ready(&client).await;
    }
    sending.await.unwrap();

    let expected = CONVERSATIONS * PER_CONVERSATION;
    let start = Instant::now();
    while replies(&twilio).len() < expected && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Time for a doubled send or delivery to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    serve.kill();
    stop.store(true, Ordering::SeqCst);
    down_and_up.abort();

    let seen = receiver.seen();
    let counts = replies(&twilio);
    eprintln!(
        "gateway forward crash test: {} kills, {} deliveries of {expected} events, {} replies created",
        serve.kills,
        seen.len(),
        counts.values().sum::<usize>()
    );
    // Every event at least once, each always with one webhook-id and body, signed.
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let mut by_marker: HashMap<String, (String, String)> = HashMap::new();
    let mut order: HashMap<usize, Vec<usize>> = HashMap::new();
    for s in &seen {
        let ts: i64 = s.timestamp.parse().unwrap();
        verify(
            &secret,
            &s.id,
            ts,
            s.body.as_bytes(),
            &s.signature,
            unix_now(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", s.id));
        let event: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        let text = event["data"]["kind"]["text"].as_str().unwrap().to_owned();
        let m = text.trim_start_matches("hello ").to_owned();
        let known = by_marker
            .entry(m.clone())
            .or_insert_with(|| (s.id.clone(), s.body.clone()));
        assert_eq!(known.0, s.id, "{m}: a new webhook-id on a retry");
        assert_eq!(known.1, s.body, "{m}: another body on a retry");
        let c: usize = m[1..3].parse().unwrap();
        let n: usize = m[5..7].parse().unwrap();
        order.entry(c).or_default().push(n);
    }
    assert_eq!(by_marker.len(), expected, "events never forwarded");
    let ids: std::collections::HashSet<&String> = by_marker.values().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), expected, "two events shared a webhook-id");
    for (c, ns) in &order {
        assert!(
            ns.windows(2).all(|w| w[0] <= w[1]),
            "conversation {c} out of order: {ns:?}"
        );
    }
    // Every synchronous reply created once at the provider.
    for c in 0..CONVERSATIONS {
        for n in 0..PER_CONVERSATION {
            let text = format!("re: hello {}", marker(c, n));
            assert_eq!(counts.get(&text), Some(&1), "{text}: {counts:?}");
        }
    }
    assert!(serve.kills >= 6);
}
