//! Web chat through HTTP (`switchboard serve`'s routes under `/webchat/{channel}/`): sessions,
//! a message stored before its 202 and answered by the handler into the durable log, the SSE
//! stream (echo, reply, resume with `Last-Event-ID` after a drop: nothing lost, nothing
//! repeated), the long poll, uploads, token keys that survive a restart, and bad input refused
//! with the protocol's statuses before it reaches a handler; a channel's retention pruning the
//! log, and a resume from a pruned cursor told `history_truncated` first.
#![allow(clippy::unwrap_used, missing_docs)]

mod webchat_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use switchboard::{
    ConversationRef, Env, OutboundMessage, Running, Switchboard, SwitchboardBuilder,
};
use webchat_support::*;

const WAIT: Duration = Duration::from_secs(10);

struct App {
    sb: Switchboard,
    running: Running,
    client: Client,
    handled: Arc<AtomicUsize>,
}

/// A server on `db` whose handler answers every message with "re: {text}" and counts what
/// reached it (messages and actions).
async fn start(db: &str, extra_site: &str) -> App {
    start_with(&config(db, 0, extra_site)).await
}

/// [`start`] with this configuration.
async fn start_with(text: &str) -> App {
    let handled = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (handled.clone(), handled.clone());
    let sb =
        SwitchboardBuilder::from_config_str(text, &Env::from_pairs(Vec::<(String, String)>::new()))
            .unwrap()
            .on_message(move |ctx| {
                let h = h1.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let text = ctx.event().text().unwrap_or_default().to_owned();
                    ctx.reply_text(format!("re: {text}"))?;
                    Ok(())
                }
            })
            .on_action(move |ctx| {
                let h = h2.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    ctx.reply_text("action received")?;
                    Ok(())
                }
            })
            .build()
            .await
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = sb.start(listener).unwrap();
    let client = Client::new(&running.url());
    App {
        sb,
        running,
        client,
        handled,
    }
}

