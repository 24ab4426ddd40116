//! The engine over real HTTP on 127.0.0.1 with the core MemoryAdapter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use switchboard::core::memory::{MemoryInbound, faults};
use switchboard::store::{DeadLetterKind, OutboxState};
use switchboard::{
    ChannelSettings, ConversationRef, MemoryStore, OutboundMessage, RateConfig, Switchboard,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_in_handler_reply_out() {
    let mem = memory("mem");
    let app = Served::start(
        builder(&mem).on_message(|ctx| async move {
            let text = ctx.event().text().unwrap_or_default().to_owned();
            let n: u32 = ctx.state().await?.unwrap_or(0);
            ctx.set_state(&(n + 1))?;
            ctx.reply_text(format!("echo {text} #{}", n + 1))?;
            Ok(())
        }),
        "mem",
    )
    .await;
    for (i, text) in ["hello", "again"].iter().enumerate() {
        let events = [inbound(&format!("ev{i}"), "C1", text)];
        assert_eq!(app.deliver(&mem, &events).await.status(), 200);
    }
    assert!(eventually(Duration::from_secs(5), || async { mem.sent().len() == 2 }).await);
    let sent = mem.sent();
    assert_eq!(sent[0].text, "echo hello #1");
    assert_eq!(sent[1].text, "echo again #2");
    assert_eq!(sent[0].idempotency_key.as_deref(), Some("mem:ev0:0"));
    assert_eq!(sent[0].to, ConversationRef::parse("mem", "C1").unwrap());
    assert_eq!(
        app.sb
            .state(&ConversationRef::parse("mem", "C1").unwrap())
            .await
            .unwrap(),
        Some(serde_json::json!(2))
    );
    // Health, readiness and metrics.
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("switchboard_events_received_total{channel=\"mem\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_messages_sent_total{channel=\"mem\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_ack_latency_seconds_count{channel=\"mem\"} 2"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_storm_runs_the_handler_once() {
    let mem = memory("mem");
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Served::start(
        builder(&mem).on_message(move |ctx| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                ctx.reply_text("once")?;
                Ok(())
            }
        }),
        "mem",
    )
    .await;
    let req = mem.signed_request(&app.url, &[inbound("same-event", "C1", "hi")]);
    let (a, b) = tokio::join!(app.post(&req), app.post(&req));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    for _ in 0..2 {
        assert_eq!(app.post(&req).await.status(), 200);
    }
    assert!(eventually(Duration::from_secs(5), || async { mem.sent().len() == 1 }).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(mem.sent().len(), 1);
    let metrics = app.sb.metrics_text();
    assert!(
        metrics.contains("switchboard_events_duplicate_total{channel=\"mem\"} 3"),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_never_reaches_a_handler() {
    let mem = memory("mem");
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Served::start(
        builder(&mem).on_event(move |_ctx| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }),
        "mem",
    )
    .await;

    // Wrong signature → 401.
    let mut req = mem.signed_request(&app.url, &[inbound("e1", "C1", "hi")]);
    req.headers
        .insert("x-memory-signature", "v1=00".parse().unwrap());
    assert_eq!(app.post(&req).await.status(), 401);
    // No signature → 401, refused before the body is read: the connection is closed with
    // the answer, so a client never reuses it for its next request.
    let resp = app.client.post(&app.url).body("[]").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["connection"], "close");
    // Oversized body → 413.
    // Larger than the default `server.max_body_bytes` (1 MiB).
    let big = "x".repeat(1024 * 1024 + 1);
    let req = mem.signed_request(&app.url, &[inbound("e2", "C1", &big)]);
    assert_eq!(app.post(&req).await.status(), 413);
    // Well signed but malformed → 400.
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = b"{not json";
    let resp = app
        .client
        .post(&app.url)
        .header("x-memory-timestamp", ts.to_string())
        .header("x-memory-signature", mem.signature(ts, body))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Unknown channel → 404.
    let other = format!("{}/webhooks/nope", app.running.url());
    let req = mem.signed_request(&other, &[inbound("e3", "C1", "hi")]);
    assert_eq!(post(&app.client, &other, &req).await.status(), 404);
    // A handshake is answered and stores nothing.
    let hs = app
        .client
        .get(format!("{}?challenge=abc123", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(hs.status(), 200);
    assert_eq!(hs.text().await.unwrap(), "abc123");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let stats = app.sb.stats().await.unwrap();
    assert_eq!(stats.inbox_pending + stats.inbox_done, 0);
    let metrics = app.sb.metrics_text();
    assert!(
        metrics.contains(
            "switchboard_webhooks_rejected_total{channel=\"mem\",reason=\"bad_signature\"} 1"
        ),
        "{metrics}"
    );
    // A well-signed unknown event is stored as Other and reaches on_event.
    let unknown = MemoryInbound {
        id: "other-1".into(),
        conversation: "C1".into(),
        sender: "U1".into(),
        event_type: Some("member_joined".into()),
        ..Default::default()
    };
    assert_eq!(app.deliver(&mem, &[unknown]).await.status(), 200);
    assert!(
        eventually(Duration::from_secs(5), || async {
            calls.load(Ordering::SeqCst) == 1
        })
        .await
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_storm_sends_everything_once_within_the_rate() {
    let mem = memory("mem");
    let timed = Timed::new(mem.clone());
    // The provider answers 429 with Retry-After for a while: more times than `send_attempts`
    // (a 429 is not a failure of the message, so it uses none).
    let storm = 12;
    let retry_after = Duration::from_millis(400);
    assert!(storm > fast_config().engine.send_attempts as usize);
    for _ in 0..storm {
        mem.fail_next(faults::rate_limited(retry_after));
    }
    let per_conv = 10.0;
    let channel_rate = 20.0;
    let settings = ChannelSettings::default().with_rate(
        RateConfig::new(Some(channel_rate), Some(per_conv))
            .with_burst(2)
            .with_conversation_burst(1),
    );
    let app = Served::start(
        Switchboard::builder()
            .config(fast_config())
            .store(Arc::new(MemoryStore::new()))
            .channel_with(Arc::new(timed.clone()), settings)
            .on_message(|ctx| async move {
                let text = ctx.event().text().unwrap_or_default().to_owned();
                ctx.reply_text(format!("re {text}"))?;
                Ok(())
            }),
        "mem",
    )
    .await;
    let mut expected = Vec::new();
    for i in 0..20 {
        let conv = format!("C{}", i % 3);
        let text = format!("{conv}-{i:02}");
        expected.push(format!("re {text}"));
        assert_eq!(
            app.deliver(&mem, &[inbound(&format!("e{i}"), &conv, &text)])
                .await
                .status(),
            200
        );
    }
    assert!(
        eventually(Duration::from_secs(30), || async { mem.sent().len() >= 20 }).await,
        "sent {}",
        mem.sent().len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: Vec<String> = mem.sent().into_iter().map(|s| s.text).collect();
    let mut sorted = sent.clone();
    sorted.sort();
    let mut exp = expected.clone();
    exp.sort();
    assert_eq!(sorted, exp, "everything sent exactly once");
    for conv in ["C0", "C1", "C2"] {
        let order: Vec<&String> = sent.iter().filter(|t| t.contains(conv)).collect();
        let mut o = order.clone();
        o.sort();
        assert_eq!(order, o, "per-conversation order for {conv}");
    }
    // No call reached the provider within Retry-After of a 429 answer: the channel is paused
    // from the moment each came back. (A call that passed the limiters just before the answer
    // arrived may start a moment after it: the first `SLACK` of each pause is not checked.)
    const SLACK: Duration = Duration::from_millis(100);
    let times = timed.times.lock().unwrap().clone();
    assert_eq!(
        times.len(),
        20 + storm,
        "every 429 retried once, nothing more"
    );
    let limited: Vec<Instant> = timed
        .answers
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| *l)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(limited.len(), storm);
    for a in &limited {
        let early: Vec<Duration> = times
            .iter()
            .filter(|t| **t > *a + SLACK && **t < *a + retry_after)
            .map(|t| t.duration_since(*a))
            .collect();
        assert!(
            early.is_empty(),
            "calls {early:?} after a 429 asking for {retry_after:?}"
        );
    }
    // No more than the configured rate reached the provider in any window.
    let window = Duration::from_millis(500);
    let allowed = (channel_rate * window.as_secs_f64()).ceil() as usize + 2;
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < window)
            .count();
        assert!(
            in_window <= allowed,
            "{in_window} sends in {window:?} (allowed {allowed})"
        );
    }
    let metrics = app.sb.metrics_text();
    assert!(
        metrics.contains(&format!(
            "switchboard_send_retries_total{{channel=\"mem\"}} {storm}"
        )),
        "{metrics}"
    );
    assert!(app.sb.dead_letters(10).await.unwrap().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_longer_than_the_send_attempts_still_sends_the_message() {
    let mem = memory("mem");
    let mut config = fast_config();
    config.engine.send_attempts = 3;
    // Every call for a while is refused, all on the one message waiting.
    for _ in 0..10 {
        mem.fail_next(faults::rate_limited(Duration::from_millis(20)));
    }
    let sb = builder(&mem).config(config).build().await.unwrap();
    let workers = sb.start_workers();
    let key = sb
        .send(
            ConversationRef::parse("mem", "C1").unwrap(),
            OutboundMessage::text("after the storm").unwrap(),
        )
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(20), || async { mem.sent().len() == 1 }).await);
    let st = sb.store().outbox_status(&key).await.unwrap().unwrap();
    assert_eq!((st.state, st.attempts), (OutboxState::Sent, 1));
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_channel_does_not_hold_the_sender_slots_of_others() {
    // Two sender slots; the "slow" provider answers its first send with a long Retry-After.
    let pause = Duration::from_secs(8);
    let slow = memory("slow");
    slow.fail_next(faults::rate_limited(pause));
    let slow_timed = Timed::new(slow.clone());
    let fast = memory("fast");
    let mut config = fast_config();
    config.engine.senders = 2;
    let sb = Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(slow_timed.clone()), unlimited())
        .channel_with(Arc::new(fast.clone()), unlimited())
        .build()
        .await
        .unwrap();
    // Queued first: four conversations on the paused channel, then one on the other.
    let mut slow_keys = Vec::new();
    for c in 0..4 {
        let to = ConversationRef::parse("slow", &format!("S{c}")).unwrap();
        slow_keys.push(
            sb.send(to, OutboundMessage::text(format!("s{c}")).unwrap())
                .await
                .unwrap(),
        );
    }
    let to = ConversationRef::parse("fast", "F").unwrap();
    sb.send(to, OutboundMessage::text("f").unwrap())
        .await
        .unwrap();
    let start = std::time::Instant::now();
    let workers = sb.start_workers();
    // The other channel's message goes out long before the pause ends (before: both slots
    // waited out the pause holding their rows).
    assert!(
        eventually(pause / 2, || async { fast.sent().len() == 1 }).await,
        "the other channel waited for the paused one"
    );
    assert!(start.elapsed() < pause);
    // The other slot may have had a send on the paused channel under way when the 429 came
    // back (two slots claim two slow conversations at once), and on a loaded machine it may
    // start one more before the sender has registered the pause; nothing else went out.
    assert!(slow.sent().len() <= 2, "{:?}", slow.sent());
    // After the pause everything on the paused channel is sent, and the wait used up no
    // send attempts.
    assert!(eventually(pause * 3, || async { slow.sent().len() == 4 }).await);
    let times = slow_timed.times.lock().unwrap().clone();
    assert_eq!(times.len(), 5, "one 429, then each message once");
    // No call on the paused channel starts within Retry-After of the 429 answer, once the
    // sender has had a moment (1 s, for a loaded machine) to register the pause: a call the
    // other slot had already let through the limiters may start just after the answer.
    let answers = slow_timed.answers.lock().unwrap().clone();
    let limited_at = answers.iter().find(|(_, limited)| *limited).unwrap().0;
    let after: Vec<_> = times.iter().filter(|t| **t > limited_at).collect();
    assert!(after.len() >= 3, "{after:?}");
    let mut early = 0;
    for t in after {
        let since = t.duration_since(limited_at);
        if since < pause {
            early += 1;
            assert!(
                since < Duration::from_secs(1),
                "a call {since:?} after the 429, within its Retry-After"
            );
        }
    }
    assert!(early <= 1, "{early} calls started during the pause");
    for key in &slow_keys {
        let st = sb.store().outbox_status(key).await.unwrap().unwrap();
        assert_eq!((st.state, st.attempts), (OutboxState::Sent, 1), "{key}");
    }
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    workers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_permanent_failures_are_dead_lettered_not_resent() {
    // An adapter that can neither reconcile nor deduplicate, on a channel without an explicit
    // delivery policy: an ambiguous send is not resent (tests/engine/reconcile.rs covers the
    // adapters that reconcile).
    let mut caps = switchboard::core::memory::default_capabilities();
    caps.reconcile = false;
    let mem = memory("mem").with_capabilities(caps);
    mem.fail_next(faults::server_error());
    mem.fail_next(faults::unknown_recipient());
    let app = Served::start(
        builder(&mem).on_message(|ctx| async move {
            ctx.reply_text("a")?;
            Ok(())
        }),
        "mem",
    )
    .await;
    for (i, conv) in ["C1", "C2", "C3"].iter().enumerate() {
        assert_eq!(
            app.deliver(&mem, &[inbound(&format!("e{i}"), conv, "x")])
                .await
                .status(),
            200
        );
        // One at a time so the staged failures hit e0 and e1.
        let n = i + 1;
        assert!(eventually(Duration::from_secs(5), || async { mem.requests() == n }).await);
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.sb.dead_letters(10).await.unwrap().len() == 2
        })
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mem.requests(), 3, "nothing was resent");
    assert_eq!(mem.sent().len(), 1);
    let dead = app.sb.dead_letters(10).await.unwrap();
    assert!(dead.iter().all(|d| d.kind == DeadLetterKind::Outbound));
    assert!(
        dead[0].error.contains("may have been delivered"),
        "{}",
        dead[0].error
    );
    assert!(
        dead[1].error.contains("unknown recipient"),
        "{}",
        dead[1].error
    );
    let st = app
        .sb
        .store()
        .outbox_status("mem:e0:0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.state, OutboxState::Dead);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handlers_are_retried_then_dead_lettered_in_order() {
    let mem = memory("mem");
    let mut config = fast_config();
    config.engine.handler_attempts = 3;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s = seen.clone();
    let app = Served::start(
        builder(&mem).config(config).on_message(move |ctx| {
            let s = s.clone();
            async move {
                let text = ctx.event().text().unwrap_or_default().to_owned();
                s.lock().unwrap().push(format!("{text}@{}", ctx.attempt()));
                if text == "poison" {
                    return Err("cannot handle poison".into());
                }
                ctx.reply_text(format!("ok {text}"))?;
                Ok(())
            }
        }),
        "mem",
    )
    .await;
    let both = [inbound("p1", "C1", "poison"), inbound("p2", "C1", "after")];
    assert_eq!(app.deliver(&mem, &both).await.status(), 200);
    assert!(eventually(Duration::from_secs(5), || async { mem.sent().len() == 1 }).await);
    assert_eq!(
        *seen.lock().unwrap(),
        ["poison@1", "poison@2", "poison@3", "after@1"],
        "the conversation waits for its head"
    );
    let dead = app.sb.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, DeadLetterKind::Inbound);
    assert_eq!(dead[0].key, "p1");
    assert_eq!(dead[0].error, "cannot handle poison");
    assert_eq!(dead[0].attempts, 3);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_options_come_back_as_actions() {
    let caps = {
        let mut c = switchboard::core::memory::default_capabilities();
        c.max_buttons = 0;
        c.max_quick_replies = 0;
        c.markdown = switchboard::MarkdownDialect::Plain;
        c
    };
    let mem = memory("mem").with_capabilities(caps);
    let actions = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let a = actions.clone();
    let app = Served::start(
        builder(&mem)
            .on_message(|ctx| async move {
                let msg = OutboundMessage::builder()
                    .text("Pick a size")
                    .button("Small", "SIZE_S")
                    .button("Large cup", "SIZE_L")
                    .build()?;
                ctx.reply(msg)?;
                Ok(())
            })
            .on_action(move |ctx| {
                let a = a.clone();
                async move {
                    let ev = ctx.event();
                    let label = match &ev.kind {
                        switchboard::EventKind::Action(act) => {
                            act.label.clone().unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    a.lock()
                        .unwrap()
                        .push((ev.action_payload().unwrap_or_default().to_owned(), label));
                    Ok(())
                }
            }),
        "mem",
    )
    .await;
    assert_eq!(
        app.deliver(&mem, &[inbound("q1", "C1", "menu")])
            .await
            .status(),
        200
    );
    assert!(eventually(Duration::from_secs(5), || async { mem.sent().len() == 1 }).await);
    let sent = &mem.sent()[0];
    assert!(
        sent.text.contains("1. Small  2. Large cup"),
        "{}",
        sent.text
    );
    for (i, answer) in ["2.", "large CUP", "1"].iter().enumerate() {
        assert_eq!(
            app.deliver(&mem, &[inbound(&format!("a{i}"), "C1", answer)])
                .await
                .status(),
            200
        );
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            actions.lock().unwrap().len() == 3
        })
        .await
    );
    assert_eq!(
        *actions.lock().unwrap(),
        [
            ("SIZE_L".to_owned(), "Large cup".to_owned()),
            ("SIZE_L".to_owned(), "Large cup".to_owned()),
            ("SIZE_S".to_owned(), "Small".to_owned()),
        ]
    );
    app.shutdown().await;
}
