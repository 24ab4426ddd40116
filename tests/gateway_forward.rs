//! Gateway forwarding end to end: events posted to the engine reach a receiver on 127.0.0.1
//! signed (checked here and by the official `standardwebhooks` packages from PyPI and npm), retried with
//! the same `webhook-id`, in order per conversation; synchronous replies are sent once; `410`
//! disables the endpoint until it is enabled; a used-up schedule dead-letters the event and a
//! replay sends it again.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Served, builder, eventually, inbound, memory};
use switchboard::Env;
use switchboard::gateway::GatewayConfig;
use switchboard::gateway::signature::{WebhookSecret, verify};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Debug)]
struct Seen {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A receiver that records every request and answers from a script (then 200, empty).
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/events",
            post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    me.seen.lock().unwrap().push(Seen {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    });
                    let (status, body) = me
                        .script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((200, String::new()));
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/events")
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn gateway(url: &str, schedule: &str) -> GatewayConfig {
    let doc: toml::Table = format!(
        "[gateway]\nallow_private_targets = true\nretry_schedule = {schedule}\n\
         [[gateway.forward]]\nname = \"app\"\nurl = \"{url}\"\nsecrets = [\"{SECRET}\"]\n"
    )
    .parse()
    .unwrap();
    GatewayConfig::from_document(&doc, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .unwrap()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Checks the requests with the official packages, PyPI's (`SWITCHBOARD_PYTHON`, default
/// `python3`) and npm's (`node`, with the package under `SWITCHBOARD_NODE_MODULES`): each
/// fails where `CI=true` (or `SWITCHBOARD_REQUIRE_SERVICES=1`) when it is missing, and prints a
/// skip line elsewhere.
fn verify_officially(seen: &[Seen]) {
    let requests: Vec<serde_json::Value> = seen
        .iter()
        .map(|s| {
            serde_json::json!({
                "headers": {"webhook-id": s.id, "webhook-timestamp": s.timestamp, "webhook-signature": s.signature},
                "body": s.body,
            })
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("sb-gw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let case = dir.join(format!("case-{}.json", fastrand_id()));
    std::fs::write(
        &case,
        serde_json::json!({"secret": SECRET, "requests": requests}).to_string(),
    )
    .unwrap();
    let python = std::env::var("SWITCHBOARD_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut py = std::process::Command::new(&python);
    py.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/gateway/verify.py"
    ))
    .arg(&case);
    official(
        "PyPI standardwebhooks",
        py,
        seen.len(),
        "SWITCHBOARD_PYTHON",
    );
    let mut node = std::process::Command::new("node");
    node.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/gateway/verify.mjs"
    ))
    .arg(&case);
    official(
        "npm standardwebhooks",
        node,
        seen.len(),
        "SWITCHBOARD_NODE_MODULES",
    );
}

/// Runs one official check: it must print `verified {n}`.
fn official(what: &str, mut command: std::process::Command, n: usize, setting: &str) {
    let out = command.output();
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let program = command.get_program().to_string_lossy().into_owned();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(text.trim(), format!("verified {n}"), "{what}");
        }
        Ok(o) if o.status.code() == Some(3) && !required => {
            eprintln!("skipped: the {what} check ({program} has no package; .ci/run installs it)");
        }
        Err(e) if !required => eprintln!("skipped: the {what} check ({program}: {e})"),
        Ok(o) => panic!(
            "{what} ({program}) refused our requests: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("{program}: {e} (set {setting}; .ci/run does)"),
    }
}

fn fastrand_id() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test]
async fn events_arrive_signed_retried_in_order_and_replies_are_sent_once() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    {
        let mut script = receiver.script.lock().unwrap();
        script.push_back((500, "{\"error\": \"down\"}".into()));
        script.push_back((200, r#"{"messages": [{"text": "Got **it**"}]}"#.into()));
    }
    let mem = memory("mem");
    let served = Served::start(
        builder(&mem).gateway(gateway(&url, r#"["0s", "100ms", "100ms"]"#)),
        "mem",
    )
    .await;
    let response = served
        .deliver(
            &mem,
            &[inbound("e1", "c1", "first"), inbound("e2", "c1", "second")],
        )
        .await;
    assert!(response.status().is_success());
    served.deliver(&mem, &[inbound("e3", "c2", "other")]).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            receiver.seen().len() >= 4
        })
        .await,
        "{:?}",
        receiver.seen()
    );
    let seen = receiver.seen();
    let ids: Vec<&str> = seen.iter().map(|s| s.id.as_str()).collect();
    // e1 failed once (500) and was sent again with the same webhook-id; e2 waited for it.
    let c1: Vec<&str> = ids.iter().copied().filter(|i| *i != "mem:e3").collect();
    assert_eq!(c1, vec!["mem:e1", "mem:e1", "mem:e2"], "{ids:?}");
    assert!(ids.contains(&"mem:e3"));
    let secret = WebhookSecret::parse(SECRET).unwrap();
    for s in &seen {
        let ts: i64 = s.timestamp.parse().unwrap();
        assert!((unix_now() - ts).abs() < 60);
        verify(
            &secret,
            &s.id,
            ts,
            s.body.as_bytes(),
            &s.signature,
            unix_now(),
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&s.body).unwrap();
        assert_eq!(body["type"], "message.received");
    }
    let first: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(first["data"]["kind"]["text"], "first");
    verify_officially(&seen);
    // The synchronous reply to e1 went out once.
    assert!(eventually(Duration::from_secs(5), || async { !mem.sent().is_empty() }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = mem.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    served.shutdown().await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_a_used_up_schedule_dead_letters() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    receiver
        .script
        .lock()
        .unwrap()
        .push_back((410, String::new()));
    let mem = memory("mem");
    let served = Served::start(
        builder(&mem).gateway(gateway(&url, r#"["0s", "50ms"]"#)),
        "mem",
    )
    .await;
    served.deliver(&mem, &[inbound("e1", "c1", "one")]).await;
    let store = served.sb.store().clone();
    assert!(
        eventually(Duration::from_secs(10), || async {
            store
                .forward_endpoints()
                .await
                .unwrap()
                .iter()
                .any(|e| e.disabled.is_some())
        })
        .await
    );
    let metrics = served.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("switchboard_gateway_endpoint_disabled{endpoint=\"app\"} 1"),
        "{metrics}"
    );
    served.deliver(&mem, &[inbound("e2", "c2", "two")]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.seen().len(),
        1,
        "nothing is sent to a disabled endpoint"
    );
    // Enabled again: both events arrive; e1 keeps its webhook-id.
    {
        let mut script = receiver.script.lock().unwrap();
        for _ in 0..4 {
            script.push_back((503, String::new()));
        }
    }
    store
        .set_forward_disabled("app", None, SystemTime::now())
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            store.forward_dead_letters(None, 10).await.unwrap().len() == 2
        })
        .await,
        "{:?}",
        receiver.seen()
    );
    let dead = store.forward_dead_letters(None, 10).await.unwrap();
    assert!(
        dead[0].error.contains("gave up after 2 attempts: HTTP 503"),
        "{dead:?}"
    );
    assert_eq!(
        store
            .replay_forwards("app", SystemTime::now())
            .await
            .unwrap(),
        2
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            let seen = receiver.seen();
            seen.len() >= 7
                && store
                    .forward_endpoints()
                    .await
                    .unwrap()
                    .iter()
                    .all(|e| e.pending == 0)
        })
        .await,
        "{:?}",
        receiver.seen()
    );
    let ids: Vec<String> = receiver.seen().iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids.iter().filter(|i| *i == "mem:e1").count(), 4, "{ids:?}");
    served.shutdown().await;
}

