//! Behaviour every [`Store`] must have; run against the memory and SQLite stores.

use std::time::{Duration, SystemTime};

use switchboard_core::model::ActionSource;
use switchboard_core::model::{
    DeliveryStatus, EventId, EventKind, InboundMessage, MessageId, Sender,
};
use switchboard_core::render::TextOption;
use switchboard_core::{ConversationRef, InboundEvent, OutboundMessage, SentMessage, UserId};

use super::*;

fn ev(id: &str, conv: &str) -> InboundEvent {
    InboundEvent::new(
        EventId::new(id).unwrap(),
        ConversationRef::parse("mem", conv).unwrap(),
        Sender::user(UserId::new("u1").unwrap()),
        SystemTime::now(),
        EventKind::Message(InboundMessage::text(format!("text {id}"))),
        serde_json::json!({ "id": id }),
    )
}

fn reply(key: &str, conv: &str, text: &str) -> NewOutbound {
    NewOutbound {
        key: key.to_owned(),
        to: ConversationRef::parse("mem", conv).unwrap(),
        message: OutboundMessage::text(text).unwrap(),
    }
}

const LEASE: Duration = Duration::from_secs(30);

pub(crate) async fn dedupe_and_insert(store: &dyn Store) {
    let r = store
        .insert_inbound(&[ev("e1", "c1"), ev("e2", "c1"), ev("e1", "c1")])
        .await
        .unwrap();
    assert!(matches!(r[0], Inserted::New(_)));
    assert!(matches!(r[1], Inserted::New(_)));
    assert_eq!(r[2], Inserted::Duplicate);
    let again = store.insert_inbound(&[ev("e2", "c1")]).await.unwrap();
    assert_eq!(again, vec![Inserted::Duplicate]);
    // The same event id on another channel is a different event.
    let mut other = ev("e1", "c1");
    other.conversation = ConversationRef::parse("other", "c1").unwrap();
    assert!(matches!(
        store.insert_inbound(&[other]).await.unwrap()[0],
        Inserted::New(_)
    ));
    let s = store.stats().await.unwrap();
    assert_eq!(s.inbox_pending, 3);
}

