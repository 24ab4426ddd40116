//! Every segment vector of Twilio's official segment calculator, against core's SMS counter.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::Value;
use switchboard_core::render::sms::{self, SmsEncoding};

fn cases() -> Vec<Value> {
    let v: Value = serde_json::from_str(include_str!("fixtures/sms_segment_vectors.json")).unwrap();
    v["cases"].as_array().unwrap().clone()
}

#[test]
fn every_segment_vector_matches_core_counter() {
    let all = cases();
    assert_eq!(all.len(), 40);
    let mut checked = 0;
    for case in &all {
        let id = case["id"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        let info = sms::analyze(body);
        if let Some(segments) = case.get("segments").and_then(Value::as_u64) {
            assert_eq!(u64::from(info.segments), segments, "{id}");
            checked += 1;
        }
        match case.get("encoding").and_then(Value::as_str) {
            Some("GSM-7") => assert_eq!(info.encoding, SmsEncoding::Gsm7, "{id}"),
            Some("UCS-2") => assert_eq!(info.encoding, SmsEncoding::Ucs2, "{id}"),
            Some(other) => panic!("{id}: unknown encoding {other}"),
            None => {}
        }
        if let Some(bits) = case.get("message_size_bits").and_then(Value::as_u64) {
            let unit_bits = match info.encoding {
                SmsEncoding::Gsm7 => 7,
                SmsEncoding::Ucs2 => 16,
            };
            assert_eq!((info.units * unit_bits) as u64, bits, "{id}");
        }
        if let Some(total) = case.get("total_size_bits").and_then(Value::as_u64) {
            let unit_bits: u64 = match info.encoding {
                SmsEncoding::Gsm7 => 7,
                SmsEncoding::Ucs2 => 16,
            };
            let udh = if info.segments > 1 {
                48 * u64::from(info.segments)
            } else {
                0
            };
            assert_eq!(info.units as u64 * unit_bits + udh, total, "{id}");
        }
        if let Some(scalars) = case.get("unicode_scalars").and_then(Value::as_u64) {
            assert_eq!(body.chars().count() as u64, scalars, "{id}");
        }
    }
    assert_eq!(checked, 38);
}
