//! The gateway's REST API over HTTP: Bearer keys (scoped), sends with Idempotency-Key (same key
//! and body: the same result and one send; another body: 409), status, channels, state, the
//! OpenAPI document, and RFC 9457 problems for bad input.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{Served, builder, eventually, memory};
use serde_json::{Value, json};
use switchboard::Env;
use switchboard::gateway::GatewayConfig;

const KEY: &str = "k-0123456789abcdef";
const SCOPED: &str = "k-scoped-0123456789";

fn gateway() -> GatewayConfig {
    let doc: toml::Table = format!(
        "[gateway]\napi_keys = [\"{KEY}\", {{ key = \"{SCOPED}\", channels = [\"other\"] }}]\n"
    )
    .parse()
    .unwrap();
    GatewayConfig::from_document(&doc, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .unwrap()
}

async fn call(
    s: &Served,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
    idem: Option<&str>,
) -> (u16, String, Value) {
    let url = format!("{}{path}", s.running.url());
    let mut r = s.client.request(method.parse().unwrap(), url);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    if let Some(i) = idem {
        r = r.header("Idempotency-Key", i);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn sends_are_idempotent_scoped_and_errors_are_problems() {
    let mem = memory("mem");
    let other = memory("other");
    let served = Served::start(
        builder(&mem)
            .channel_with(std::sync::Arc::new(other.clone()), common::unlimited())
            .gateway(gateway()),
        "mem",
    )
    .await;
    let send = json!({"channel": "mem", "conversation": "c1", "message": {"text": "Your order **shipped**"}});
    let (status, ct, body) = call(
        &served,
        "POST",
        "/v1/messages",
        None,
        Some(send.clone()),
        None,
    )
    .await;
    assert_eq!((status, ct.as_str()), (401, "application/problem+json"));
    assert_eq!(body["kind"], "unauthenticated");
    assert_eq!(body["retry"], "never");
    let (status, _, first) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(send.clone()),
        Some("order-42"),
    )
    .await;
    assert_eq!(status, 202, "{first}");
    let (status, _, again) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(send.clone()),
        Some("order-42"),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(again["id"], first["id"]);
    let mut changed = send.clone();
    changed["message"]["text"] = json!("another text");
    let (status, _, conflict) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(changed),
        Some("order-42"),
    )
    .await;
    assert_eq!(status, 409, "{conflict}");
    assert!(eventually(Duration::from_secs(5), || async { mem.sent().len() == 1 }).await);
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(
                &served,
                "GET",
                &format!("/v1/messages/{id}"),
                Some(KEY),
                None,
                None,
            )
            .await
            .2["status"]
                == "sent"
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mem.sent().len(), 1, "sent once");
    // Bad input: a clear 4xx problem each.
    let (status, _, p) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(json!({"channel": "mem", "conversation": "c1", "message": {"text": "x"}, "extra": 1})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("extra"), "{p}");
    let (status, _, p) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(json!({"channel": "nope", "conversation": "c1", "message": {"text": "x"}})),
        None,
    )
    .await;
    assert_eq!((status, p["kind"].as_str()), (404, Some("not_found")));
    let (status, _, p) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(json!({"channel": "mem", "conversation": "c1", "message": {}})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{p}");
    let (status, _, _) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(SCOPED),
        Some(send.clone()),
        None,
    )
    .await;
    assert_eq!(status, 403, "a scoped key may not use another channel");
    let (status, _, _) = call(
        &served,
        "GET",
        &format!("/v1/messages/{id}"),
        Some(SCOPED),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "nor see its messages");
    let (status, _, _) = call(
        &served,
        "GET",
        "/v1/messages/msg_nope",
        Some(KEY),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Channels, as the key sees them.
    let (_, _, all) = call(&served, "GET", "/v1/channels", Some(KEY), None, None).await;
    assert_eq!(all["channels"].as_array().unwrap().len(), 2);
    let (_, _, scoped) = call(&served, "GET", "/v1/channels", Some(SCOPED), None, None).await;
    assert_eq!(scoped["channels"][0]["name"], "other");
    assert_eq!(scoped["channels"].as_array().unwrap().len(), 1);
    // State.
    let path = "/v1/conversations/mem/c1/state";
    assert_eq!(
        call(&served, "GET", path, Some(KEY), None, None).await.2,
        json!({"state": null})
    );
    let (status, _, _) = call(
        &served,
        "PUT",
        path,
        Some(KEY),
        Some(json!({"state": {"step": 2}})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&served, "GET", path, Some(KEY), None, None).await.2,
        json!({"state": {"step": 2}})
    );
    assert_eq!(
        call(
            &served,
            "PUT",
            path,
            Some(KEY),
            Some(json!({"nope": 1})),
            None
        )
        .await
        .0,
        422
    );
    // The OpenAPI document, without a key.
    let (status, _, doc) = call(&served, "GET", "/v1/openapi.json", None, None, None).await;
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));
    served.shutdown().await;
}

