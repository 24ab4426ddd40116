use serde_json::Value;

use super::*;
use crate::date::{format_rfc2822, parse_rfc2822};

#[test]
fn both_error_formats_parse() {
    let legacy = ApiErrorBody::parse(
        br#"{"code":20001,"message":"Bad request","more_info":"https://www.twilio.com/docs/errors/20001","status":400}"#,
    )
    .unwrap();
    assert_eq!(legacy.code, Some(20001));
    assert_eq!(legacy.status, Some(400));
    assert_eq!(legacy.message, "Bad request");
    let problem = ApiErrorBody::parse(
        br#"{"type":"https://www.twilio.com/docs/api/errors/20001","title":"Validation Error","status":422,"code":20001,"detail":"Request validation failed"}"#,
    )
    .unwrap();
    assert_eq!(
        problem.message,
        "Validation Error: Request validation failed"
    );
    assert_eq!(problem.status, Some(422));
    assert_eq!(
        problem.more_info.as_deref(),
        Some("https://www.twilio.com/docs/api/errors/20001")
    );
    assert_eq!(ApiErrorBody::parse(b"Invalid JSON {{{"), None);
    assert_eq!(ApiErrorBody::parse(b"{}"), None);
}

#[test]
fn form_repeats_media_and_keeps_order() {
    let m = CreateMessage {
        to: "+15550002222".into(),
        from: Some("+15550001111".into()),
        body: Some("hi".into()),
        media_urls: vec!["https://a.test/1.png".into(), "https://a.test/2.png".into()],
        status_callback: Some("https://cb.test/s".into()),
        ..Default::default()
    };
    let names: Vec<&str> = m.form().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "To",
            "From",
            "Body",
            "MediaUrl",
            "MediaUrl",
            "StatusCallback"
        ]
    );
}

// Every Message resource example of the OpenAPI spec parses into `MessageResource`, with its
// dates and segment counts readable.
#[test]
fn every_message_resource_example_parses() {
    let v: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/api_message_responses.json"
    ))
    .unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 17);
    let mut parsed = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let body = &case["body"];
        let resources: Vec<Value> = match body.get("messages") {
            Some(list) => list.as_array().unwrap().clone(),
            None => vec![body.clone()],
        };
        for raw in resources {
            let m: MessageResource =
                serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(m.sid.starts_with("SM") || m.sid.starts_with("MM"), "{id}");
            assert!(m.account_sid.starts_with("AC"), "{id}");
            assert_eq!(m.status, raw["status"].as_str().unwrap(), "{id}");
            assert_eq!(
                m.segments().map(u64::from),
                raw["num_segments"].as_str().and_then(|s| s.parse().ok()),
                "{id}"
            );
            if let Some(d) = raw["date_created"].as_str() {
                let t = parse_rfc2822(d).unwrap_or_else(|| panic!("{id}: {d}"));
                assert_eq!(format_rfc2822(t), d, "{id}");
            }
            // Serializing back keeps every field the spec example has.
            let back = serde_json::to_value(&m).unwrap();
            for (k, v) in raw.as_object().unwrap() {
                assert_eq!(&back[k], v, "{id}: {k}");
            }
            parsed += 1;
        }
    }
    // 12 resources: 10 single examples and the 2 messages of readFullPage1 (6 list pages are empty).
    assert_eq!(parsed, 12);
}

#[test]
fn every_list_example_of_the_spec_parses_as_a_page() {
    let fixtures: Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/api_message_responses.json"
    ))
    .unwrap();
    let mut pages = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        if case["id"]
            .as_str()
            .unwrap()
            .starts_with("get-Messages.json")
        {
            let p: MessagePage = serde_json::from_value(case["body"].clone()).unwrap();
            assert_eq!(p.page, 0);
            pages += 1;
        }
    }
    assert!(pages > 0);
}
