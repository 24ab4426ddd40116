//! `reconcile` against the emulator: the outbox key travels as message metadata on every part,
//! and the lookup in `conversations.history` / `conversations.replies` tells delivered, partial,
//! not delivered and unknown apart.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::{Duration, SystemTime};

use common::{setup, to};
use serde_json::json;
use switchboard_core::model::Attachment;
use switchboard_core::{
    Adapter, ConversationRef, OutboundMessage, OutboxKey, PendingSend, Reconciled, Retry, ThreadId,
};
use switchboard_slack::emulator::Fault;
use switchboard_slack::{OUTBOX_EVENT_TYPE, SlackAdapter, SlackEphemeral};

fn keyed(text: &str, key: &str) -> OutboundMessage {
    OutboundMessage::builder()
        .text(text)
        .idempotency_key(key)
        .build()
        .unwrap()
}

/// Two paragraphs that Slack gets as two messages (4,000 characters each at most).
fn two_parts(key: &str) -> OutboundMessage {
    keyed(
        &format!("{}\n\n{}", "a ".repeat(1900), "b ".repeat(1900)),
        key,
    )
}

async fn reconcile(
    a: &SlackAdapter,
    key: &str,
    to: &ConversationRef,
    msg: &OutboundMessage,
    since: SystemTime,
) -> Reconciled {
    let pending = PendingSend::new(to.clone(), msg.clone(), since);
    a.reconcile(&OutboxKey::new(key).unwrap(), &pending)
        .await
        .unwrap()
}

fn ids(found: &[switchboard_core::SentMessage]) -> Vec<String> {
    found.iter().map(|m| m.id.as_str().to_owned()).collect()
}

#[tokio::test]
async fn every_part_carries_the_key_and_a_delivered_send_is_found() {
    let (em, a) = setup(true, 10).await;
    assert!(a.info().capabilities.reconcile);
    let since = SystemTime::now();
    let msg = two_parts("team:Ev1:0");
    let receipt = a.send(&to("C0GENERAL"), &msg).await.unwrap();
    assert_eq!(receipt.messages.len(), 2);
    for (i, m) in em.messages().iter().enumerate() {
        assert_eq!(
            m.metadata,
            Some(json!({"event_type": OUTBOX_EVENT_TYPE,
                "event_payload": {"outbox_key": "team:Ev1:0", "part": i, "parts": 2}}))
        );
    }
    // Someone else's keyed message and a user's message in between do not confuse the lookup.
    a.send(&to("C0GENERAL"), &keyed("other", "team:Ev2:0"))
        .await
        .unwrap();
    em.user_message("C0GENERAL", "U0ALICE", "hello");

    let before = em.calls().len();
    match reconcile(&a, "team:Ev1:0", &to("C0GENERAL"), &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), ids(&receipt.messages)),
        other => panic!("{other:?}"),
    }
    let calls = em.calls();
    assert_eq!(calls.len(), before + 1, "one page of history");
    let lookup = &calls[before];
    assert_eq!(lookup.method, "conversations.history");
    assert_eq!(lookup.args["include_all_metadata"], "true");
    assert_eq!(lookup.args["channel"], "C0GENERAL");
    let oldest: f64 = lookup.args["oldest"].as_str().unwrap().parse().unwrap();
    let first = since.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    assert!(oldest < first.as_secs_f64() && oldest > first.as_secs_f64() - 120.0);
}

#[tokio::test]
async fn a_send_that_never_arrived_is_not_delivered() {
    let (em, a) = setup(true, 10).await;
    let since = SystemTime::now();
    let msg = keyed("lost on the way", "team:Ev3:0");
    // The connection drops before Slack handles the call: nothing was posted.
    em.stage(Fault::Drop);
    let e = a.send(&to("C0GENERAL"), &msg).await.unwrap_err();
    assert_eq!(e.retry(), Retry::Ambiguous);
    assert!(em.messages().is_empty());
    assert_eq!(
        reconcile(&a, "team:Ev3:0", &to("C0GENERAL"), &msg, since).await,
        Reconciled::NotDelivered
    );
}

