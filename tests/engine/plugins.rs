//! An application's own plugin on the engine's public hooks (`switchboard::plugin`): it sees
//! every event before the handler, what it queues commits with the event (once, however often
//! the event runs), its state is apart from the application's, and it is told exactly once
//! when the engine gives up on a send.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use switchboard::plugin::{EventContext, FailedSend, Plugin, state_key};
use switchboard::{
    ChannelName, ConversationId, ConversationRef, Error, ErrorKind, OutboundMessage, Result, Retry,
    Switchboard, async_trait,
};

/// Records what its hooks are told; with `audit`, copies every message into conversation
/// `AUDIT` and counts them in its state.
#[derive(Default, Clone)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    failed: Arc<Mutex<Vec<FailedSend>>>,
    audit: bool,
}

#[async_trait]
impl Plugin for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn on_event(&self, ctx: &EventContext) -> Result<()> {
        let event = ctx.event();
        self.events
            .lock()
            .unwrap()
            .push(format!("{}#{}", event.id, ctx.attempt()));
        if self.audit
            && let Some(text) = event.text()
        {
            let to = ConversationRef::new(
                event.conversation.channel.clone(),
                ConversationId::new("AUDIT")?,
            );
            ctx.send(to, OutboundMessage::text(format!("audit: {text}"))?)?;
            let seen: u32 = ctx.state().await?.unwrap_or(0);
            ctx.set_state(&(seen + 1))?;
        }
        Ok(())
    }

    async fn on_dead_letter(&self, _: &Switchboard, failed: &FailedSend) -> Result<()> {
        self.failed.lock().unwrap().push(failed.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_plugin_sees_events_and_exactly_one_dead_letter_for_a_refused_send() {
    let mem = memory("mem");
    let plugin = Recorder::default();
    let served = Served::start(
        builder(&mem)
            .plugin(plugin.clone())
            .on_message(|ctx| async move {
                let text = ctx.event().text().unwrap_or_default().to_owned();
                ctx.reply_text(format!("ok {text}"))?;
                Ok(())
            }),
        "mem",
    )
    .await;
    // The provider refuses the first reply for good.
    mem.fail_next(
        Error::new(ErrorKind::InvalidMessage, "recipient cannot receive this")
            .with_retry(Retry::Never),
    );
    let r = served.deliver(&mem, &[inbound("e1", "C1", "first")]).await;
    assert_eq!(r.status(), 200);
    assert!(
        eventually(Duration::from_secs(10), || async {
            !plugin.failed.lock().unwrap().is_empty()
        })
        .await
    );
    // The next event's reply goes out: the conversation moved on.
    served.deliver(&mem, &[inbound("e2", "C1", "second")]).await;
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 1 }).await);
    assert_eq!(mem.sent()[0].text, "ok second");
    assert_eq!(
        *plugin.events.lock().unwrap(),
        ["e1#1", "e2#1"],
        "every event, once each"
    );
    let failed = plugin.failed.lock().unwrap().clone();
    assert_eq!(failed.len(), 1, "exactly one FailedSend: {failed:?}");
    let f = &failed[0];
    assert_eq!(f.key, "mem:e1:0");
    assert_eq!(f.to.channel.as_str(), "mem");
    assert_eq!(f.to.conversation.as_str(), "C1");
    assert_eq!(f.message.text.as_deref(), Some("ok first"));
    assert_eq!(f.kind, ErrorKind::InvalidMessage);
    assert_eq!(f.reason, "recipient cannot receive this");
    assert!(
        f.error.contains("recipient cannot receive this"),
        "{}",
        f.error
    );
    assert_eq!(f.attempts, 1);
    assert!(!f.before_request && !f.maybe_delivered);
    // The dead letter the hook was told about is the one the store keeps.
    let dead = served.sb.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].key.as_str(), dead[0].error.as_str()),
        (f.key.as_str(), f.error.as_str())
    );
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_sends_and_state_commit_with_the_event_once() {
    let mem = memory("mem");
    let plugin = Recorder {
        audit: true,
        ..Recorder::default()
    };
    // The handler fails its first run: the plugin's hook runs again with the event, and what
    // the first run queued is not written.
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let served = Served::start(
        builder(&mem).plugin(plugin.clone()).on_message(move |ctx| {
            let r = r.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err("not yet".into());
                }
                ctx.set_state(&"the app's own")?;
                ctx.reply_text("ok")?;
                Ok(())
            }
        }),
        "mem",
    )
    .await;
    served.deliver(&mem, &[inbound("e1", "C1", "hello")]).await;
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 2 }).await);
    // The plugin's message under its own key; the reply under the key it has without
    // plugins. (Two conversations: sent in either order.)
    let sent = mem.sent();
    let audit = sent
        .iter()
        .find(|m| m.to.conversation.as_str() == "AUDIT")
        .unwrap();
    assert_eq!(audit.text, "audit: hello");
    assert_eq!(
        audit.idempotency_key.as_deref(),
        Some("mem/plugin/recorder/e1/0")
    );
    let reply = sent
        .iter()
        .find(|m| m.to.conversation.as_str() == "C1")
        .unwrap();
    assert_eq!(reply.text, "ok");
    assert_eq!(reply.idempotency_key.as_deref(), Some("mem:e1:0"));
    assert_eq!(*plugin.events.lock().unwrap(), ["e1#1", "e1#2"]);
    // Its state is its own, beside the application's.
    let c1 = ConversationRef::new(
        ChannelName::new("mem").unwrap(),
        ConversationId::new("C1").unwrap(),
    );
    let store = served.sb.store();
    assert_eq!(
        store.get_state(&state_key("recorder", &c1)).await.unwrap(),
        Some(serde_json::json!(1)),
        "counted once: the failed run's state was not written"
    );
    assert_eq!(
        served.sb.state(&c1).await.unwrap(),
        Some(serde_json::json!("the app's own"))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mem.sent().len(), 2, "nothing queued twice");
    let status = store
        .outbox_status("mem/plugin/recorder/e1/0")
        .await
        .unwrap();
    assert!(status.is_some());
    served.shutdown().await;
}