#[tokio::test]
async fn a_send_given_up_on_is_forwarded_as_message_failed() {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let mem = memory("mem");
    let served = Served::start(
        builder(&mem)
            .gateway(gateway(&url, r#"["0s", "100ms"]"#))
            .on_message(|ctx| async move {
                ctx.reply_text("Your order shipped")?;
                Ok(())
            }),
        "mem",
    )
    .await;
    // The provider refuses the reply for good.
    mem.fail_next(
        switchboard::Error::new(
            switchboard::ErrorKind::InvalidMessage,
            "recipient cannot receive this",
        )
        .with_retry(switchboard::Retry::Never),
    );
    served.deliver(&mem, &[inbound("e1", "c1", "hello")]).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            receiver.seen().len() >= 2
        })
        .await,
        "{:?}",
        receiver.seen()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = receiver.seen();
    // The event, then the failure of its reply: in the conversation's order, once each.
    let ids: Vec<&str> = seen.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["mem:e1", "mem/failed/mem:e1:0"]);
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let s = &seen[1];
    verify(
        &secret,
        &s.id,
        s.timestamp.parse().unwrap(),
        s.body.as_bytes(),
        &s.signature,
        unix_now(),
    )
    .unwrap();
    let body: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(body["type"], "message.failed");
    let data = &body["data"];
    assert_eq!(data["key"], "mem:e1:0");
    assert!(data["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(data["conversation"]["channel"], "mem");
    assert_eq!(data["conversation"]["conversation"], "c1");
    assert_eq!(data["message"]["text"], "Your order shipped");
    assert_eq!(data["attempts"], 1);
    assert_eq!(data["error"]["kind"], "invalid_message");
    assert_eq!(data["error"]["message"], "recipient cannot receive this");
    assert!(
        data["error"]["text"]
            .as_str()
            .unwrap()
            .contains("recipient cannot receive this")
    );
    assert_eq!(data["before_request"], false);
    assert_eq!(data["maybe_delivered"], false);
    verify_officially(&seen);
    served.shutdown().await;
}
