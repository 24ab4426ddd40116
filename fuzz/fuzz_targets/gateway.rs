//! The gateway's inputs from applications: REST request bodies (`POST /v1/messages`, `PATCH
//! /v1/messages/{id}`, `PUT /v1/conversations/{channel}/{id}/state`) through the real router
//! (a memory store and channel, one API key), and an endpoint's synchronous answer
//! (`{"messages": [ … ]}`) through `gateway::reply::parse`.
//!
//! Input: one flag byte, then the body. Flags bits 0–1: `POST` (with an `Idempotency-Key`
//! derived from the body), `PATCH` of a message sent at start, `PUT` state, or a synchronous
//! answer; bit 2: the `POST` without a key.
//!
//! Invariants: the API never answers 5xx; every error is `application/problem+json` with its
//! status, `kind` and `retry`; a 202 carries the message's `id` and `status`; replies that
//! parse are valid messages for the event's conversation, at most `MAX_REPLIES`, keyed apart.
#![no_main]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::gateway::GatewayConfig;
use switchboard::gateway::reply::{MAX_REPLIES, parse};
use switchboard::{ChannelName, Env, MemoryAdapter, MemoryStore, Secret, Switchboard};
use tower::ServiceExt;

const KEY: &str = "fuzz-api-key-0123456789";
/// A forwarded event's body, as the gateway keeps it.
const EVENT: &str = r#"{"type":"message.received","data":{"id":"e1","conversation":{"channel":"mem","conversation":"c1"}}}"#;

struct World {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    /// The path of a message sent at start.
    message: String,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (router, message) = rt.block_on(async {
        let doc: toml::Table = format!("[gateway]\napi_keys = [\"{KEY}\"]\n")
            .parse()
            .expect("gateway toml");
        let gateway = GatewayConfig::from_document(&doc, &Env::from_pairs::<_, &str, &str>([]))
            .expect("gateway config")
            .expect("gateway section");
        let mem = MemoryAdapter::new(ChannelName::new("mem").expect("name"), Secret::new("s"));
        let sb = Switchboard::builder()
            .store(Arc::new(MemoryStore::new()))
            .channel(Arc::new(mem))
            .gateway(gateway)
            .build()
            .await
            .expect("engine");
        let router = sb.router();
        let body = r#"{"channel":"mem","conversation":"c1","message":{"text":"seed"}}"#;
        let (status, answer) = call(&router, "POST", "/v1/messages", body.as_bytes(), None).await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["id"].as_str().expect("id").to_owned();
        (router, format!("/v1/messages/{id}"))
    });
    World {
        rt,
        router,
        message,
    }
});

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: &[u8],
    key: Option<String>,
) -> (u16, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        request = request.header("idempotency-key", k);
    }
    let request = request.body(Body::from(body.to_vec())).expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert!(status < 500, "{method} {path}: {status} {value}");
    if status >= 400 {
        assert!(problem, "{method} {path}: {status} without problem+json: {value}");
        assert_eq!(value["status"].as_u64(), Some(u64::from(status)), "{value}");
        assert!(value["kind"].is_string() && value["retry"].is_string(), "{value}");
    }
    (status, value)
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let world = &*WORLD;
    match flags & 3 {
        0 => {
            let key = (flags & 4 == 0).then(|| {
                let mut h = DefaultHasher::new();
                body.hash(&mut h);
                format!("fuzz-{:016x}", h.finish())
            });
            let (status, answer) =
                world
                    .rt
                    .block_on(call(&world.router, "POST", "/v1/messages", body, key));
            if status == 202 {
                assert!(answer["id"].is_string() && answer["status"].is_string(), "{answer}");
            }
        }
        1 => {
            let (status, answer) =
                world
                    .rt
                    .block_on(call(&world.router, "PATCH", &world.message, body, None));
            if status == 202 {
                assert!(answer["edit"]["edits"].is_u64(), "{answer}");
            }
        }
        2 => {
            world.rt.block_on(call(
                &world.router,
                "PUT",
                "/v1/conversations/mem/c1/state",
                body,
                None,
            ));
        }
        _ => {
            if let Ok(replies) = parse(body, "app", "mem:e1", EVENT) {
                assert!(replies.len() <= MAX_REPLIES);
                for (i, r) in replies.iter().enumerate() {
                    assert_eq!(r.key, format!("mem/gw/app/mem:e1/{i}"));
                    assert_eq!(r.to.conversation.as_str(), "c1");
                    assert_eq!(r.message.idempotency_key.as_deref(), Some(r.key.as_str()));
                    r.message.validate().expect("a parsed reply validates");
                }
            }
        }
    }
});
