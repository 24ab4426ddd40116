//! Every signing vector in Slack's fixtures, through the pure check and through the adapter.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use switchboard_core::{Adapter, ChannelTable, RejectReason, WebhookRequest};
use switchboard_slack::SlackAdapter;
use switchboard_slack::signature::{SignatureError, sign, verify};

fn cases() -> Vec<Value> {
    let v: Value = serde_json::from_str(include_str!("fixtures/signature_vectors.json")).unwrap();
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn every_vector_verifies_as_expected() {
    let cases = cases();
    assert_eq!(cases.len(), 4);
    for c in &cases {
        let id = c["id"].as_str().unwrap();
        let secret = c["signing_secret"].as_str().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(c["now"].as_u64().unwrap());
        let body = c["body"].as_str().unwrap().as_bytes();
        let result = verify(
            secret,
            c["timestamp"].as_str(),
            body,
            c["signature"].as_str(),
            now,
        );
        let expected = c["expected_valid"].as_bool().unwrap();
        assert_eq!(result.is_ok(), expected, "{id}: {result:?}");
        let want = match id {
            "slack-doc-example" => None,
            "slack-doc-example-body-modified" => Some(SignatureError::Mismatch),
            "slack-doc-example-stale" => Some(SignatureError::Stale),
            "slack-missing-headers" => Some(SignatureError::Missing),
            other => panic!("unexpected vector {other}"),
        };
        assert_eq!(result.err(), want, "{id}");
        if let Some(base) = c["base_string"].as_str() {
            let ts = c["timestamp"].as_str().unwrap();
            assert_eq!(base, format!("v0:{ts}:{}", c["body"].as_str().unwrap()));
            assert_eq!(sign(secret, ts, body), c["signature"].as_str().unwrap());
        }
    }
}

#[test]
fn the_adapter_applies_the_vectors() {
    for c in cases() {
        let id = c["id"].as_str().unwrap();
        let secret = c["signing_secret"].as_str().unwrap();
        let t = ChannelTable::from_toml_str(
            "cmds",
            &format!("provider = 'slack'\nbot_token = 'xoxb-1'\nsigning_secret = '{secret}'"),
        )
        .unwrap();
        let a = SlackAdapter::from_table(t).unwrap();
        let mut req = WebhookRequest::post(
            "https://x.test/webhooks/cmds",
            c["body"].as_str().unwrap().to_owned(),
        )
        .with_header("Content-Type", "application/x-www-form-urlencoded")
        .received_at(UNIX_EPOCH + Duration::from_secs(c["now"].as_u64().unwrap()));
        if let (Some(ts), Some(sig)) = (c["timestamp"].as_str(), c["signature"].as_str()) {
            req = req
                .with_header("X-Slack-Request-Timestamp", ts)
                .with_header("X-Slack-Signature", sig);
        }
        let out = a.handle_webhook(&req);
        let reason = out.rejection().map(|r| r.reason);
        let want = match id {
            "slack-doc-example" => None,
            "slack-doc-example-body-modified" => Some(RejectReason::BadSignature),
            "slack-doc-example-stale" => Some(RejectReason::StaleTimestamp),
            _ => Some(RejectReason::MissingSignature),
        };
        assert_eq!(reason, want, "{id}");
        if want.is_none() {
            let events = out.accepted_events().unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(
                events[0].id.as_str(),
                "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
            );
            assert_eq!(events[0].sender.id.as_str(), "U2CERLKJA");
        } else {
            assert_eq!(out.response().status, 401, "{id}");
        }
    }
}
