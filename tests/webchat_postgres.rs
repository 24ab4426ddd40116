//! Web chat on a PostgreSQL store shared by two instances: a visitor's token from instance A
//! works on instance B (one token key, kept in the store), and a stream open on B receives,
//! at once, what A appended (the log's `NOTIFY` at commit), with sequence numbers that grow
//! across both.
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
    let text = config("unused", 0, "").replace(
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
