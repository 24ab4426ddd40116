//! Every official `X-Twilio-Signature` vector in the fixtures, through the public functions of
//! `switchboard_twilio::signature`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::Value;
use switchboard_twilio::signature::{self, SignedContent};

fn vectors() -> Value {
    serde_json::from_str(include_str!("fixtures/request_validator_vectors.json")).unwrap()
}

fn params(case: &Value) -> Vec<(String, String)> {
    case["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let name = pair[0].as_str().unwrap().to_owned();
            // The Java vector's null values are empty strings on the wire.
            let value = pair[1].as_str().unwrap_or("").to_owned();
            (name, value)
        })
        .collect()
}

#[test]
fn every_fixed_vector_gives_the_expected_result() {
    let v = vectors();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 29);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let token = case["auth_token"].as_str().unwrap();
        let url = case["url"].as_str().unwrap();
        let sig = case["signature"].as_str().unwrap();
        let expected = case["expected_valid"].as_bool().unwrap();
        let p = params(case);
        let body = case["body"].as_str().map(str::as_bytes);
        let content = match case["content_type"].as_str().unwrap() {
            "application/json" => SignedContent::Json(body.unwrap()),
            _ => SignedContent::Form(&p),
        };
        assert_eq!(
            signature::validate(token, url, content, sig),
            expected,
            "case {id}"
        );
        // Where the fixture names the exact string signed, signing it reproduces the value.
        if let Some(data) = case.get("derived_string_to_sign").and_then(Value::as_str) {
            assert_eq!(signature::sign_data(token, data), sig, "case {id}");
            let signed_url = case["derived_signed_url"].as_str().unwrap();
            assert_eq!(signature::string_to_sign(signed_url, &p), data, "case {id}");
        }
        if let Some(signed_url) = case.get("derived_signed_url").and_then(Value::as_str) {
            if matches!(content, SignedContent::Form(_)) {
                assert_eq!(signature::sign(token, signed_url, &p), sig, "case {id}");
            } else {
                assert_eq!(signature::sign(token, signed_url, &[]), sig, "case {id}");
            }
        }
    }
}

#[test]
fn every_relational_vector_gives_the_expected_result() {
    let v = vectors();
    let rel = &v["relational_cases"];
    let token = rel["auth_token"].as_str().unwrap();
    let cases = rel["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 9);
    for (i, case) in cases.iter().enumerate() {
        let server = case["server_url"].as_str().unwrap();
        let target = case["target_url"].as_str().unwrap();
        let sig = signature::sign(token, server, &[]);
        assert_eq!(sig, case["derived_signature"].as_str().unwrap(), "case {i}");
        let valid = signature::validate(token, target, SignedContent::UrlOnly, &sig);
        assert_eq!(
            valid,
            case["expected_valid"].as_bool().unwrap(),
            "case {i}: {target}"
        );
    }
}

#[test]
fn tampering_with_any_part_fails() {
    let url = "https://bot.example.com/webhooks/sms";
    let p = vec![
        ("Body".to_owned(), "hello".to_owned()),
        ("From".to_owned(), "+15550002222".to_owned()),
    ];
    let sig = signature::sign("tok", url, &p);
    assert!(signature::validate(
        "tok",
        url,
        SignedContent::Form(&p),
        &sig
    ));
    let mut changed = p.clone();
    changed[0].1 = "hellO".to_owned();
    assert!(!signature::validate(
        "tok",
        url,
        SignedContent::Form(&changed),
        &sig
    ));
    let mut extra = p.clone();
    extra.push(("Injected".to_owned(), String::new()));
    assert!(!signature::validate(
        "tok",
        url,
        SignedContent::Form(&extra),
        &sig
    ));
    assert!(!signature::validate(
        "tok",
        "https://bot.example.com/webhooks/other",
        SignedContent::Form(&p),
        &sig
    ));
    assert!(!signature::validate(
        "tok",
        url,
        SignedContent::Form(&p),
        ""
    ));
}