#[tokio::test]
async fn a_lost_answer_is_ambiguous_and_then_found() {
    let (em, a) = setup(true, 10).await;
    let since = SystemTime::now();
    let msg = keyed("answer lost", "team:Ev4:0");
    em.stage(Fault::LostAnswer);
    let e = a.send(&to("C0GENERAL"), &msg).await.unwrap_err();
    assert_eq!(e.retry(), Retry::Ambiguous, "{e:?}");
    let posted = em.messages();
    assert_eq!(posted.len(), 1, "Slack kept the message");
    assert_eq!(em.calls()[0].status, 0, "the answer was dropped");
    match reconcile(&a, "team:Ev4:0", &to("C0GENERAL"), &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), [posted[0].ts.clone()]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_split_message_cut_short_is_partial() {
    let (em, a) = setup(true, 10).await;
    let since = SystemTime::now();
    let msg = two_parts("team:Ev5:0");
    em.stage(Fault::Delay(Duration::ZERO));
    em.stage(Fault::Status(500));
    let e = a.send(&to("C0GENERAL"), &msg).await.unwrap_err();
    assert_eq!(e.partial().len(), 1);
    match reconcile(&a, "team:Ev5:0", &to("C0GENERAL"), &msg, since).await {
        Reconciled::Partial(found) => assert_eq!(ids(&found), ids(e.partial())),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn thread_replies_are_looked_up_in_the_thread() {
    let (em, a) = setup(true, 10).await;
    let parent = a
        .send(&to("C0GENERAL"), &OutboundMessage::text("parent").unwrap())
        .await
        .unwrap();
    let thread = to("C0GENERAL").in_thread(ThreadId::new(parent.messages[0].id.as_str()).unwrap());
    let since = SystemTime::now();
    let msg = keyed("in the thread", "team:Ev6:0");
    let receipt = a.send(&thread, &msg).await.unwrap();
    match reconcile(&a, "team:Ev6:0", &thread, &msg, since).await {
        Reconciled::Delivered(found) => {
            assert_eq!(ids(&found), ids(&receipt.messages));
            assert_eq!(found[0].conversation.thread, thread.thread);
        }
        other => panic!("{other:?}"),
    }
    let lookup = em.calls().pop().unwrap();
    assert_eq!(lookup.method, "conversations.replies");
    assert_eq!(lookup.args["ts"], parent.messages[0].id.as_str());
    // Not in this thread: not delivered.
    let other = keyed("elsewhere", "team:Ev7:0");
    assert_eq!(
        reconcile(&a, "team:Ev7:0", &thread, &other, since).await,
        Reconciled::NotDelivered
    );
}

#[tokio::test]
async fn direct_messages_are_looked_up_in_the_dm() {
    let (em, a) = setup(true, 10).await;
    let since = SystemTime::now();
    let msg = keyed("hi Alice", "team:Ev8:0");
    let receipt = a.send(&to("U0ALICE"), &msg).await.unwrap();
    match reconcile(&a, "team:Ev8:0", &to("U0ALICE"), &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), ids(&receipt.messages)),
        other => panic!("{other:?}"),
    }
    let lookup = em.calls().pop().unwrap();
    assert_eq!(lookup.args["channel"], em.messages()[0].channel.as_str());
}

#[tokio::test]
async fn the_window_starts_just_before_the_first_attempt() {
    let (_em, a) = setup(true, 10).await;
    let msg = keyed("old news", "team:Ev9:0");
    a.send(&to("C0GENERAL"), &msg).await.unwrap();
    // A first attempt said to start five minutes from now: the message is older than the window.
    let later = SystemTime::now() + Duration::from_secs(300);
    assert_eq!(
        reconcile(&a, "team:Ev9:0", &to("C0GENERAL"), &msg, later).await,
        Reconciled::NotDelivered
    );
}

#[tokio::test]
async fn a_busy_window_is_read_page_by_page() {
    let (em, a) = setup(true, 10).await;
    let since = SystemTime::now();
    let msg = keyed("needle", "team:Ev10:0");
    let receipt = a.send(&to("C0GENERAL"), &msg).await.unwrap();
    for i in 0..250 {
        em.user_message("C0GENERAL", "U0ALICE", &format!("hay {i}"));
    }
    match reconcile(&a, "team:Ev10:0", &to("C0GENERAL"), &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), ids(&receipt.messages)),
        other => panic!("{other:?}"),
    }
    let pages: Vec<_> = em
        .calls()
        .into_iter()
        .filter(|c| c.method == "conversations.history")
        .collect();
    assert_eq!(pages.len(), 2, "200 messages a page, newest first");
    assert!(pages[1].args.contains_key("cursor"));
}

