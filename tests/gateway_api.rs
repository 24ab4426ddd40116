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
