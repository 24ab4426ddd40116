//! The emulator's `metadata`, `conversations.history` and `conversations.replies`, and the
//! lost-answer fault, over HTTP.

use serde_json::{Value, json};

use super::*;

const TOKEN: &str = "xoxb-emulator-token";

async fn call(em: &Emulator, method: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/{method}", em.base_url()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn form(em: &Emulator, method: &str, args: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .post(format!("{}/{method}", em.base_url()))
        .bearer_auth(TOKEN)
        .form(args)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn meta(id: &str) -> Value {
    json!({"event_type": "task_created", "event_payload": {"id": id}})
}

#[tokio::test]
async fn metadata_is_checked_and_returned_in_full_only_when_asked() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let post = |m: Value| json!({"channel": "C0GENERAL", "text": "t", "metadata": m});
    let r = call(&em, "chat.postMessage", post(json!("{not json"))).await;
    assert_eq!(r["error"], "invalid_metadata_format");
    let r = call(&em, "chat.postMessage", post(json!({"event_type": "x"}))).await;
    assert_eq!(r["error"], "invalid_metadata_schema");
    // Form-encoded, metadata is a JSON string.
    let r = form(
        &em,
        "chat.postMessage",
        &[
            ("channel", "C0GENERAL"),
            ("text", "t"),
            ("metadata", &meta("TK-1").to_string()),
        ],
    )
    .await;
    assert_eq!(r["ok"], true);
    assert_eq!(em.messages()[0].metadata, Some(meta("TK-1")));

    let full = form(
        &em,
        "conversations.history",
        &[("channel", "C0GENERAL"), ("include_all_metadata", "true")],
    )
    .await;
    assert_eq!(full["messages"][0]["metadata"], meta("TK-1"));
    assert_eq!(full["messages"][0]["bot_id"], "B0EMUBOT");
    let bare = form(&em, "conversations.history", &[("channel", "C0GENERAL")]).await;
    assert_eq!(
        bare["messages"][0]["metadata"],
        json!({"event_type": "task_created"})
    );
}

#[tokio::test]
async fn history_is_newest_first_in_its_window_and_paged() {
    let em = Emulator::start(EmulatorOptions {
        rate_limit: None,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let mut ts = Vec::new();
    for i in 0..5 {
        let r = call(
            &em,
            "chat.postMessage",
            json!({"channel": "C0GENERAL", "text": format!("m{i}")}),
        )
        .await;
        ts.push(r["ts"].as_str().unwrap().to_owned());
    }
    // A reply stays out of the history; a broadcast reply is in it.
    call(
        &em,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "reply", "thread_ts": ts[0]}),
    )
    .await;
    call(
        &em,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "loud",
        "thread_ts": ts[0], "reply_broadcast": true}),
    )
    .await;
    let texts = |v: &Value| -> Vec<String> {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = form(
        &em,
        "conversations.history",
        &[("channel", "C0GENERAL"), ("oldest", &ts[1]), ("limit", "2")],
    )
    .await;
    assert_eq!(texts(&r), ["loud", "m4"]);
    assert_eq!(r["has_more"], true);
    let cursor = r["response_metadata"]["next_cursor"].as_str().unwrap();
    let r = form(
        &em,
        "conversations.history",
        &[
            ("channel", "C0GENERAL"),
            ("oldest", &ts[1]),
            ("limit", "2"),
            ("cursor", cursor),
        ],
    )
    .await;
    assert_eq!(texts(&r), ["m3", "m2"], "oldest is exclusive by default");
    assert_eq!(r["has_more"], false);
    let r = form(
        &em,
        "conversations.history",
        &[
            ("channel", "C0GENERAL"),
            ("oldest", &ts[4]),
            ("inclusive", "true"),
        ],
    )
    .await;
    assert_eq!(texts(&r), ["loud", "m4"]);
    let parent = form(
        &em,
        "conversations.history",
        &[("channel", "C0GENERAL"), ("latest", &ts[1])],
    )
    .await;
    assert_eq!(texts(&parent), ["m0"]);
    assert_eq!(parent["messages"][0]["reply_count"], 2);

    let bad = form(
        &em,
        "conversations.history",
        &[("channel", "C0GENERAL"), ("oldest", "soon")],
    )
    .await;
    assert_eq!(bad["error"], "invalid_ts_oldest");
    let bad = form(&em, "conversations.history", &[("channel", "C0NOPE")]).await;
    assert_eq!(bad["error"], "channel_not_found");

    let r = form(
        &em,
        "conversations.replies",
        &[("channel", "C0GENERAL"), ("ts", &ts[0])],
    )
    .await;
    assert_eq!(texts(&r), ["m0", "reply", "loud"]);
    let r = form(
        &em,
        "conversations.replies",
        &[("channel", "C0GENERAL"), ("ts", "1.000001")],
    )
    .await;
    assert_eq!(r["error"], "thread_not_found");
}

#[tokio::test]
async fn a_lost_answer_keeps_the_effect_and_drops_the_connection() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    em.stage(Fault::LostAnswer);
    let sent = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", em.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({"channel": "C0GENERAL", "text": "kept"}))
        .send()
        .await;
    assert!(sent.is_err(), "no answer: {sent:?}");
    assert_eq!(em.messages()[0].text, "kept");
    let call = &em.calls()[0];
    assert_eq!((call.status, call.response.is_none()), (0, true));
    // The next call is answered normally.
    let r = call_ok(&em).await;
    assert_eq!(r["ok"], true);
}

async fn call_ok(em: &Emulator) -> Value {
    call(em, "auth.test", json!({})).await
}

#[tokio::test]
async fn latency_splits_around_the_effect() {
    use std::time::{Duration, Instant};
    let em = Emulator::start(EmulatorOptions {
        latency: Duration::from_secs(2),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let started = Instant::now();
    let url = format!("{}/chat.postMessage", em.base_url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .json(&json!({"channel": "C0GENERAL", "text": "slow"}))
            .send()
            .await
    });
    while em.messages().is_empty() && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(em.messages().len(), 1, "posted half-way");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        !pending.is_finished(),
        "the answer comes after the second half"
    );
    assert!(pending.await.unwrap().is_ok());
    assert!(started.elapsed() >= Duration::from_secs(2));
}