#[tokio::test]
async fn sent_messages_are_edited_and_deleted_where_the_channel_can() {
    use switchboard::core::memory::{RecordedOp, default_capabilities};
    let mem = memory("mem");
    let mut caps = default_capabilities();
    caps.edit = false;
    caps.delete = false;
    let fixed = memory("other").with_capabilities(caps);
    let served = Served::start(
        builder(&mem)
            .channel_with(std::sync::Arc::new(fixed.clone()), common::unlimited())
            .gateway(gateway()),
        "mem",
    )
    .await;
    let send = |channel: &str| json!({"channel": channel, "conversation": "c1", "message": {"text": "Your order shipped"}});
    let (_, _, sent) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(send("mem")),
        None,
    )
    .await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/messages/{id}");
    let edit = json!({"message": {"text": "Your order shipped today"}});
    // Queued after the send: the edit reaches the provider once the message was sent.
    let (status, _, body) =
        call(&served, "PATCH", &path, Some(KEY), Some(edit.clone()), None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["edit"]["edits"], 1, "{body}");
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(&served, "GET", &path, Some(KEY), None, None).await.2["edit"]["status"] == "done"
        })
        .await
    );
    let ops = mem.ops();
    assert!(
        matches!(&ops[..], [RecordedOp::Edit(m, text)] if text == "Your order shipped today" && m.conversation.conversation.as_str() == "c1"),
        "{ops:?}"
    );
    // A bad edit is refused; the message cannot be edited through an edit's own id.
    let (status, _, _) = call(
        &served,
        "PATCH",
        &path,
        Some(KEY),
        Some(json!({"message": {}})),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = call(
        &served,
        "PATCH",
        "/v1/messages/msg_bm9wZQ",
        Some(KEY),
        Some(edit.clone()),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Deleted (twice is the same deletion), then neither editable nor deleted again.
    for _ in 0..2 {
        let (status, _, body) = call(&served, "DELETE", &path, Some(KEY), None, None).await;
        assert_eq!(status, 202, "{body}");
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(&served, "GET", &path, Some(KEY), None, None).await.2["status"] == "deleted"
        })
        .await
    );
    assert_eq!(
        mem.ops()
            .iter()
            .filter(|o| matches!(o, RecordedOp::Delete(_)))
            .count(),
        1
    );
    let (status, _, body) =
        call(&served, "PATCH", &path, Some(KEY), Some(edit.clone()), None).await;
    assert_eq!(status, 409, "{body}");
    // A channel that cannot: 422 naming the capability; nothing queued.
    let (_, _, sent) = call(
        &served,
        "POST",
        "/v1/messages",
        Some(KEY),
        Some(send("other")),
        None,
    )
    .await;
    let fixed_path = format!("/v1/messages/{}", sent["id"].as_str().unwrap());
    let (status, ct, body) = call(&served, "PATCH", &fixed_path, Some(KEY), Some(edit), None).await;
    assert_eq!(
        (status, ct.as_str()),
        (422, "application/problem+json"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("capability 'edit'"),
        "{body}"
    );
    assert_eq!(body["kind"], "unsupported");
    let (status, _, body) = call(&served, "DELETE", &fixed_path, Some(KEY), None, None).await;
    assert_eq!(status, 422);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("capability 'delete'"),
        "{body}"
    );
    assert!(fixed.ops().is_empty());
    served.shutdown().await;
}