#[tokio::test]
async fn what_cannot_be_told_is_unknown() {
    let (em, a) = setup(true, 10).await;
    let since = SystemTime::now();
    let c = to("C0GENERAL");

    // Ephemeral messages are not in the history.
    let ephemeral = OutboundMessage::builder()
        .text("only you")
        .idempotency_key("team:Ev11:0")
        .extension(&SlackEphemeral {
            user: "U0BOB".into(),
        })
        .build()
        .unwrap();
    a.send(&c, &ephemeral).await.unwrap();
    assert!(matches!(
        reconcile(&a, "team:Ev11:0", &c, &ephemeral, since).await,
        Reconciled::Unknown(_)
    ));

    // Files carry no metadata: text found, files unknown; files only: unknown at once.
    let with_file = OutboundMessage::builder()
        .text("the report")
        .attachment(Attachment::bytes(
            b"%PDF".to_vec(),
            "application/pdf",
            "r.pdf",
        ))
        .idempotency_key("team:Ev12:0")
        .build()
        .unwrap();
    a.send(&c, &with_file).await.unwrap();
    match reconcile(&a, "team:Ev12:0", &c, &with_file, since).await {
        Reconciled::Unknown(why) => assert!(why.contains("files"), "{why}"),
        other => panic!("{other:?}"),
    }
    let file_only = OutboundMessage::builder()
        .attachment(Attachment::bytes(
            b"%PDF".to_vec(),
            "application/pdf",
            "r.pdf",
        ))
        .idempotency_key("team:Ev13:0")
        .build()
        .unwrap();
    let calls = em.calls().len();
    assert!(matches!(
        reconcile(&a, "team:Ev13:0", &c, &file_only, since).await,
        Reconciled::Unknown(_)
    ));
    assert_eq!(em.calls().len(), calls, "nothing to look up");

    // A token without the history scopes: Slack refuses the lookup for good.
    em.stage(Fault::SlackError("missing_scope".into()));
    let msg = keyed("x", "team:Ev14:0");
    match reconcile(&a, "team:Ev14:0", &c, &msg, since).await {
        Reconciled::Unknown(why) => assert!(why.contains("missing_scope"), "{why}"),
        other => panic!("{other:?}"),
    }

    // A passing failure is an error to retry, not an answer.
    em.stage(Fault::RateLimited {
        retry_after: Duration::from_secs(30),
    });
    let pending = PendingSend::new(c.clone(), msg.clone(), since);
    let e = a
        .reconcile(&OutboxKey::new("team:Ev14:0").unwrap(), &pending)
        .await
        .unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn messages_without_a_key_carry_no_metadata() {
    let (em, a) = setup(true, 10).await;
    a.send(&to("C0GENERAL"), &OutboundMessage::text("plain").unwrap())
        .await
        .unwrap();
    assert!(!em.calls()[0].args.contains_key("metadata"));
    assert_eq!(em.messages()[0].metadata, None);
}
