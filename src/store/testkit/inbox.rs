//! Inbox rows: dedupe, conversation order, leases and their renewal, completion, retries and
//! dead letters.

use super::prelude::*;

/// (channel, event id) is stored once; the same id on another channel is another event.
pub async fn dedupe_and_insert(store: &dyn Store) {
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

/// A claim hands out only heads; a finished lease cannot finish again; the next row follows.
pub async fn claims_keep_conversation_order(store: &dyn Store) {
    store
        .insert_inbound(&[ev("a1", "A"), ev("a2", "A"), ev("b1", "B"), ev("a3", "A")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let first = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|i| i.event.id.as_str()).collect();
    assert_eq!(ids, ["a1", "b1"], "one head per conversation");
    assert!(
        store
            .claim_inbox(Claim::new(now, LEASE, 10))
            .await
            .unwrap()
            .is_empty()
    );
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
    let next = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event.id.as_str(), "a2");
}

/// An expired lease is claimed again (attempts counted), and the first holder is fenced off.
pub async fn expired_leases_are_reclaimed(store: &dyn Store) {
    store.insert_inbound(&[ev("x1", "X")]).await.unwrap();
    let t0 = SystemTime::now();
    let first = store.claim_inbox(Claim::new(t0, LEASE, 10)).await.unwrap();
    assert_eq!(first.len(), 1);
    let later = t0 + LEASE + Duration::from_secs(1);
    let second = store
        .claim_inbox(Claim::new(later, LEASE, 10))
        .await
        .unwrap();
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

/// A completion writes its outbox rows and state; sends, options (also read with a claim) and
/// delivery statuses follow.
pub async fn completion_writes_outbox_and_state(store: &dyn Store) {
    store.insert_inbound(&[ev("m1", "M")]).await.unwrap();
    let now = SystemTime::now();
    let item = store
        .claim_inbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    let c = Completion {
        outbox: vec![reply("m1:0", "M", "one"), reply("m1:1", "M", "two")],
        state: vec![("mem/M".to_owned(), Some(serde_json::json!({"n": 1})))],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    assert_eq!(
        store.get_state("mem/M").await.unwrap(),
        Some(serde_json::json!({"n": 1}))
    );
    let out = store
        .claim_outbox(Claim::new(now, LEASE, 10))
        .await
        .unwrap();
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
    let next = store
        .claim_outbox(Claim::new(now, LEASE, 10))
        .await
        .unwrap();
    assert_eq!(next[0].key, "m1:1");
    // A claimed event carries its conversation's live options, and none once they expire.
    store.insert_inbound(&[ev("m2", "M")]).await.unwrap();
    let m2 = store.claim_inbox(Claim::new(now, LEASE, 1)).await.unwrap();
    assert_eq!(m2[0].options, opts);
    let late = now + Duration::from_secs(61);
    assert!(store.retry_inbox(m2[0].lease, "later", late).await.unwrap());
    let m2 = store.claim_inbox(Claim::new(late, LEASE, 1)).await.unwrap();
    assert!(m2[0].options.is_empty(), "{:?}", m2[0].options);
}

/// A retrying head blocks its conversation until due; a dead letter frees it and is listed.
pub async fn retries_and_dead_letters(store: &dyn Store) {
    store
        .insert_inbound(&[ev("d1", "D"), ev("d2", "D")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let item = store
        .claim_inbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    let later = now + Duration::from_secs(5);
    assert!(store.retry_inbox(item.lease, "boom", later).await.unwrap());
    assert!(
        store
            .claim_inbox(Claim::new(now, LEASE, 10))
            .await
            .unwrap()
            .is_empty(),
        "a retrying head blocks its conversation until it is due"
    );
    let item = store
        .claim_inbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(item.event.id.as_str(), "d1");
    assert_eq!(item.attempts, 2);
    assert!(
        store
            .dead_letter_inbox(item.lease, "gave up")
            .await
            .unwrap()
    );
    let next = store
        .claim_inbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap();
    assert_eq!(next[0].event.id.as_str(), "d2");
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, DeadLetterKind::Inbound);
    assert_eq!(dead[0].key, "d1");
    assert_eq!(dead[0].error, "gave up");
    assert_eq!(dead[0].attempts, 2);
}

/// A completion with an outbox key already taken is refused and writes nothing.
pub async fn completion_with_a_taken_outbox_key_writes_nothing(store: &dyn Store) {
    store
        .enqueue_outbound(&[reply("k:0", "Q", "queued by the app")])
        .await
        .unwrap();
    store.insert_inbound(&[ev("t1", "T")]).await.unwrap();
    let item = store
        .claim_inbox(Claim::new(SystemTime::now(), LEASE, 1))
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

/// Renewed leases are not handed out again; stale leases cannot renew.
pub async fn leases_are_renewed(store: &dyn Store) {
    store.insert_inbound(&[ev("l1", "L")]).await.unwrap();
    let now = SystemTime::now();
    let short = Duration::from_secs(1);
    let item = store
        .claim_inbox(Claim::new(now, short, 1))
        .await
        .unwrap()
        .remove(0);
    let later = now + Duration::from_secs(5);
    assert!(store.renew_inbox(item.lease, later + short).await.unwrap());
    assert!(
        store
            .claim_inbox(Claim::new(later, short, 1))
            .await
            .unwrap()
            .is_empty(),
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
    let out = store
        .claim_outbox(Claim::new(now, short, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(store.renew_outbox(out.lease, later + short).await.unwrap());
    assert!(
        store
            .claim_outbox(Claim::new(later, short, 1))
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
