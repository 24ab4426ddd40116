//! Every signature vector and handshake case of the fixtures, through the public API.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use serde_json::Value;
use switchboard_core::{Adapter, ChannelName, RejectReason, Secret, WebhookRequest};
use switchboard_messenger::{MessengerAdapter, MessengerConfig, signature};

fn cases(file: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(file).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn adapter(app_secret: &str, verify_token: &str) -> MessengerAdapter {
    let config = MessengerConfig::builder(
        ChannelName::new("fb").unwrap(),
        "1895382890692545",
        Secret::new("page-token"),
        Secret::new(app_secret),
        Secret::new(verify_token),
    )
    .api_base_url("http://127.0.0.1:9")
    .build()
    .unwrap();
    MessengerAdapter::new(config).unwrap()
}

#[test]
fn every_signature_vector_verifies_and_signs() {
    let all = cases(include_str!("fixtures/signature_vectors.json"));
    assert_eq!(all.len(), 3);
    for c in all {
        let id = c["id"].as_str().unwrap();
        assert_eq!(c["header"], "X-Hub-Signature-256", "{id}");
        let secret = c["secret"].as_str().unwrap();
        let body = c["raw_body"].as_str().unwrap().as_bytes();
        let sig = c["signature"].as_str().unwrap();
        assert!(c["expected_valid"].as_bool().unwrap());
        assert_eq!(signature::verify(secret, body, Some(sig)), Ok(()), "{id}");
        assert_eq!(signature::sign(secret, body), sig, "{id}");
        // One flipped byte of the body, or another secret, fails.
        let mut tampered = body.to_vec();
        tampered[0] ^= 1;
        assert_eq!(
            signature::verify(secret, &tampered, Some(sig)),
            Err(RejectReason::BadSignature),
            "{id}"
        );
        assert_eq!(
            signature::verify("wrong", body, Some(sig)),
            Err(RejectReason::BadSignature),
            "{id}"
        );
    }
}

#[test]
fn the_signature_is_over_the_escaped_bytes_as_sent() {
    let c = cases(include_str!("fixtures/signature_vectors.json"))
        .into_iter()
        .find(|c| c["id"] == "derived-256-escaped-unicode")
        .unwrap();
    let raw = c["raw_body"].as_str().unwrap();
    let sig = c["signature"].as_str().unwrap();
    assert!(raw.contains("\\u00e4\\u00f6\\u00e5"));
    let a = adapter("test_app_secret", "v");
    let req = |body: String| {
        WebhookRequest::post("https://bot.example/webhooks/fb", body)
            .with_header("X-Hub-Signature-256", sig)
    };
    // The vector's entry is for Page "PAGE_ID", not this channel's: the signature verifies,
    // then the entry is refused as another tenant's (issue 15, item 11).
    let out = a.handle_webhook(&req(raw.to_owned()));
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(switchboard_core::RejectReason::ForeignTenant)
    );
    // Re-serialising the parsed body writes "äöå" as UTF-8: different bytes, so it must fail.
    let reserialised = serde_json::to_string(&serde_json::from_str::<Value>(raw).unwrap()).unwrap();
    assert!(reserialised.contains("äöå"));
    let out = a.handle_webhook(&req(reserialised));
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );
    assert_eq!(out.response().status, http::StatusCode::UNAUTHORIZED);
}

#[test]
fn missing_and_wrong_signatures_are_401() {
    let c = cases(include_str!("fixtures/signature_vectors.json"))
        .into_iter()
        .find(|c| c["id"] == "derived-256-page-message")
        .unwrap();
    let body = c["raw_body"].as_str().unwrap().to_owned();
    let a = adapter("APP_SECRET", "v");
    let url = "https://bot.example/webhooks/fb";
    let ok = a.handle_webhook(
        &WebhookRequest::post(url, body.clone())
            .with_header("X-Hub-Signature-256", c["signature"].as_str().unwrap()),
    );
    let events = ok.accepted_events().unwrap();
    assert_eq!(events[0].id.as_str(), "mid.1486464322190:cb04e5a654");
    assert_eq!(events[0].text(), Some("text"));

    let missing = a.handle_webhook(&WebhookRequest::post(url, body.clone()));
    assert_eq!(
        missing.rejection().map(|r| r.reason),
        Some(RejectReason::MissingSignature)
    );
    assert_eq!(missing.response().status, http::StatusCode::UNAUTHORIZED);
    // The legacy SHA-1 header alone is not accepted.
    let legacy = a.handle_webhook(
        &WebhookRequest::post(url, body.clone()).with_header("X-Hub-Signature", "sha1=00"),
    );
    assert_eq!(
        legacy.rejection().map(|r| r.reason),
        Some(RejectReason::MissingSignature)
    );
    let wrong = a.handle_webhook(
        &WebhookRequest::post(url, body)
            .with_header("X-Hub-Signature-256", &signature::sign("other", b"x")),
    );
    assert_eq!(
        wrong.rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );
}

#[test]
fn every_handshake_case() {
    let all = cases(include_str!("fixtures/verification_handshake.json"));
    assert_eq!(all.len(), 3);
    for c in all {
        let id = c["id"].as_str().unwrap();
        let query = &c["request"]["query"];
        let configured = c["configured_verify_token"]
            .as_str()
            .or(query["hub.verify_token"].as_str())
            .unwrap();
        let a = adapter("secret", configured);
        let mut url = url::Url::parse("https://bot.example/webhooks/fb").unwrap();
        for k in ["hub.mode", "hub.verify_token", "hub.challenge"] {
            url.query_pairs_mut()
                .append_pair(k, query[k].as_str().unwrap());
        }
        let out = a.handle_webhook(&WebhookRequest::get(url.as_str()));
        let resp = out.response();
        let status = c["expected_response"]["status"].as_u64().unwrap();
        assert_eq!(u64::from(resp.status.as_u16()), status, "{id}");
        if status == 200 {
            // The challenge comes back verbatim, and no events.
            assert_eq!(
                resp.body,
                query["hub.challenge"].as_str().unwrap().as_bytes(),
                "{id}"
            );
            assert_eq!(out.accepted_events().map(<[_]>::len), Some(0));
        } else {
            assert_eq!(
                out.rejection().map(|r| r.reason),
                Some(RejectReason::Forbidden),
                "{id}"
            );
            // The fixture's body is "Forbidden"; ours is the reason and a short detail.
            assert!(
                String::from_utf8_lossy(&resp.body).starts_with("forbidden"),
                "{id}"
            );
        }
    }
}

#[test]
fn handshake_needs_subscribe_mode() {
    let a = adapter("secret", "tok");
    for url in [
        "https://b.example/w?hub.mode=unsubscribe&hub.verify_token=tok&hub.challenge=1",
        "https://b.example/w?hub.verify_token=tok&hub.challenge=1",
        "https://b.example/w?hub.mode=subscribe&hub.challenge=1",
        "https://b.example/w",
    ] {
        let out = a.handle_webhook(&WebhookRequest::get(url));
        assert_eq!(out.response().status, http::StatusCode::FORBIDDEN, "{url}");
    }
}

#[test]
fn appsecret_proof_is_hmac_of_the_token() {
    // GitHub's documented HMAC-SHA256 vector, as key = app secret, message = token.
    assert_eq!(
        signature::appsecret_proof("It's a Secret to Everybody", "Hello, World!"),
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}
