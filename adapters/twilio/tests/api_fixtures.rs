//! Every Message resource example of the OpenAPI spec parses into `MessageResource`, with its
//! dates and segment counts readable.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::Value;
use switchboard_twilio::MessageResource;
use switchboard_twilio::date::{format_rfc2822, parse_rfc2822};

#[test]
fn every_message_resource_example_parses() {
    let v: Value =
        serde_json::from_str(include_str!("fixtures/api_message_responses.json")).unwrap();
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