fn db() -> String {
    temp("db.sqlite").display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_sends_and_the_reply_arrives_on_the_stream_once() {
    let app = start(&db(), "").await;
    let c = &app.client;
    let token = c.session().await;
    let mut sse = c.events(&token, None).await;
    let id = c.say(&token, "c-1", "Where is my order?").await;
    // A retry after a lost answer: the same id, stored once.
    assert_eq!(c.say(&token, "c-1", "Where is my order?").await, id);
    let recs = sse.take(2, WAIT).await;
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!((recs[0].seq, role(&recs[0])), (1, "visitor"));
    assert_eq!(recs[0].data["client_id"], "c-1");
    assert_eq!(recs[0].data["id"], id.as_str());
    assert_eq!((recs[1].seq, role(&recs[1])), (2, "bot"));
    assert_eq!(text(&recs[1]), "re: Where is my order?");
    assert!(
        sse.lines.iter().any(|l| l == "retry: 3000"),
        "{:?}",
        sse.lines
    );
    // Nothing more: the retry appended nothing and the handler ran once.
    assert!(sse.next(Duration::from_millis(500)).await.is_none());
    assert_eq!(app.handled.load(Ordering::SeqCst), 1);
    // The long poll has the same records.
    let history = c.history(&token).await;
    assert_eq!(history, recs);
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_resumes_from_last_event_id_with_nothing_lost_or_repeated() {
    let app = start(&db(), "").await;
    let c = &app.client;
    let (token, conv) = c.session_with(json!({})).await;
    let to = ConversationRef::parse("site", &conv).unwrap();
    let mut sse = c.events(&token, None).await;
    for i in 0..5 {
        app.sb
            .send(to.clone(), OutboundMessage::text(format!("m{i}")).unwrap())
            .await
            .unwrap();
    }
    let first = sse.take(3, WAIT).await;
    assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    let seen = first.last().unwrap().seq;
    drop(sse); // the network drops
    for i in 5..10 {
        app.sb
            .send(to.clone(), OutboundMessage::text(format!("m{i}")).unwrap())
            .await
            .unwrap();
    }
    assert!(
        eventually(WAIT, || async { c.history(&token).await.len() == 10 }).await,
        "every send reached the log"
    );
    let mut again = c.events(&token, Some(seen)).await;
    let rest = again.take(7, WAIT).await;
    let texts: Vec<&str> = first.iter().chain(&rest).map(text).collect();
    assert_eq!(
        texts,
        ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]
    );
    assert_eq!(
        rest.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [4, 5, 6, 7, 8, 9, 10]
    );
    assert!(
        again.next(Duration::from_millis(300)).await.is_none(),
        "nothing repeated"
    );
    // ?after= (a reopened page) resumes the same way.
    let mut page = c.events(&format!("{token}&after=8"), None).await;
    let tail = page.take(2, WAIT).await;
    assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [9, 10]);
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixth_stream_of_a_token_closes_the_oldest() {
    let app = start(&db(), "").await;
    let c = &app.client;
    let token = c.session().await;
    let other = c.session().await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(c.events(&token, None).await);
    }
    let mut others_stream = c.events(&other, None).await;
    // Five of one token and one of another: nobody is closed.
    assert!(streams[0].next(Duration::from_millis(300)).await.is_none());
    streams.push(c.events(&token, None).await);
    let told = streams[0].next(WAIT).await.expect("the oldest is told");
    assert_eq!((told.seq, told.event.as_str()), (0, "status"), "{told:?}");
    assert_eq!(told.data["code"], "too_many_streams");
    let start = std::time::Instant::now();
    assert!(streams[0].next(WAIT).await.is_none());
    assert!(start.elapsed() < WAIT / 2, "the oldest stream ended");
    // The five newest stay open and see the next record; so does the other token's stream.
    c.say(&token, "c-1", "hello").await;
    for s in &mut streams[1..] {
        let got = s.take(1, WAIT).await;
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [1]);
    }
    assert!(
        others_stream
            .next(Duration::from_millis(300))
            .await
            .is_none()
    );
    // One more closes the oldest open one now, and replays the log itself. (A stream whose
    // client went away keeps its place until the server's next write to it fails, at the
    // latest the 15 s keep-alive: closing the oldest, not refusing the newest, is what lets a
    // visitor whose network dropped reconnect at once.)
    let mut again = c.events(&token, None).await;
    let mut told = Vec::new();
    while let Some(r) = streams[1].next(WAIT).await {
        told.push(r); // the handler's reply to "hello", then the notice
    }
    let last = told.last().expect("the oldest open stream is told");
    assert_eq!(last.data["code"], "too_many_streams", "{told:?}");
    assert_eq!(
        again.take(1, WAIT).await.len(),
        1,
        "the new stream replays the log"
    );
    while let Some(r) = streams[2].next(Duration::from_millis(300)).await {
        assert_ne!(r.event, "status", "only the oldest is closed");
    }
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_long_poll_waits_for_the_next_record() {
    let app = start(&db(), "").await;
    let c = &app.client;
    let (token, conv) = c.session_with(json!({})).await;
    let to = ConversationRef::parse("site", &conv).unwrap();
    let sb = app.sb.clone();
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sb.send(to, OutboundMessage::text("later").unwrap())
            .await
            .unwrap();
    });
    let start = std::time::Instant::now();
    let (recs, last) = c.poll(&token, 0, 10).await;
    assert!(
        start.elapsed() < Duration::from_secs(9),
        "answered when the record came"
    );
    assert_eq!((recs.len(), last), (1, 1));
    assert_eq!(text(&recs[0]), "later");
    later.await.unwrap();
    let r = c
        .http
        .get(c.url("messages?wait=31"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_survive_a_restart_and_a_button_reaches_the_action_handler() {
    let path = db();
    let app = start(&path, "").await;
    let (token, _) = app.client.session_with(json!({})).await;
    app.client.say(&token, "a-1", "hello").await;
    assert!(
        eventually(WAIT, || async {
            app.client.history(&token).await.len() == 2
        })
        .await
    );
    app.running.shutdown().await.unwrap();
    drop(app.sb);
    // The key was kept in the store: the old token still opens the conversation.
    let app = start(&path, "").await;
    let history = app.client.history(&token).await;
    assert_eq!(history.len(), 2, "{history:?}");
    let r = app
        .client
        .send_raw(
            &token,
            json!({"client_id": "b-1", "action": {"payload": "ORDER_1", "label": "Order 1"}}),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert!(
        eventually(WAIT, || async {
            app.client
                .history(&token)
                .await
                .iter()
                .any(|r| text(r) == "action received")
        })
        .await
    );
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_secret_signs_tokens() {
    let secret = "token_secret = \"0123456789abcdef0123456789abcdef\"";
    let (a, b) = (start(&db(), secret).await, start(&db(), secret).await);
    // Two servers with separate stores accept each other's tokens.
    let token = a.client.session().await;
    b.client.say(&token, "x-1", "hi").await;
    let short = SwitchboardBuilder::from_config_str(
        &config(&db(), 0, "token_secret = \"short\""),
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap()
    .build()
    .await
    .unwrap_err();
    assert!(short.to_string().contains("token_secret"), "{short}");
    a.running.shutdown().await.unwrap();
    b.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_capped_and_served_only_to_their_conversation() {
    let app = start(&db(), "upload_max_bytes = 1000").await;
    let c = &app.client;
    let token = c.session().await;
    let upload = |token: String, bytes: Vec<u8>, name: &'static str, mime: &'static str| {
        let c = c.clone();
        async move {
            let mut body = format!(
                "--XyZ\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: {mime}\r\n\r\n"
            )
            .into_bytes();
            body.extend(bytes);
            body.extend(b"\r\n--XyZ--\r\n");
            c.http
                .post(c.url("uploads"))
                .header("origin", ORIGIN)
                .header("content-type", "multipart/form-data; boundary=XyZ")
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let ok = upload(token.clone(), vec![7; 900], "receipt.png", "image/png").await;
    assert_eq!(ok.status(), 201);
    let v: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["size"].as_u64()),
        (Some("image"), Some(900))
    );
    let big = upload(token.clone(), vec![7; 1001], "big.bin", "application/pdf").await;
    assert_eq!(big.status(), 413);
    assert_eq!(
        big.json::<serde_json::Value>().await.unwrap()["error"],
        "upload_too_large"
    );
    // The reference goes into a message; the echo carries the file's URL.
    let r = c
        .send_raw(
            &token,
            json!({"client_id": "u-1", "attachments": [{"upload": v["upload"]}]}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let echo = c.history(&token).await.remove(0);
    let url = echo.data["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = c
        .http
        .get(format!("{url}?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(got.bytes().await.unwrap().len(), 900);
    let stranger = c.session().await;
    let denied = c
        .http
        .get(format!("{url}?token={stranger}"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 404);
    let anonymous = c.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // Another conversation cannot use the reference either.
    let r = c
        .send_raw(
            &stranger,
            json!({"client_id": "u-2", "attachments": [{"upload": v["upload"]}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_an_agent_sends_are_served_to_the_visitor_with_the_token() {
    let app = start(&db(), "upload_max_bytes = 1000").await;
    let c = &app.client;
    let (token, conv) = c.session_with(json!({})).await;
    let other = c.session().await;
    let to = ConversationRef::parse("site", &conv).unwrap();
    let file = |size: usize, name: &str| {
        OutboundMessage::builder()
            .text(format!("here is {name}"))
            .attachment(switchboard::core::model::Attachment::bytes(
                vec![9_u8; size],
                "application/pdf",
                name,
            ))
            .build()
            .unwrap()
    };
    app.sb
        .send(to.clone(), file(1001, "big.pdf"))
        .await
        .unwrap();
    app.sb
        .send(to.clone(), file(1000, "invoice.pdf"))
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || async { !c.history(&token).await.is_empty() }).await,
        "the file's message reached the log"
    );
    // The file over upload_max_bytes was refused to the sender (dead-lettered), never shown.
    let history = c.history(&token).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(text(&history[0]), "here is invoice.pdf");
    let shown = &history[0].data["attachments"][0];
    assert_eq!(shown["filename"], "invoice.pdf");
    let url = shown["url"].as_str().unwrap();
    assert!(url.starts_with("/webchat/site/uploads/"), "{url}");
    let get = |query: String| {
        let c = c.clone();
        let url = format!("{}{url}{query}", c.base);
        async move { c.http.get(url).send().await.unwrap() }
    };
    let served = get(format!("?token={token}")).await;
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.headers()["content-disposition"],
        "attachment; filename=\"invoice.pdf\""
    );
    assert_eq!(served.bytes().await.unwrap().as_ref(), [9_u8; 1000]);
    assert_eq!(get(format!("?token={other}")).await.status(), 404);
    assert_eq!(get(String::new()).await.status(), 401);
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_the_protocols_statuses_and_never_reaches_a_handler() {
    let app = start(&db(), "max_message_bytes = 100").await;
    let c = &app.client;
    let token = c.session().await;
    let reason = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").is_some();
        let v: serde_json::Value = r.json().await.unwrap();
        (status, v["error"].as_str().unwrap().to_owned(), retry)
    };
    let post = |origin: &'static str, token: Option<String>, body: String| {
        let c = c.clone();
        async move {
            let mut r = c
                .http
                .post(c.url("messages"))
                .header("origin", origin)
                .header("content-type", "application/json")
                .body(body);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await.unwrap()
        }
    };
    let msg = json!({"client_id": "b1", "text": "hi"}).to_string();
    let cases = [
        (
            post("https://evil.example", Some(token.clone()), msg.clone()).await,
            403,
            "origin_not_allowed",
        ),
        (post(ORIGIN, None, msg.clone()).await, 401, "missing_token"),
        (
            post(ORIGIN, Some("wc1.forged.sig".into()), msg.clone()).await,
            401,
            "bad_token",
        ),
        (
            post(ORIGIN, Some(token.clone()), "{not json".into()).await,
            400,
            "malformed_json",
        ),
        (
            post(
                ORIGIN,
                Some(token.clone()),
                json!({"client_id": "b2", "text": "x".repeat(101)}).to_string(),
            )
            .await,
            413,
            "message_too_large",
        ),
        (
            post(ORIGIN, Some(token.clone()), "x".repeat(200_000)).await,
            413,
            "message_too_large",
        ),
        (
            post(
                ORIGIN,
                Some(token.clone()),
                json!({"client_id": "bad id!", "text": "x"}).to_string(),
            )
            .await,
            400,
            "invalid_request",
        ),
    ];
    for (r, status, error) in cases {
        let (s, e, _) = reason(r).await;
        assert_eq!((s, e.as_str()), (status, error));
    }
    // A token of another channel.
    let mut other = c.clone();
    other.channel = "other".into();
    let foreign = other.session().await;
    let (s, e, _) = reason(post(ORIGIN, Some(foreign), msg.clone()).await).await;
    assert_eq!((s, e.as_str()), (401, "foreign_token"));
    // The stream: a bad cursor, no token, a wrong origin.
    let r = c
        .http
        .get(c.url(&format!("events?token={token}&after=x")))
        .send()
        .await
        .unwrap();
    assert_eq!(reason(r).await.0, 400);
    let r = c.http.get(c.url("events")).send().await.unwrap();
    assert_eq!(reason(r).await.1, "missing_token");
    let r = c
        .http
        .get(c.url(&format!("events?token={token}")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(reason(r).await.0, 403);
    // Unknown channel and path.
    let r = c
        .http
        .get(format!("{}/webchat/nope/events", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reason(r).await.0, 404);
    let r = c
        .post("nothing")
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(reason(r).await.0, 404);
    // The per-IP cap on new sessions: 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let r = c.post("sessions").body("{}").send().await.unwrap();
        if r.status() == 429 {
            limited = Some(reason(r).await);
            break;
        }
    }
    let (s, e, retry) = limited.expect("the per-IP session cap");
    assert_eq!((s, e.as_str(), retry), (429, "rate_limited", true));
    // CORS on an allowed origin, a preflight.
    let r = c
        .http
        .request(reqwest::Method::OPTIONS, c.url("messages"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(r.headers()["webchat-protocol"], "1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.handled.load(Ordering::SeqCst),
        0,
        "nothing refused reached a handler"
    );
    assert!(c.history(&token).await.is_empty());
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visitor_rate_is_429_with_retry_after() {
    let app = start(&db(), "").await;
    // `site` allows 1000 a second; `other` the default 2 a second, burst 10.
    let mut c = app.client.clone();
    c.channel = "other".into();
    let token = c.session().await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = c
            .send_raw(&token, json!({"client_id": format!("r{i}"), "text": "x"}))
            .await;
        statuses.push((
            r.status().as_u16(),
            r.headers().get("retry-after").is_some(),
        ));
    }
    assert!(statuses[..10].iter().all(|s| s.0 == 202), "{statuses:?}");
    assert_eq!(statuses[11], (429, true));
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_and_the_demo_page_are_served() {
    let app = start(&db(), "").await;
    let c = &app.client;
    let js = c.http.get(c.url("widget.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().await.unwrap().contains("SwitchboardChat"));
    let demo = c
        .http
        .get(c.url("demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(demo.contains("data-channel=\"site\""));
    let mut other = c.clone();
    other.channel = "other".into();
    let demo = c
        .http
        .get(other.url("demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(demo.contains("data-channel=\"other\""));
    app.running.shutdown().await.unwrap();
}

/// `history_max_records = 3`: the pruner (every 100 ms here) keeps each conversation's 3
/// newest records. A stream or a long poll resuming from a cursor before them gets `status
/// history_truncated` (`id` and `up_to` the highest sequence number pruned) and then the kept
/// records; a reconnect from that id is not told twice; a cursor at or past it, nothing extra.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_history_is_announced_once_then_the_kept_records_follow() {
    let conf = config(&db(), 0, "history_max_records = 3")
        .replace("[engine]\n", "[engine]\nprune_interval = \"100ms\"\n");
    let app = start_with(&conf).await;
    let c = &app.client;
    let (token, conv) = c.session_with(json!({})).await;
    let to = ConversationRef::parse("site", &conv).unwrap();
    let key = format!("site/{conv}");
    for i in 0..6 {
        app.sb
            .send(to.clone(), OutboundMessage::text(format!("m{i}")).unwrap())
            .await
            .unwrap();
    }
    let store = app.sb.store().clone();
    assert!(
        eventually(WAIT, || async {
            let kept = store.log_read(&key, 0, 100).await.unwrap();
            kept.iter().map(|e| e.seq).collect::<Vec<_>>() == [4, 5, 6]
                && store.log_pruned(&key).await.unwrap() == 3
        })
        .await,
        "the pruner kept the 3 newest records"
    );
    let truncated = |r: &Rec| {
        assert_eq!((r.seq, r.event.as_str()), (3, "status"), "{r:?}");
        assert_eq!(r.data, json!({"code": "history_truncated", "up_to": 3}));
    };

    // SSE from an old cursor: the notice, then the kept records, nothing more.
    let mut sse = c.events(&token, Some(1)).await;
    let got = sse.take(4, WAIT).await;
    assert_eq!(got.len(), 4, "{got:?}");
    truncated(&got[0]);
    assert_eq!(
        got[1..]
            .iter()
            .map(|r| (r.seq, text(r)))
            .collect::<Vec<_>>(),
        [(4, "m3"), (5, "m4"), (6, "m5")]
    );
    assert!(sse.next(Duration::from_millis(300)).await.is_none());
    drop(sse);
    // A reconnect with the notice's id as Last-Event-ID: the kept records only.
    let mut again = c.events(&token, Some(3)).await;
    let got = again.take(3, WAIT).await;
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5, 6]);
    assert!(
        again.next(Duration::from_millis(300)).await.is_none(),
        "not told twice"
    );
    // No cursor at all (a new page): the log no longer starts at 1, and says so.
    let mut fresh = c.events(&token, None).await;
    let got = fresh.take(4, WAIT).await;
    truncated(&got[0]);
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5, 6]);
    drop(fresh);

    // The long poll alike: a page from `after=1` starts with the notice.
    let (recs, last) = c.poll(&token, 1, 0).await;
    truncated(&recs[0]);
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5, 6]);
    assert_eq!(last, 6);
    let (recs, _) = c.poll(&token, 3, 0).await;
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [4, 5, 6]);
    assert!(c.poll(&token, 6, 0).await.0.is_empty());

    // A new record: the open stream (cursor 6, past what is pruned) gets it alone, while the
    // pruner moves on.
    app.sb
        .send(to.clone(), OutboundMessage::text("m6").unwrap())
        .await
        .unwrap();
    let got = again.take(1, WAIT).await;
    assert_eq!(
        got.iter().map(|r| (r.seq, text(r))).collect::<Vec<_>>(),
        [(7, "m6")]
    );
    assert!(
        eventually(WAIT, || async {
            store.log_pruned(&key).await.unwrap() == 4
        })
        .await,
        "record 4 went"
    );
    let (recs, _) = c.poll(&token, 6, 0).await;
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [7]);
    // `/metrics` counts what the retention removed: records 1 to 4.
    let metrics = reqwest::get(format!("{}/metrics", app.running.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_webchat_history_pruned_total{channel=\"site\"} 4"),
        "{metrics}"
    );
    app.running.shutdown().await.unwrap();
}
