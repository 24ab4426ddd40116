//! Helpers shared by the emulator tests: adapters pointed at an emulator, a webhook receiver on
//! 127.0.0.1 that runs `handle_webhook`, and the OpenAPI check of request bodies.

#![allow(dead_code)] // each test binary uses a subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use serde_json::Value;
use switchboard_core::{
    Adapter, ChannelName, ConversationRef, InboundEvent, Secret, WebhookOutcome, WebhookRequest,
};
use switchboard_twilio::emulator::Emulator;
use switchboard_twilio::{TwilioAdapter, TwilioConfig};

pub(crate) const SMS_USER: &str = "+15558675310";
pub(crate) const WA_USER: &str = "whatsapp:+886123456789";

pub(crate) type Events = Arc<Mutex<Vec<InboundEvent>>>;

/// A webhook receiver on 127.0.0.1 that hands every request to the adapter.
pub(crate) async fn receiver(adapter: Arc<TwilioAdapter>) -> (String, Events) {
    let events: Events = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = (adapter, events.clone(), base.clone());
    let app = axum::Router::new()
        .fallback(
            |State((adapter, events, base)): State<(Arc<TwilioAdapter>, Events, String)>,
             uri: Uri,
             headers: HeaderMap,
             body: Bytes| async move {
                let mut req = WebhookRequest::post(format!("{base}{uri}"), body);
                req.headers = headers;
                let outcome = adapter.handle_webhook(&req);
                if let WebhookOutcome::Accepted { events: got, .. } = &outcome {
                    events.lock().unwrap().extend(got.iter().cloned());
                }
                let resp = outcome.response();
                (resp.status, resp.body.to_vec())
            },
        )
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("{base}/webhooks/sms"), events)
}

pub(crate) fn config(emu: &Emulator, callback: Option<&str>) -> TwilioConfig {
    let c = emu.options();
    let mut b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        c.account_sid.clone(),
        Secret::new(c.auth_token.clone()),
    )
    .from(c.numbers[0].clone())
    .api_base_url(emu.base_url());
    if let Some(cb) = callback {
        b = b.status_callback(cb);
    }
    b.build().unwrap()
}

/// A channel that sends through the emulator's first Messaging Service (no `From`).
pub(crate) fn service_config(emu: &Emulator, callback: Option<&str>) -> TwilioConfig {
    let c = emu.options();
    let mut b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        c.account_sid.clone(),
        Secret::new(c.auth_token.clone()),
    )
    .messaging_service_sid(c.messaging_services[0].clone())
    .api_base_url(emu.base_url());
    if let Some(cb) = callback {
        b = b.status_callback(cb);
    }
    b.build().unwrap()
}

pub(crate) fn whatsapp_adapter(emu: &Emulator) -> TwilioAdapter {
    let c = emu.options();
    let cfg = TwilioConfig::builder(
        ChannelName::new("wa").unwrap(),
        c.account_sid.clone(),
        Secret::new(c.auth_token.clone()),
    )
    .from("whatsapp:+14155238886")
    .api_base_url(emu.base_url())
    .build()
    .unwrap();
    TwilioAdapter::new(cfg).unwrap()
}

pub(crate) async fn wait_for(events: &Events, n: usize) -> Vec<InboundEvent> {
    for _ in 0..200 {
        if events.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    events.lock().unwrap().clone()
}

pub(crate) fn to(channel: &str, who: &str) -> ConversationRef {
    ConversationRef::parse(channel, who).unwrap()
}

/// Every request body the adapter sent is a valid CreateMessageRequest of the OpenAPI spec.
pub(crate) fn assert_bodies_match_spec(emu: &Emulator) {
    let spec: Value = serde_json::from_str(include_str!(
        "../fixtures/openapi/twilio_api_v2010_messages_subset.json"
    ))
    .unwrap();
    let op = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"];
    let schema = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let props = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let creates: Vec<_> = emu
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/Messages.json"))
        .collect();
    assert!(!creates.is_empty());
    for call in creates {
        for (name, value) in &call.params {
            let prop = props
                .get(name)
                .unwrap_or_else(|| panic!("unknown parameter {name}"));
            if prop["format"] == "uri" || prop["items"]["format"] == "uri" {
                assert!(
                    url::Url::parse(value).is_ok(),
                    "{name}={value} is not a URI"
                );
            }
            if prop["type"] == "boolean" {
                assert!(value == "true" || value == "false", "{name}={value}");
            }
            if prop["type"] != "array" {
                assert_eq!(call.params_named(name).len(), 1, "{name} repeated");
            }
        }
        for r in &required {
            assert!(
                call.param(r).is_some(),
                "required {r} missing: {:?}",
                call.params
            );
        }
        assert!(call.param("From").is_some() || call.param("MessagingServiceSid").is_some());
        assert!(
            call.param("Body").is_some()
                || call.param("MediaUrl").is_some()
                || call.param("ContentSid").is_some()
        );
    }
}

/// The GMT date of `t` as `YYYY-MM-DD` (the Messages list's `DateSent` form), counted year by
/// year and month by month from 1970: an oracle independent of the adapter's date code.
pub(crate) fn gmt_date(t: std::time::SystemTime) -> String {
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut days = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let february = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for length in [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02}", days + 1)
}
