//! What a handler's `Context` and `Switchboard::send` accept: a copy of the context that
//! outlives its handler is refused (not silently dropped), handler replies and application
//! sends have outbox keys in separate namespaces, a key that holds another message is an
//! error, and a `Config` given directly is validated by `build()`.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use switchboard::{Config, ConversationRef, ErrorKind, MemoryStore, OutboundMessage, Switchboard};
use tokio::sync::{mpsc, oneshot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_copy_used_after_its_handler_returned_is_refused() {
    let mem = memory("mem");
    // The handler hands a copy of its context to a task that uses it once told the handler
    // has returned and its event is complete.
    let (copies_tx, mut copies) = mpsc::unbounded_channel();
    let copies_tx = Arc::new(Mutex::new(copies_tx));
    let sb = builder(&mem)
        .on_message(move |ctx| {
            let copies_tx = copies_tx.clone();
            async move {
                ctx.reply_text("in time")?;
                let (go, wait) = oneshot::channel::<()>();
                let (answer, answered) = oneshot::channel();
                let late = ctx.clone();
                tokio::spawn(async move {
                    let _ = wait.await;
                    let results = [
                        late.reply_text("too late").map_err(|e| e.kind()),
                        late.set_state(&1).map_err(|e| e.kind()),
                        late.clear_state().map_err(|e| e.kind()),
                    ];
                    let _ = answer.send(results);
                });
                copies_tx.lock().unwrap().send((go, answered)).unwrap();
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/mem", running.url());
    let req = mem.signed_request(&url, &[inbound("ev1", "C1", "hi")]);
    assert_eq!(
        post(&reqwest::Client::new(), &url, &req).await.status(),
        200
    );
    let (go, answered) = tokio::time::timeout(Duration::from_secs(10), copies.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || async {
            sb.stats().await.unwrap().inbox_done == 1
        })
        .await
    );
    go.send(()).unwrap();
    let results = tokio::time::timeout(Duration::from_secs(10), answered)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        results,
        [
            Err(ErrorKind::InvalidMessage),
            Err(ErrorKind::InvalidMessage),
            Err(ErrorKind::InvalidMessage)
        ]
    );
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 1 }).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = mem.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].text, "in time");
    let conv = ConversationRef::parse("mem", "C1").unwrap();
    assert_eq!(sb.state(&conv).await.unwrap(), None);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_and_application_sends_never_share_an_outbox_key() {
    let mem = memory("mem");
    let sb = builder(&mem)
        .on_message(|ctx| async move {
            ctx.reply_text("reply")?;
            Ok(())
        })
        .build()
        .await
        .unwrap();
    // An application send whose own key, in the old shared namespace, was the reply key of
    // the event "app" ("mem:app:0").
    let to = ConversationRef::parse("mem", "C1").unwrap();
    let mut keyed = OutboundMessage::text("from the app").unwrap();
    keyed.idempotency_key = Some("0".to_owned());
    let key = sb.send(to.clone(), keyed.clone()).await.unwrap();
    assert_eq!(key, "mem/app/0");
    // The same key, conversation and message again: a repeat, queued once.
    assert_eq!(sb.send(to.clone(), keyed).await.unwrap(), key);
    // The same key with another message: an error, not ignored.
    let mut other = OutboundMessage::text("something else").unwrap();
    other.idempotency_key = Some("0".to_owned());
    let err = sb.send(to.clone(), other).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMessage, "{err}");

    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/mem", running.url());
    let req = mem.signed_request(&url, &[inbound("app", "C1", "hi")]);
    assert_eq!(
        post(&reqwest::Client::new(), &url, &req).await.status(),
        200
    );
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 2 }).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sent: Vec<(String, Option<String>)> = mem
        .sent()
        .into_iter()
        .map(|m| (m.text, m.idempotency_key))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("from the app".to_owned(), Some("mem/app/0".to_owned())),
            ("reply".to_owned(), Some("mem:app:0".to_owned())),
        ]
    );
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn build_validates_a_config_given_directly() {
    type Spoil = fn(&mut Config);
    let cases: [(&str, Spoil); 4] = [
        ("lease", |c| c.engine.lease = Duration::from_millis(100)),
        ("retention", |c| c.engine.retention = Duration::from_secs(1)),
        ("workers", |c| c.engine.workers = 0),
        ("poll_interval", |c| c.engine.poll_interval = Duration::ZERO),
    ];
    for (what, spoil) in cases {
        let mut config = Config::default();
        spoil(&mut config);
        let err = Switchboard::builder()
            .config(config)
            .store(Arc::new(MemoryStore::new()))
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    Switchboard::builder()
        .config(Config::default())
        .store(Arc::new(MemoryStore::new()))
        .build()
        .await
        .unwrap();
}