#[tokio::test]
async fn the_api_moves_to_the_admin_listener_when_asked() {
    let doc: toml::Table = format!(
        "[server]\nadmin_listen = \"127.0.0.1:9\"\n[gateway]\napi_keys = [\"{KEY}\"]\napi_on = \"admin_listen\"\n"
    )
    .parse()
    .unwrap();
    let config = GatewayConfig::from_document(&doc, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .unwrap();
    let mem = memory("mem");
    let mut engine = common::fast_config();
    engine.server.admin_listen = Some("127.0.0.1:9".parse().unwrap());
    // Asked for without an admin listener: refused when the engine is built.
    let refused = builder(&mem)
        .gateway(config.clone())
        .build()
        .await
        .err()
        .unwrap();
    assert!(
        refused.to_string().contains("needs [server] admin_listen"),
        "{refused}"
    );
    let served = Served::start(builder(&mem).config(engine).gateway(config), "mem").await;
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_url = format!("http://{}", admin.local_addr().unwrap());
    let router = served.sb.admin_router();
    tokio::spawn(async move { axum::serve(admin, router).await });
    let get = |url: String| {
        let client = served.client.clone();
        async move {
            let r = client.get(url).bearer_auth(KEY).send().await.unwrap();
            r.status().as_u16()
        }
    };
    let main = served.running.url();
    assert_eq!(get(format!("{admin_url}/v1/channels")).await, 200);
    assert_eq!(get(format!("{admin_url}/metrics")).await, 200);
    assert_eq!(get(format!("{admin_url}/readyz")).await, 200);
    assert_eq!(get(format!("{main}/v1/channels")).await, 404);
    assert_eq!(get(format!("{main}/metrics")).await, 404);
    served.shutdown().await;
}

/// Schemathesis (PyPI) against the live API from its OpenAPI document, bounded (20 examples per
/// operation, 3 minutes): no 5xx, and every response matches the document (schema, status
/// codes, content types). `st` is taken beside `SWITCHBOARD_PYTHON` (.ci/run's venv); without
/// it the test prints a skip line, and fails under CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_or_schema_mismatch() {
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let st = std::env::var("SWITCHBOARD_PYTHON")
        .ok()
        .and_then(|p| std::path::Path::new(&p).parent().map(|d| d.join("st")))
        .filter(|st| st.exists());
    let Some(st) = st else {
        assert!(
            !required,
            "schemathesis is needed (st beside SWITCHBOARD_PYTHON; .ci/run installs it)"
        );
        eprintln!("skipped: schemathesis (no st beside SWITCHBOARD_PYTHON; .ci/run installs it)");
        return;
    };
    let mem = memory("mem");
    let other = memory("other");
    let served = Served::start(
        builder(&mem)
            .channel_with(std::sync::Arc::new(other), common::unlimited())
            .gateway(gateway()),
        "mem",
    )
    .await;
    let base = served.running.url();
    let run = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(st)
            .args(["run", &format!("{base}/v1/openapi.json")])
            .args(["-H", &format!("Authorization: Bearer {KEY}")])
            .args(["--max-examples", "20", "--request-timeout", "5"])
            .args([
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            ])
            .env("NO_COLOR", "1")
            // Its example database (.schemathesis/) goes there, not into the repository.
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(180) {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "schemathesis failed:\n{text}");
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Tested:"))
        .collect();
    eprintln!("schemathesis: {}", summary.join("; ").trim());
    served.shutdown().await;
}
