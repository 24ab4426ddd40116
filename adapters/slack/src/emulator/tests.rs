mod history;

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

async fn post(
    em: &Emulator,
    method: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/{method}", em.base_url()))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, after, body)
}

#[tokio::test]
async fn tokens_are_checked_and_calls_logged() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let msg = json!({"channel": "C0GENERAL", "text": "hi"});
    assert_eq!(
        post(&em, "chat.postMessage", None, msg.clone()).await.2["error"],
        "not_authed"
    );
    assert_eq!(
        post(&em, "chat.postMessage", Some("xoxb-wrong"), msg.clone())
            .await
            .2["error"],
        "invalid_auth"
    );
    let (status, _, body) = post(&em, "chat.postMessage", Some("xoxb-emulator-token"), msg).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    let calls = em.calls();
    assert_eq!(calls.len(), 3);
    assert!(!calls[0].authorized && calls[2].authorized);
    assert_eq!(calls[2].args["text"], "hi");
    let bad = post(
        &em,
        "chat.postMessage",
        Some("xoxb-emulator-token"),
        json!({"channel": "C0GENERAL", "txt": "x"}),
    )
    .await;
    assert_eq!(bad.2["error"], "invalid_arg_name");
}

#[tokio::test]
async fn per_channel_rate_limit_answers_429() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let t = Some("xoxb-emulator-token");
    let msg = json!({"channel": "C0GENERAL", "text": "hi"});
    for _ in 0..3 {
        assert_eq!(post(&em, "chat.postMessage", t, msg.clone()).await.0, 200);
    }
    let (status, after, body) = post(&em, "chat.postMessage", t, msg).await;
    assert_eq!((status, after.as_deref()), (429, Some("1")));
    assert_eq!(body, json!({"ok": false, "error": "ratelimited"}));
    let other = post(
        &em,
        "chat.postMessage",
        t,
        json!({"channel": "C0RANDOM", "text": "hi"}),
    )
    .await;
    assert_eq!(other.0, 200);
}

#[tokio::test]
async fn faults_apply_to_the_next_calls_in_order() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let t = Some("xoxb-emulator-token");
    em.stage(Fault::Status(503));
    em.stage(Fault::SlackError("fatal_error".into()));
    em.stage(Fault::Drop);
    em.stage(Fault::Delay(Duration::from_millis(50)));
    let msg = json!({"channel": "C0GENERAL", "text": "hi"});
    assert_eq!(post(&em, "auth.test", t, json!({})).await.0, 503);
    assert_eq!(
        post(&em, "auth.test", t, json!({})).await.2["error"],
        "fatal_error"
    );
    let dropped = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", em.base_url()))
        .bearer_auth("xoxb-emulator-token")
        .json(&msg)
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");
    let started = std::time::Instant::now();
    let (_, _, me) = post(&em, "auth.test", t, json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        (me["user_id"].as_str(), me["bot_id"].as_str()),
        (Some("U0EMUBOT"), Some("B0EMUBOT"))
    );
    assert_eq!(em.calls().len(), 4);
}

#[tokio::test]
async fn delivery_retries_like_slack() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(
        Option<String>,
        Option<String>,
        bool,
    )>::new()));
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let (s2, h2) = (seen.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (seen, hits) = (s2.clone(), h2.clone());
                async move {
                    let get = |n: &str| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
                    let ok = crate::signature::verify(
                        "emulator-signing-secret",
                        get("x-slack-request-timestamp").as_deref(),
                        &body,
                        get("x-slack-signature").as_deref(),
                        std::time::SystemTime::now(),
                    )
                    .is_ok();
                    seen.lock().unwrap().push((
                        get("x-slack-retry-num"),
                        get("x-slack-retry-reason"),
                        ok,
                    ));
                    match hits.fetch_add(1, Ordering::SeqCst) {
                        0 => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        1 => {
                            tokio::time::sleep(Duration::from_millis(400)).await;
                            axum::http::StatusCode::OK
                        }
                        _ => axum::http::StatusCode::OK,
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let em = Emulator::start(EmulatorOptions {
        delivery_timeout: Duration::from_millis(200),
        retry_delays: vec![
            Duration::ZERO,
            Duration::from_millis(10),
            Duration::from_millis(10),
        ],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let body = em.user_message("C0GENERAL", "U0ALICE", "hello");
    let d = em.deliver(&format!("http://{addr}/hook"), &body).await;
    assert!(d.delivered());
    let statuses: Vec<_> = d
        .attempts
        .iter()
        .map(|a| (a.retry_num, a.status, a.reason))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (0, Some(500), None),
            (1, None, Some("http_error")),
            (2, Some(200), Some("http_timeout"))
        ]
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], (None, None, true));
    assert_eq!(seen[1], (Some("1".into()), Some("http_error".into()), true));
    assert_eq!(
        seen[2],
        (Some("2".into()), Some("http_timeout".into()), true)
    );
}
