//! The emulator's Messages list, over raw HTTP, against the OpenAPI spec: filters, date
//! semantics, order, paging with stable page tokens, the page's shape, and its errors.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use common::*;
use serde_json::Value;
use switchboard_core::{Adapter, OutboundMessage};
use switchboard_twilio::TwilioAdapter;
use switchboard_twilio::emulator::{Emulator, EmulatorOptions};

async fn get(emu: &Emulator, path_and_query: &str) -> (u16, Value) {
    let c = emu.options();
    let r = reqwest::Client::new()
        .get(format!("{}{path_and_query}", emu.base_url()))
        .basic_auth(&c.account_sid, Some(&c.auth_token))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn list_path(emu: &Emulator) -> String {
    format!(
        "/2010-04-01/Accounts/{}/Messages.json",
        emu.options().account_sid
    )
}

fn bodies(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_dates_order_and_stable_pages() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    for i in 0..5 {
        sms.send(
            &to("sms", SMS_USER),
            &OutboundMessage::text(format!("m{i}")).unwrap(),
        )
        .await
        .unwrap();
    }
    sms.send(
        &to("sms", "+15558675311"),
        &OutboundMessage::text("other").unwrap(),
    )
    .await
    .unwrap();
    let path = list_path(&emu);
    let today = gmt_date(SystemTime::now());
    let day = Duration::from_secs(86_400);
    let tomorrow = gmt_date(SystemTime::now() + day);
    let yesterday = gmt_date(SystemTime::now() - day);

    // Newest first; To narrows; DateSent is on / on and before / on and after a GMT date.
    let (status, all) = get(&emu, &format!("{path}?To=%2B15558675310")).await;
    assert_eq!(status, 200);
    assert_eq!(bodies(&all), ["m4", "m3", "m2", "m1", "m0"]);
    for (query, n) in [
        (format!("DateSent={today}"), 6),
        (format!("DateSent%3E={today}"), 6),
        (format!("DateSent%3E={tomorrow}"), 0),
        (format!("DateSent%3C={yesterday}"), 0),
        (format!("DateSent%3C={today}"), 6),
        ("From=%2B15005550006".to_owned(), 6),
        ("From=%2B15005550007".to_owned(), 0),
    ] {
        let (_, page) = get(&emu, &format!("{path}?{query}")).await;
        assert_eq!(page["messages"].as_array().unwrap().len(), n, "{query}");
    }

    // Pages of 2 by next_page_uri; a message sent meanwhile does not shift them.
    let (_, first) = get(&emu, &format!("{path}?To=%2B15558675310&PageSize=2")).await;
    assert_eq!(bodies(&first), ["m4", "m3"]);
    assert_eq!(
        (first["start"].as_u64(), first["end"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(first["previous_page_uri"].is_null());
    sms.send(
        &to("sms", SMS_USER),
        &OutboundMessage::text("late").unwrap(),
    )
    .await
    .unwrap();
    let mut seen = bodies(&first);
    let mut next = first["next_page_uri"].as_str().map(str::to_owned);
    let mut last = first;
    while let Some(uri) = next {
        assert!(
            uri.starts_with(&path) && uri.contains("PageToken=PA"),
            "{uri}"
        );
        let (status, page) = get(&emu, &uri).await;
        assert_eq!(status, 200);
        seen.extend(bodies(&page));
        next = page["next_page_uri"].as_str().map(str::to_owned);
        last = page;
    }
    assert_eq!(seen, ["m4", "m3", "m2", "m1", "m0"]);
    assert_eq!(last["page"], 2);
    // And back.
    let (_, previous) = get(&emu, last["previous_page_uri"].as_str().unwrap()).await;
    assert_eq!(bodies(&previous), ["m2", "m1"]);
}

#[tokio::test]
async fn a_page_has_the_shape_of_the_spec_examples() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    sms.send(&to("sms", SMS_USER), &OutboundMessage::text("hi").unwrap())
        .await
        .unwrap();
    let fixtures: Value =
        serde_json::from_str(include_str!("fixtures/api_message_responses.json")).unwrap();
    let example = fixtures["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "get-Messages.json-readFullPage1")
        .unwrap()["body"]
        .clone();
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let (_, page) = get(&emu, &list_path(&emu)).await;
    assert_eq!(keys(&page), keys(&example));
    let ours = &page["messages"][0];
    let theirs = &example["messages"][0];
    for k in keys(theirs) {
        if k != "subresource_uris" {
            assert!(ours.get(&k).is_some(), "message field {k} missing");
        }
    }
    // A created (not scheduled) message has date_sent at once, as in the 201 examples.
    assert!(ours["date_sent"].is_string());
    assert_eq!(page["page_size"], 50);
}

#[tokio::test]
async fn bad_parameters_and_credentials_are_refused() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let path = list_path(&emu);
    for query in [
        "DateSent%3E=2019-06-11+22%3A05%3A25.000",
        "PageSize=0",
        "PageSize=1001",
        "PageToken=PAnope",
    ] {
        let (status, body) = get(&emu, &format!("{path}?{query}")).await;
        assert_eq!(
            (status, body["code"].as_u64()),
            (400, Some(20001)),
            "{query}"
        );
    }
    let r = reqwest::Client::new()
        .get(format!("{}{path}", emu.base_url()))
        .basic_auth(&emu.options().account_sid, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}