pub(crate) async fn claims_keep_conversation_order(store: &dyn Store) {
    store
        .insert_inbound(&[ev("a1", "A"), ev("a2", "A"), ev("b1", "B"), ev("a3", "A")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let first = store.claim_inbox(now, LEASE, 10).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|i| i.event.id.as_str()).collect();
    assert_eq!(ids, ["a1", "b1"], "one head per conversation");
    assert!(store.claim_inbox(now, LEASE, 10).await.unwrap().is_empty());
    let a1 = &first[0];
    assert_eq!(a1.attempts, 1);
    assert!(
        store
            .complete_inbox(a1.lease, Completion::default())
            .await
            .unwrap()
    );
    // A finished lease cannot finish again.
    assert!(
        !store
            .complete_inbox(a1.lease, Completion::default())
            .await
            .unwrap()
    );
    let next = store.claim_inbox(now, LEASE, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event.id.as_str(), "a2");
}

pub(crate) async fn expired_leases_are_reclaimed(store: &dyn Store) {
    store.insert_inbound(&[ev("x1", "X")]).await.unwrap();
    let t0 = SystemTime::now();
    let first = store.claim_inbox(t0, LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let later = t0 + LEASE + Duration::from_secs(1);
    let second = store.claim_inbox(later, LEASE, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    // The first worker lost its lease: its completion writes nothing.
    let c = Completion {
        outbox: vec![reply("x1:0", "X", "late")],
        state: vec![],
    };
    assert!(!store.complete_inbox(first[0].lease, c).await.unwrap());
    assert_eq!(store.outbox_status("x1:0").await.unwrap(), None);
    assert!(
        store
            .complete_inbox(second[0].lease, Completion::default())
            .await
            .unwrap()
    );
}

pub(crate) async fn completion_writes_outbox_and_state(store: &dyn Store) {
    store.insert_inbound(&[ev("m1", "M")]).await.unwrap();
    let now = SystemTime::now();
    let item = store.claim_inbox(now, LEASE, 1).await.unwrap().remove(0);
    let c = Completion {
        outbox: vec![reply("m1:0", "M", "one"), reply("m1:1", "M", "two")],
        state: vec![("mem/M".to_owned(), Some(serde_json::json!({"n": 1})))],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    assert_eq!(
        store.get_state("mem/M").await.unwrap(),
        Some(serde_json::json!({"n": 1}))
    );
    let out = store.claim_outbox(now, LEASE, 10).await.unwrap();
    assert_eq!(out.len(), 1, "outbox heads only");
    assert_eq!(out[0].key, "m1:0");
    assert!(!out[0].interrupted);
    assert_eq!(out[0].message.text.as_deref(), Some("one"));
    let sent = SentMessage::new(MessageId::new("p1").unwrap(), out[0].to.clone());
    let opts = vec![TextOption {
        number: 1,
        label: "Yes".into(),
        payload: "YES".into(),
        source: ActionSource::Button,
    }];
    assert!(
        store
            .outbox_sent(out[0].lease, &[sent], &opts, now + Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(store.get_options("mem/M", now).await.unwrap(), opts);
    assert!(
        store
            .get_options("mem/M", now + Duration::from_secs(61))
            .await
            .unwrap()
            .is_empty(),
        "options expire"
    );
    let st = store.outbox_status("m1:0").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Sent);
    assert_eq!(st.message_ids, vec![MessageId::new("p1").unwrap()]);
    // Delivery keeps the most advanced status.
    let ch = ChannelName::new("mem").unwrap();
    let ids = [MessageId::new("p1").unwrap()];
    assert_eq!(
        store
            .record_delivery(&ch, &ids, DeliveryStatus::Read)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_delivery(&ch, &ids, DeliveryStatus::Delivered)
            .await
            .unwrap(),
        0
    );
    let st = store.outbox_status("m1:0").await.unwrap().unwrap();
    assert_eq!(st.delivery, Some(DeliveryStatus::Read));
    // Next in order.
    let next = store.claim_outbox(now, LEASE, 10).await.unwrap();
    assert_eq!(next[0].key, "m1:1");
}

pub(crate) async fn retries_and_dead_letters(store: &dyn Store) {
    store
        .insert_inbound(&[ev("d1", "D"), ev("d2", "D")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let item = store.claim_inbox(now, LEASE, 1).await.unwrap().remove(0);
    let later = now + Duration::from_secs(5);
    assert!(store.retry_inbox(item.lease, "boom", later).await.unwrap());
    assert!(
        store.claim_inbox(now, LEASE, 10).await.unwrap().is_empty(),
        "a retrying head blocks its conversation until it is due"
    );
    let item = store.claim_inbox(later, LEASE, 1).await.unwrap().remove(0);
    assert_eq!(item.event.id.as_str(), "d1");
    assert_eq!(item.attempts, 2);
    assert!(
        store
            .dead_letter_inbox(item.lease, "gave up")
            .await
            .unwrap()
    );
    let next = store.claim_inbox(later, LEASE, 1).await.unwrap();
    assert_eq!(next[0].event.id.as_str(), "d2");
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, DeadLetterKind::Inbound);
    assert_eq!(dead[0].key, "d1");
    assert_eq!(dead[0].error, "gave up");
    assert_eq!(dead[0].attempts, 2);
}

pub(crate) async fn interrupted_sends_are_flagged(store: &dyn Store) {
    store.insert_inbound(&[ev("i1", "I")]).await.unwrap();
    let now = SystemTime::now();
    let item = store.claim_inbox(now, LEASE, 1).await.unwrap().remove(0);
    let c = Completion {
        outbox: vec![reply("i1:0", "I", "hi")],
        state: vec![],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    let first = store.claim_outbox(now, LEASE, 1).await.unwrap().remove(0);
    assert!(!first.interrupted);
    // The process "dies"; the lease expires.
    let later = now + LEASE + Duration::from_secs(1);
    let second = store.claim_outbox(later, LEASE, 1).await.unwrap().remove(0);
    assert!(second.interrupted);
    assert!(
        store
            .retry_outbox(second.lease, "rate limited", later)
            .await
            .unwrap()
    );
    let third = store.claim_outbox(later, LEASE, 1).await.unwrap().remove(0);
    assert!(!third.interrupted, "a recorded outcome clears the flag");
    assert!(
        store
            .dead_letter_outbox(third.lease, "permanent")
            .await
            .unwrap()
    );
    let st = store.outbox_status("i1:0").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Dead);
    assert_eq!(st.attempts, 3);
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead[0].kind, DeadLetterKind::Outbound);
}

/// A head row of conversation `conv` with key `key`, claimed.
async fn claimed_reply(store: &dyn Store, key: &str, conv: &str, now: SystemTime) -> OutboxItem {
    let ok = store
        .enqueue_outbound(&[reply(key, conv, "hello")])
        .await
        .unwrap();
    assert_eq!(ok, vec![true]);
    store.claim_outbox(now, LEASE, 1).await.unwrap().remove(0)
}

pub(crate) async fn attempts_make_rows_uncertain(store: &dyn Store) {
    let t0 = SystemTime::now();
    let first = claimed_reply(store, "u:0", "U", t0).await;
    assert!(!first.uncertain && !first.interrupted);
    assert_eq!(first.first_attempt_at, None);
    // A claim that dies before a send begins is interrupted, not uncertain.
    let t1 = t0 + LEASE + Duration::from_secs(1);
    let second = store.claim_outbox(t1, LEASE, 1).await.unwrap().remove(0);
    assert!(second.interrupted && !second.uncertain);
    // A send begins (recorded), then the process dies: the next claim is uncertain and knows
    // when the attempt began.
    let a1 = t1 + Duration::from_secs(1);
    assert!(store.outbox_attempt(second.lease, a1).await.unwrap());
    let t2 = t1 + LEASE + Duration::from_secs(5);
    let third = store.claim_outbox(t2, LEASE, 1).await.unwrap().remove(0);
    assert!(third.interrupted && third.uncertain);
    assert_eq!(third.first_attempt_at.map(millis), Some(millis(a1)));
    assert_eq!(third.last_attempt_at.map(millis), Some(millis(a1)));
    // The settling claim itself dies: still uncertain.
    let t3 = t2 + LEASE + Duration::from_secs(1);
    let fourth = store.claim_outbox(t3, LEASE, 1).await.unwrap().remove(0);
    assert!(
        fourth.uncertain,
        "uncertainty survives a claim that did not settle it"
    );
    // Settled as not delivered: a new attempt clears it and moves only the last attempt.
    let a2 = t3 + Duration::from_secs(1);
    assert!(store.outbox_attempt(fourth.lease, a2).await.unwrap());
    let st = store.outbox_status("u:0").await.unwrap().unwrap();
    assert!(!st.uncertain);
    assert_eq!(st.first_attempt_at.map(millis), Some(millis(a1)));
    assert_eq!(st.last_attempt_at.map(millis), Some(millis(a2)));
    // That attempt fails ambiguously: released uncertain, with the error.
    assert!(
        store
            .retry_outbox_uncertain(fourth.lease, "answer lost", a2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .retry_outbox_uncertain(fourth.lease, "twice", a2)
            .await
            .unwrap(),
        "a released lease cannot release again"
    );
    let fifth = store.claim_outbox(a2, LEASE, 1).await.unwrap().remove(0);
    assert!(fifth.uncertain && !fifth.interrupted);
    let st = store.outbox_status("u:0").await.unwrap().unwrap();
    assert_eq!(st.error.as_deref(), Some("answer lost"));
    // A lost lease records no attempt.
    assert!(!store.outbox_attempt(fourth.lease, a2).await.unwrap());
    // The provider cannot tell yet: asked again later, without using up an attempt.
    assert_eq!(fifth.attempts, 5);
    assert!(
        store
            .reconcile_outbox_later(fifth.lease, "unknown: lookup lags", a2)
            .await
            .unwrap()
    );
    let st = store.outbox_status("u:0").await.unwrap().unwrap();
    assert!(st.uncertain);
    assert_eq!(st.attempts, 4);
    assert_eq!(st.error.as_deref(), Some("unknown: lookup lags"));
    let fifth = store.claim_outbox(a2, LEASE, 1).await.unwrap().remove(0);
    assert!(fifth.uncertain);
    assert_eq!(fifth.attempts, 5);
    // Sent: no longer uncertain.
    let to = ConversationRef::parse("mem", "U").unwrap();
    let msg = SentMessage::new(MessageId::new("m-u").unwrap(), to);
    assert!(
        store
            .outbox_sent(fifth.lease, &[msg], &[], a2)
            .await
            .unwrap()
    );
    let st = store.outbox_status("u:0").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Sent);
    assert!(!st.uncertain);
}

pub(crate) async fn deferred_sends_use_no_attempt(store: &dyn Store) {
    let now = SystemTime::now();
    // Deferred before any attempt began: certain, the claim not counted.
    let first = claimed_reply(store, "d:0", "D", now).await;
    assert_eq!(first.attempts, 1);
    let later = now + Duration::from_secs(5);
    assert!(
        store
            .defer_outbox(first.lease, "paused", later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .defer_outbox(first.lease, "twice", later)
            .await
            .unwrap(),
        "a released lease cannot release again"
    );
    assert!(store.claim_outbox(now, LEASE, 1).await.unwrap().is_empty());
    let st = store.outbox_status("d:0").await.unwrap().unwrap();
    assert_eq!((st.attempts, st.error.as_deref()), (0, Some("paused")));
    let second = store.claim_outbox(later, LEASE, 1).await.unwrap().remove(0);
    assert_eq!(second.attempts, 1);
    assert!(!second.uncertain && !second.interrupted);
    // Deferred after an attempt that the provider refused with a 429: still certain.
    assert!(store.outbox_attempt(second.lease, later).await.unwrap());
    assert!(
        store
            .defer_outbox(second.lease, "rate limited", later)
            .await
            .unwrap()
    );
    let third = store.claim_outbox(later, LEASE, 1).await.unwrap().remove(0);
    assert_eq!(third.attempts, 1);
    assert!(!third.uncertain && !third.interrupted);
    // An uncertain row stays uncertain.
    assert!(
        store
            .retry_outbox_uncertain(third.lease, "answer lost", later)
            .await
            .unwrap()
    );
    let fourth = store.claim_outbox(later, LEASE, 1).await.unwrap().remove(0);
    assert!(fourth.uncertain);
    assert!(
        store
            .defer_outbox(fourth.lease, "paused", later)
            .await
            .unwrap()
    );
    let fifth = store.claim_outbox(later, LEASE, 1).await.unwrap().remove(0);
    assert!(fifth.uncertain);
    assert_eq!(fifth.attempts, 2);
}

pub(crate) async fn partial_sends_map_receipts(store: &dyn Store) {
    let now = SystemTime::now();
    let item = claimed_reply(store, "p:0", "P", now).await;
    let to = ConversationRef::parse("mem", "P").unwrap();
    let part = SentMessage::new(MessageId::new("m-p1").unwrap(), to);
    assert!(store.outbox_partial(item.lease, &[part]).await.unwrap());
    let st = store.outbox_status("p:0").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Pending);
    assert_eq!(st.message_ids, vec![MessageId::new("m-p1").unwrap()]);
    let changed = store
        .record_delivery(
            &ChannelName::new("mem").unwrap(),
            &[MessageId::new("m-p1").unwrap()],
            DeliveryStatus::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(changed, 1, "a receipt for a part sent finds the row");
}

fn proof(key: &str, part: u32, parts: u32, id: &str) -> SendProof {
    SendProof {
        key: key.to_owned(),
        channel: ChannelName::new("mem").unwrap(),
        part,
        parts,
        message_id: MessageId::new(id).unwrap(),
    }
}

pub(crate) async fn proofs_are_durable_and_complete_rows(store: &dyn Store) {
    let now = SystemTime::now();
    let item = claimed_reply(store, "k:0", "K", now).await;
    assert!(store.outbox_attempt(item.lease, now).await.unwrap());
    // The process dies mid-send; the ambiguous row waits for a retry far ahead.
    assert!(
        store
            .retry_outbox_uncertain(item.lease, "lost", now + Duration::from_secs(3600))
            .await
            .unwrap()
    );
    assert!(store.claim_outbox(now, LEASE, 1).await.unwrap().is_empty());
    // Part 1 of 2 is proven (out of order), then again (the first proof wins), then part 0.
    assert!(
        !store
            .record_proof(&proof("k:0", 1, 2, "m-b"), now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_proof(&proof("k:0", 1, 2, "m-b2"), now)
            .await
            .unwrap()
    );
    assert_eq!(proven_ids(&store.proofs("k:0").await.unwrap()), None);
    assert!(
        store
            .record_proof(&proof("k:0", 0, 2, "m-a"), now)
            .await
            .unwrap(),
        "every part proven and the row pending"
    );
    let proofs = store.proofs("k:0").await.unwrap();
    assert_eq!(
        proven_ids(&proofs),
        Some(vec![
            MessageId::new("m-a").unwrap(),
            MessageId::new("m-b").unwrap()
        ])
    );
    // The row is available at once (the sender settles it without waiting for the retry).
    let again = store.claim_outbox(now, LEASE, 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].uncertain);
    // Proofs of a key the outbox does not hold are kept but complete nothing.
    assert!(
        !store
            .record_proof(&proof("other:0", 0, 1, "m-x"), now)
            .await
            .unwrap()
    );
    assert_eq!(store.proofs("other:0").await.unwrap().len(), 1);
    assert!(store.proofs("none").await.unwrap().is_empty());
    // Proofs go with retention.
    let pruned = store
        .prune(now + Duration::from_secs(1), now)
        .await
        .unwrap();
    assert_eq!(pruned.proofs, 3);
    assert!(store.proofs("k:0").await.unwrap().is_empty());
}

pub(crate) async fn state_outside_handlers(store: &dyn Store) {
    assert_eq!(store.get_state("mem/S").await.unwrap(), None);
    store
        .set_state("mem/S", Some(serde_json::json!([1, 2])))
        .await
        .unwrap();
    assert_eq!(
        store.get_state("mem/S").await.unwrap(),
        Some(serde_json::json!([1, 2]))
    );
    store.set_state("mem/S", None).await.unwrap();
    assert_eq!(store.get_state("mem/S").await.unwrap(), None);
}

/// Sends the head of the outbox now, as provider message `id`.
async fn send_head(store: &dyn Store, id: &str) -> String {
    let out = store
        .claim_outbox(SystemTime::now(), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let sent = SentMessage::new(MessageId::new(id).unwrap(), out.to.clone());
    assert!(
        store
            .outbox_sent(out.lease, &[sent], &[], SystemTime::now())
            .await
            .unwrap()
    );
    out.key
}

pub(crate) async fn enqueue_outside_handlers(store: &dyn Store) {
    let rows = [reply("app:1", "Q", "one"), reply("app:2", "Q", "two")];
    assert_eq!(
        store.enqueue_outbound(&rows).await.unwrap(),
        vec![true, true]
    );
    // A key already there is not written again.
    assert_eq!(
        store.enqueue_outbound(&rows[..1]).await.unwrap(),
        vec![false]
    );
    assert_eq!(store.stats().await.unwrap().outbox_pending, 2);
    // The same key with another message or destination is an error, and the whole batch is
    // refused (the new row before it is not written either).
    for taken in [reply("app:1", "Q", "other"), reply("app:1", "R", "one")] {
        let err = store
            .enqueue_outbound(&[reply("app:3", "Q", "three"), taken])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidMessage, "{err}");
    }
    assert_eq!(store.stats().await.unwrap().outbox_pending, 2);
    assert_eq!(send_head(store, "q1").await, "app:1");
    assert_eq!(send_head(store, "q2").await, "app:2");
    // A repeat of a row already sent is still a repeat.
    assert_eq!(
        store.enqueue_outbound(&rows[1..]).await.unwrap(),
        vec![false]
    );
}

pub(crate) async fn completion_with_a_taken_outbox_key_writes_nothing(store: &dyn Store) {
    store
        .enqueue_outbound(&[reply("k:0", "Q", "queued by the app")])
        .await
        .unwrap();
    store.insert_inbound(&[ev("t1", "T")]).await.unwrap();
    let item = store
        .claim_inbox(SystemTime::now(), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let c = Completion {
        outbox: vec![reply("k:1", "T", "fresh"), reply("k:0", "T", "taken")],
        state: vec![("mem/T".to_owned(), Some(serde_json::json!(1)))],
    };
    let err = store.complete_inbox(item.lease, c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMessage, "{err}");
    // Nothing of the completion was written and the event is still pending under its lease.
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.inbox_pending, stats.outbox_pending),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(store.get_state("mem/T").await.unwrap(), None);
    assert!(store.outbox_status("k:1").await.unwrap().is_none());
    assert!(
        store
            .retry_inbox(item.lease, "conflict", SystemTime::now())
            .await
            .unwrap()
    );
}

pub(crate) async fn leases_are_renewed(store: &dyn Store) {
    store.insert_inbound(&[ev("l1", "L")]).await.unwrap();
    let now = SystemTime::now();
    let short = Duration::from_secs(1);
    let item = store.claim_inbox(now, short, 1).await.unwrap().remove(0);
    let later = now + Duration::from_secs(5);
    assert!(store.renew_inbox(item.lease, later + short).await.unwrap());
    assert!(
        store.claim_inbox(later, short, 1).await.unwrap().is_empty(),
        "a renewed lease is not handed out again"
    );
    // A stale lease cannot be renewed.
    let stale = Lease {
        seq: item.lease.seq,
        token: item.lease.token.wrapping_add(1),
    };
    assert!(!store.renew_inbox(stale, later).await.unwrap());
    let c = Completion {
        outbox: vec![reply("l1:0", "L", "hi")],
        state: vec![],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    let out = store.claim_outbox(now, short, 1).await.unwrap().remove(0);
    assert!(store.renew_outbox(out.lease, later + short).await.unwrap());
    assert!(
        store
            .claim_outbox(later, short, 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .renew_outbox(
                Lease {
                    seq: out.lease.seq,
                    token: 0
                },
                later
            )
            .await
            .unwrap()
    );
}

pub(crate) async fn delivery_watermarks(store: &dyn Store) {
    let rows = [
        reply("w:1", "W", "one"),
        reply("w:2", "W", "two"),
        reply("x:1", "X", "other conversation"),
    ];
    store.enqueue_outbound(&rows).await.unwrap();
    // Heads go out in sequence order: w:1, then w:2 (before X's x:1).
    assert_eq!(send_head(store, "w1").await, "w:1");
    assert_eq!(send_head(store, "w2").await, "w:2");
    let watermark = SystemTime::now() + Duration::from_secs(1);
    // Every sent row of W up to the watermark; x:1 is another conversation (and pending).
    let changed = store
        .record_delivery_watermark("mem/W", watermark, DeliveryStatus::Delivered)
        .await
        .unwrap();
    assert_eq!(changed, 2);
    let sent_in_w = 2;
    assert_eq!(
        store.outbox_status("w:1").await.unwrap().unwrap().delivery,
        Some(DeliveryStatus::Delivered)
    );
    assert_eq!(
        store.outbox_status("x:1").await.unwrap().unwrap().delivery,
        None
    );
    // Read advances; Delivered again does not go back.
    assert_eq!(
        store
            .record_delivery_watermark("mem/W", watermark, DeliveryStatus::Read)
            .await
            .unwrap(),
        sent_in_w
    );
    assert_eq!(
        store
            .record_delivery_watermark("mem/W", watermark, DeliveryStatus::Delivered)
            .await
            .unwrap(),
        0
    );
    // A watermark before the sends changes nothing.
    let early = SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(
        store
            .record_delivery_watermark("mem/W", early, DeliveryStatus::Failed)
            .await
            .unwrap(),
        0
    );
}

pub(crate) async fn pruning_keeps_pending_and_dead_rows(store: &dyn Store) {
    store
        .insert_inbound(&[ev("p1", "P"), ev("p2", "P"), ev("p3", "Z")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let item = store.claim_inbox(now, LEASE, 1).await.unwrap().remove(0);
    assert_eq!(item.event.id.as_str(), "p1");
    let c = Completion {
        outbox: vec![reply("p1:0", "P", "hi")],
        state: vec![],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    send_head(store, "pm1").await;
    let z = store.claim_inbox(now, LEASE, 10).await.unwrap();
    let z = z.iter().find(|i| i.event.id.as_str() == "p3").unwrap();
    assert!(store.dead_letter_inbox(z.lease, "dead").await.unwrap());
    // Nothing is old enough yet.
    let p = store
        .prune(now - Duration::from_secs(60), now)
        .await
        .unwrap();
    assert_eq!((p.inbox, p.outbox), (0, 0));
    // Everything handled or sent before "later" goes; p2 (pending) and p3 (dead) stay.
    let later = SystemTime::now() + Duration::from_secs(1);
    let p = store.prune(later, later).await.unwrap();
    assert_eq!((p.inbox, p.outbox), (1, 1));
    let s = store.stats().await.unwrap();
    assert_eq!((s.inbox_pending, s.inbox_done, s.dead), (1, 0, 1));
    assert_eq!((s.outbox_pending, s.outbox_sent), (0, 0));
    assert!(store.outbox_status("p1:0").await.unwrap().is_none());
    assert_eq!(store.dead_letters(10).await.unwrap().len(), 1);
    // Past the dedupe horizon the same event id is new again; within it, still a duplicate.
    assert!(matches!(
        store.insert_inbound(&[ev("p1", "P")]).await.unwrap()[0],
        Inserted::New(_)
    ));
    assert_eq!(
        store.insert_inbound(&[ev("p2", "P")]).await.unwrap(),
        vec![Inserted::Duplicate]
    );
    // A delivery receipt for a pruned message changes nothing.
    let ch = ChannelName::new("mem").unwrap();
    assert_eq!(
        store
            .record_delivery(&ch, &[MessageId::new("pm1").unwrap()], DeliveryStatus::Read)
            .await
            .unwrap(),
        0
    );
}

macro_rules! store_tests {
    ($modname:ident, $make:expr) => {
        mod $modname {
            #[allow(unused_imports)]
            use super::*;
            store_tests!(@one $make; dedupe_and_insert, claims_keep_conversation_order,
                expired_leases_are_reclaimed, completion_writes_outbox_and_state,
                retries_and_dead_letters, interrupted_sends_are_flagged, state_outside_handlers,
                enqueue_outside_handlers, leases_are_renewed, delivery_watermarks,
                pruning_keeps_pending_and_dead_rows, attempts_make_rows_uncertain,
                partial_sends_map_receipts, proofs_are_durable_and_complete_rows,
                deferred_sends_use_no_attempt,
                completion_with_a_taken_outbox_key_writes_nothing);
        }
    };
    (@one $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make.await;
                super::super::$name(&*store).await;
            }
        )*
    };
}

async fn memory() -> (std::sync::Arc<dyn Store>, ()) {
    (std::sync::Arc::new(MemoryStore::new()), ())
}

async fn sqlite() -> (std::sync::Arc<dyn Store>, TempDb) {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 3);
    (std::sync::Arc::new(store), db)
}

/// A file written by a version-2 engine that died mid-send migrates to version 3 with the row
/// uncertain: the new engine reconciles it instead of trusting it was never sent.
#[tokio::test]
async fn sqlite_v2_rows_in_flight_migrate_uncertain() {
    use sqlx::{ConnectOptions, Connection};
    let db = TempDb::new();
    {
        let opts: sqlx::sqlite::SqliteConnectOptions = db.url().parse().unwrap();
        let mut conn = opts.create_if_missing(true).connect().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE sb_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
             INSERT INTO sb_migrations VALUES (1, 0), (2, 0);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for sql in [
            include_str!("migrations/0001_init.sql"),
            include_str!("migrations/0002_retention_receipts.sql"),
        ] {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        let to = serde_json::to_string(&ConversationRef::parse("mem", "V").unwrap()).unwrap();
        let msg = serde_json::to_string(&OutboundMessage::text("hi").unwrap()).unwrap();
        for (key, inflight) in [("v:0", 1), ("w:0", 0)] {
            sqlx::query(
                "INSERT INTO outbox (key, channel, conversation, target, message, created_at,
                                     inflight, token, lease_until)
                 VALUES (?, 'mem', ?, ?, ?, 1000, ?, 7, 99)",
            )
            .bind(key)
            .bind(format!("mem/{key}"))
            .bind(&to)
            .bind(&msg)
            .bind(inflight)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();
    }
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 3);
    store.recover().await.unwrap();
    let mut items = store
        .claim_outbox(SystemTime::now(), LEASE, 10)
        .await
        .unwrap();
    items.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(items.len(), 2);
    assert!(items[0].uncertain, "{:?}", items[0]);
    assert_eq!(items[0].first_attempt_at.map(millis), Some(1000));
    assert!(items[0].last_attempt_at.is_some());
    assert!(!items[1].uncertain);
    assert_eq!(items[1].first_attempt_at, None);
}

/// A database file removed on drop.
pub(crate) struct TempDb(std::path::PathBuf);

impl TempDb {
    pub(crate) fn new() -> Self {
        let p = std::env::temp_dir().join(format!(
            "switchboard-test-{}-{}.db",
            std::process::id(),
            fastrand::u64(..)
        ));
        TempDb(p)
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

mod suites {
    use super::*;
    store_tests!(memory_store, memory());
    store_tests!(sqlite_store, sqlite());
}

#[tokio::test]
async fn sqlite_lock_is_shared_in_process_and_released_with_the_last_store() {
    // (Another process is refused: tests/engine_store_lock.rs.)
    let db = TempDb::new();
    let lock = format!("{}.lock", db.0.display());
    let first = SqliteStore::connect(&db.url()).await.unwrap();
    let again = SqliteStore::connect(&db.url()).await.unwrap();
    let probe = std::fs::File::open(&lock).unwrap();
    assert!(probe.try_lock().is_err(), "the lock is held");
    drop(first);
    assert!(probe.try_lock().is_err(), "held while a store lives");
    drop(again);
    assert!(probe.try_lock().is_ok(), "released with the last store");
}

#[tokio::test]
async fn sqlite_survives_reopen_and_recovers_leases() {
    let db = TempDb::new();
    {
        let s = SqliteStore::connect(&db.url()).await.unwrap();
        s.insert_inbound(&[ev("r1", "R")]).await.unwrap();
        let claimed = s.claim_inbox(SystemTime::now(), LEASE, 1).await.unwrap();
        assert_eq!(claimed.len(), 1);
    }
    let s = SqliteStore::connect(&db.url()).await.unwrap();
    assert!(
        s.claim_inbox(SystemTime::now(), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    s.recover().await.unwrap();
    let again = s.claim_inbox(SystemTime::now(), LEASE, 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(
        s.insert_inbound(&[ev("r1", "R")]).await.unwrap(),
        vec![Inserted::Duplicate]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_commit_dedupes_concurrent_callers() {
    let db = TempDb::new();
    let store = std::sync::Arc::new(SqliteStore::connect(&db.url()).await.unwrap());
    // 40 callers at once; keys k0..k9 are each delivered by 4 of them (retry storms), u{i} once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let shared = format!("k{}", i % 10);
            let own = format!("u{i}");
            let r = store
                .insert_inbound(&[ev(&shared, "G"), ev(&own, "G")])
                .await
                .unwrap();
            (shared, r)
        }));
    }
    let mut new_shared = std::collections::HashMap::new();
    let mut seqs = Vec::new();
    for t in tasks {
        let (shared, r) = t.await.unwrap();
        if let Inserted::New(seq) = r[0] {
            *new_shared.entry(shared).or_insert(0) += 1;
            seqs.push(seq);
        }
        match r[1] {
            Inserted::New(seq) => seqs.push(seq),
            Inserted::Duplicate => panic!("a unique event was reported duplicate"),
        }
    }
    assert_eq!(new_shared.len(), 10);
    assert!(new_shared.values().all(|&n| n == 1), "{new_shared:?}");
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 50);
    assert_eq!(store.stats().await.unwrap().inbox_pending, 50);
}

#[tokio::test]
async fn sqlite_batches_of_any_size_keep_arrival_order() {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    // 1 and 64 rows: one VALUES statement of that size; 65 and 300: the JSON-array statement.
    for (n, size) in [1_usize, 64, 65, 300].into_iter().enumerate() {
        let events: Vec<_> = (0..size).map(|i| ev(&format!("b{n}-{i}"), "B")).collect();
        let mut with_repeat = events.clone();
        with_repeat.push(events[0].clone());
        let r = store.insert_inbound(&with_repeat).await.unwrap();
        assert_eq!(r.len(), size + 1);
        assert_eq!(r[size], Inserted::Duplicate, "size {size}");
        let seqs: Vec<i64> = r[..size]
            .iter()
            .map(|x| match x {
                Inserted::New(s) => *s,
                Inserted::Duplicate => panic!("size {size}: a new event reported duplicate"),
            })
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "size {size}: {seqs:?}"
        );
        // Offered again: all duplicates.
        let again = store.insert_inbound(&events).await.unwrap();
        assert!(
            again.iter().all(|x| *x == Inserted::Duplicate),
            "size {size}"
        );
    }
    let claimed = store
        .claim_inbox(SystemTime::now(), LEASE, 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].event.id.as_str(), "b0-0");
    assert_eq!(
        store.stats().await.unwrap().inbox_pending,
        1 + 64 + 65 + 300
    );
}