#[tokio::test]
async fn two_plugins_with_one_name_are_refused() {
    let mem = memory("mem");
    let e = builder(&mem)
        .plugin(Recorder::default())
        .plugin(Recorder::default())
        .build()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(e.to_string().contains("plugin name 'recorder'"), "{e}");
}

/// A hook that fails makes the event fail like a handler error: retried, and the handler
/// runs only once the hook passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_retries_the_event() {
    struct FailsOnce(AtomicU32);

    #[async_trait]
    impl Plugin for FailsOnce {
        fn name(&self) -> &str {
            "fails-once"
        }

        async fn on_event(&self, _: &EventContext) -> Result<()> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(Error::new(
                    ErrorKind::Transport,
                    "the plugin's backend is down",
                ));
            }
            Ok(())
        }
    }

    let mem = memory("mem");
    let served = Served::start(
        builder(&mem)
            .plugin(FailsOnce(AtomicU32::new(0)))
            .on_message(|ctx| async move {
                ctx.reply_text("ok")?;
                Ok(())
            }),
        "mem",
    )
    .await;
    served.deliver(&mem, &[inbound("e1", "C1", "hello")]).await;
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 1 }).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(mem.sent().len(), 1);
    assert!(served.sb.dead_letters(10).await.unwrap().is_empty());
    served.shutdown().await;
}

/// The documented crash rule: the hook is told once, by the engine that committed the dead
/// letter, and an engine started later on the same store does not tell it again (the dead
/// letter stays listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_does_not_tell_old_dead_letters_again() {
    let mem = memory("mem");
    let store = Arc::new(switchboard::MemoryStore::new());
    let start = |plugin: Recorder| {
        builder(&mem)
            .store(store.clone())
            .plugin(plugin)
            .on_message(|ctx| async move {
                ctx.reply_text("ok")?;
                Ok(())
            })
    };
    let first = Recorder::default();
    let served = Served::start(start(first.clone()), "mem").await;
    mem.fail_next(Error::new(ErrorKind::InvalidMessage, "refused").with_retry(Retry::Never));
    served.deliver(&mem, &[inbound("e1", "C1", "one")]).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            first.failed.lock().unwrap().len() == 1
        })
        .await
    );
    served.shutdown().await;

    let second = Recorder::default();
    let served = Served::start(start(second.clone()), "mem").await;
    served.deliver(&mem, &[inbound("e2", "C1", "two")]).await;
    assert!(eventually(Duration::from_secs(10), || async { mem.sent().len() == 1 }).await);
    assert!(second.failed.lock().unwrap().is_empty());
    assert_eq!(served.sb.dead_letters(10).await.unwrap().len(), 1);
    assert_eq!(first.failed.lock().unwrap().len(), 1);
    served.shutdown().await;
}
