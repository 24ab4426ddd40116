//! `POST /v1/messages` with `Idempotency-Key` across SIGKILL: applications send through
//! `switchboard serve` (SQLite, a Twilio channel on the emulator) while it is killed at random
//! moments, at least four times; each client posts until it gets a 202 (a request the kill cut
//! off is posted again with the same key and body), and after the kills posts every key once
//! more. Every message is created once at the emulator, every repeat answers the first id, a
//! repeat with another body is a 409, and `GET /v1/messages/{id}` reports it sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::world::{API_KEY, Serve, client, engine_and_sms};
use switchboard::twilio::emulator::{Emulator as Twilio, EmulatorOptions};

const SENDS: usize = 24;
const CLIENTS: usize = 3;

fn body(i: usize, text: &str) -> serde_json::Value {
    serde_json::json!({
        "channel": "sms",
        "conversation": format!("+155502000{}", i % 4),
        "message": {"text": text},
    })
}

/// Posts until a 202 (or another definite answer); the status and JSON answer.
async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{key}: no answer"
        );
        let url = format!("{base}/v1/messages");
        let sent = client
            .post(url)
            .bearer_auth(API_KEY)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await;
        if let Ok(r) = sent {
            let status = r.status().as_u16();
            if let Ok(json) = r.json::<serde_json::Value>().await
                && status < 500
            {
                return (status, json);
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_sends_survive_sigkill() {
    let twilio = Twilio::start(EmulatorOptions::default()).await.unwrap();
    let config = format!(
        "{}\n[gateway]\napi_keys = [\"{API_KEY}\"]\n",
        engine_and_sms(&twilio)
    );
    let mut serve = Serve::new("idempotent", &config);
    let client = client();
    serve.spawn();
    serve.ready(&client).await;
    let base: Arc<str> = serve.base().into();

    let mut tasks = Vec::new();
    for k in 0..CLIENTS {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (k..SENDS).step_by(CLIENTS) {
                let key = format!("order-{i}");
                let (status, json) =
                    post(&client, &base, &key, &body(i, &format!("api {i}"))).await;
                assert_eq!(status, 202, "{key}: {json}");
                ids.push((i, json["id"].as_str().unwrap().to_owned()));
                tokio::time::sleep(Duration::from_millis(fastrand::u64(20..150))).await;
            }
            ids
        }));
    }
    let all = tokio::spawn(async move {
        let mut ids = HashMap::new();
        for t in tasks {
            ids.extend(t.await.unwrap());
        }
        ids
    });
    while serve.kills < 4 || !all.is_finished() {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(200..700))).await;
        serve.kill();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(50..300))).await;
        serve.spawn();
        serve.ready(&client).await;
    }
    let ids = all.await.unwrap();
    assert_eq!(ids.len(), SENDS);

    // The same key and body after the kills: the same message; another body: a conflict.
    for (i, id) in &ids {
        let key = format!("order-{i}");
        let (status, json) = post(&client, &base, &key, &body(*i, &format!("api {i}"))).await;
        assert_eq!(
            (status, json["id"].as_str()),
            (202, Some(id.as_str())),
            "{json}"
        );
    }
    let (status, json) = post(&client, &base, "order-0", &body(0, "another text")).await;
    assert_eq!(status, 409, "{json}");

    let count = |twilio: &Twilio| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for m in twilio.messages() {
            if let Some(b) = m.body.filter(|b| b.starts_with("api ")) {
                *counts.entry(b).or_insert(0) += 1;
            }
        }
        counts
    };
    let start = Instant::now();
    while count(&twilio).len() < SENDS && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counts = count(&twilio);
    eprintln!(
        "gateway idempotent sends crash test: {} kills, {SENDS} sends, {} messages created",
        serve.kills,
        counts.values().sum::<usize>()
    );
    for i in 0..SENDS {
        assert_eq!(counts.get(&format!("api {i}")), Some(&1), "{counts:?}");
    }
    for id in ids.values() {
        let r = client
            .get(format!("{}/v1/messages/{id}", serve.base()))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let json: serde_json::Value = r.json().await.unwrap();
        assert!(
            ["sent", "delivered"].contains(&json["status"].as_str().unwrap_or_default()),
            "{json}"
        );
    }
    serve.kill();
}
