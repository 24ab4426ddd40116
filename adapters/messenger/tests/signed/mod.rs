//! Meta's webhook fixtures, wrapped in the documented `{"object":"page","entry":[…]}` envelope,
//! signed with the App Secret and decoded by an adapter (shared by the webhook tests).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};
use switchboard_core::{Adapter, ChannelName, InboundEvent, Secret, WebhookRequest};
use switchboard_messenger::{MessengerAdapter, MessengerConfig, signature};

pub(crate) const SECRET: &str = "test_app_secret";

pub(crate) fn case(id: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("../fixtures/webhook_payloads.json")).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .clone()
}

pub(crate) fn adapter(app_id: Option<&str>) -> MessengerAdapter {
    let mut b = MessengerConfig::builder(
        ChannelName::new("fb").unwrap(),
        "1895382890692545",
        Secret::new("page-token"),
        Secret::new(SECRET),
        Secret::new("verify"),
    );
    if let Some(id) = app_id {
        b = b.app_id(id);
    }
    MessengerAdapter::new(b.build().unwrap()).unwrap()
}

pub(crate) fn envelope(items: &[Value]) -> String {
    json!({"object": "page", "entry": [{"id": "1895382890692545", "time": 1458692752478_i64, "messaging": items}]})
        .to_string()
}

pub(crate) fn decode_with(a: &MessengerAdapter, body: &str) -> Vec<InboundEvent> {
    // Documented samples name placeholder or sample Pages; the channel takes only its own
    // (issue 15, item 11), so their entries are addressed to it.
    let mut v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let owned;
    let body = match v.get_mut("entry").and_then(Value::as_array_mut) {
        Some(entries) if entries.iter().any(|e| e["id"] != "1895382890692545") => {
            for e in entries.iter_mut() {
                if e.get("id").is_some() {
                    e["id"] = json!("1895382890692545");
                }
            }
            owned = v.to_string();
            owned.as_str()
        }
        _ => body,
    };
    let req = WebhookRequest::post("https://bot.example/webhooks/fb", body.to_owned()).with_header(
        "X-Hub-Signature-256",
        &signature::sign(SECRET, body.as_bytes()),
    );
    let out = a.handle_webhook(&req);
    assert_eq!(out.response().status, http::StatusCode::OK, "{out:?}");
    out.accepted_events().unwrap().to_vec()
}

pub(crate) fn decode(body: &str) -> Vec<InboundEvent> {
    decode_with(&adapter(None), body)
}

pub(crate) fn ms(t: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(t as u64)
}
