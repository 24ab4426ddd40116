//! Web chat on a PostgreSQL store shared by two instances: a visitor's token from instance A
//! works on instance B (one token key, kept in the store), and a stream open on B receives,
//! at once, what A appended (the log's `NOTIFY` at commit), with sequence numbers that grow
//! across both; and two instances pruning one history at once (a channel's retention), a
//! resume from a pruned cursor told `history_truncated` once.
#![allow(clippy::unwrap_used, missing_docs)]

mod webchat_support;

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::testkit::{TestSchema, pg_url};
use switchboard::{
    ConversationRef, Env, OutboundMessage, Running, Switchboard, SwitchboardBuilder,
};
use webchat_support::*;

async fn instance(schema: &TestSchema) -> (Switchboard, Running) {
    instance_with(schema, "").await
}

/// An instance whose channel `site` has `extra_site` and whose pruner runs every 100 ms.
async fn instance_with(schema: &TestSchema, extra_site: &str) -> (Switchboard, Running) {
    let text = config("unused", 0, extra_site)
        .replace("[engine]\n", "[engine]\nprune_interval = \"100ms\"\n")
        .replace(
            "url = \"sqlite://unused\"\nsynchronous = \"normal\"",
            &format!("url = \"{}\"\nschema = \"{}\"", pg_url(), schema.name()),
        );
    let sb = SwitchboardBuilder::from_config_str(
        &text,
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap()
    .on_message(|ctx| async move {
        let text = ctx.event().text().unwrap_or_default().to_owned();
        ctx.reply_text(format!("re: {text}"))?;
        Ok(())
    })
    .build()
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = sb.start(listener).unwrap();
    (sb, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_one_instance_gets_what_another_appended() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, ra) = instance(&schema).await;
    let (_b, rb) = instance(&schema).await;
    let (ca, cb) = (Client::new(&ra.url()), Client::new(&rb.url()));
    let (token, conv) = ca.session_with(json!({})).await;
    // B accepts A's token and streams the conversation.
    let mut sse = cb.events(&token, None).await;
    cb.say(&token, "p-1", "hello from B").await;
    let first = sse.take(2, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 2, "{first:?}");
    // A appends (an application send on A); B's stream gets it without waiting for a poll.
    let to = ConversationRef::parse("site", &conv).unwrap();
    let start = Instant::now();
    a.send(to, OutboundMessage::text("from A").unwrap())
        .await
        .unwrap();
    let got = sse.take(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(text(&got[0]), "from A");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "woken by the notification, not the 30 s poll: {:?}",
        start.elapsed()
    );
    let seqs: Vec<u64> = first.iter().chain(&got).map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    ra.shutdown().await.unwrap();
    rb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_prune_one_history_and_a_resume_is_told_once() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (a, ra) = instance_with(&schema, "history_max_records = 2").await;
    let (b, rb) = instance_with(&schema, "history_max_records = 2").await;
    let (ca, cb) = (Client::new(&ra.url()), Client::new(&rb.url()));
    let (token, conv) = ca.session_with(json!({})).await;
    let to = ConversationRef::parse("site", &conv).unwrap();
    for i in 0..6 {
        let sb = if i % 2 == 0 { &a } else { &b };
        sb.send(to.clone(), OutboundMessage::text(format!("m{i}")).unwrap())
            .await
            .unwrap();
    }
    let key = format!("site/{conv}");
    let store = b.store().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kept: Vec<u64> = store
            .log_read(&key, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        if kept == [5, 6] && store.log_pruned(&key).await.unwrap() == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "not pruned to [5, 6]: {kept:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sse = cb.events(&token, Some(2)).await;
    let got = sse.take(3, Duration::from_secs(10)).await;
    assert_eq!(
        got.iter()
            .map(|r| (r.seq, r.event.as_str()))
            .collect::<Vec<_>>(),
        [(4, "status"), (5, "message"), (6, "message")]
    );
    assert_eq!(
        got[0].data,
        json!({"code": "history_truncated", "up_to": 4})
    );
    assert_eq!((text(&got[1]), text(&got[2])), ("m4", "m5"));
    let mut again = ca.events(&token, Some(4)).await;
    let got = again.take(2, Duration::from_secs(10)).await;
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6]);
    assert!(again.next(Duration::from_millis(300)).await.is_none());
    ra.shutdown().await.unwrap();
    rb.shutdown().await.unwrap();
}
