//! Slack's fixtures, signed as Slack signs them, and the adapter they go to (shared by the
//! Events API and the interactivity tests).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use switchboard_core::{ChannelTable, EventKind, InboundEvent, WebhookOutcome, WebhookRequest};
use switchboard_slack::SlackAdapter;
use switchboard_slack::signature::sign;

pub(crate) const SECRET: &str = "test-signing-secret";
pub(crate) const URL: &str = "https://bot.example.com/webhooks/team";

pub(crate) fn fixture(name: &str) -> Vec<Value> {
    let text = match name {
        "events" => include_str!("../fixtures/events_api_payloads.json"),
        "interactivity" => include_str!("../fixtures/interactivity_and_commands.json"),
        _ => unreachable!(),
    };
    let v: Value = serde_json::from_str(text).unwrap();
    v["cases"].as_array().unwrap().clone()
}

pub(crate) fn case(name: &str, id: &str) -> Value {
    fixture(name)
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no fixture {id}"))
}

pub(crate) fn adapter(extra: &str) -> SlackAdapter {
    let t = ChannelTable::from_toml_str(
        "team",
        &format!(
            "provider = 'slack'\nbot_token = 'xoxb-test'\nsigning_secret = '{SECRET}'\n\
             api_base_url = 'http://127.0.0.1:9/api'\n{extra}"
        ),
    )
    .unwrap();
    SlackAdapter::from_table(t).unwrap()
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn signed_at(body: &[u8], content_type: &str, ts: u64) -> WebhookRequest {
    let sig = sign(SECRET, &ts.to_string(), body);
    WebhookRequest::post(URL, body.to_vec())
        .with_header("content-type", content_type)
        .with_header("x-slack-request-timestamp", &ts.to_string())
        .with_header("x-slack-signature", &sig)
}

pub(crate) fn signed(body: &[u8], content_type: &str) -> WebhookRequest {
    signed_at(body, content_type, now_secs())
}

pub(crate) fn events_of(outcome: WebhookOutcome) -> Vec<InboundEvent> {
    match outcome {
        WebhookOutcome::Accepted { response, events } => {
            assert_eq!(response.status, 200);
            events
        }
        WebhookOutcome::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

pub(crate) fn message(ev: &InboundEvent) -> &switchboard_core::model::InboundMessage {
    match &ev.kind {
        EventKind::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}
