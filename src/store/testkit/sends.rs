//! Outbox rows: interrupted and uncertain sends, deferral, partial sends, application sends.

use super::prelude::*;

/// A claim that never recorded an outcome leaves the row interrupted.
pub async fn interrupted_sends_are_flagged(store: &dyn Store) {
    store.insert_inbound(&[ev("i1", "I")]).await.unwrap();
    let now = SystemTime::now();
    let item = store
        .claim_inbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    let c = Completion {
        outbox: vec![reply("i1:0", "I", "hi")],
        state: vec![],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    let first = store
        .claim_outbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(!first.interrupted);
    // The process "dies"; the lease expires.
    let later = now + LEASE + Duration::from_secs(1);
    let second = store
        .claim_outbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(second.interrupted);
    assert!(
        store
            .retry_outbox(second.lease, "rate limited", later)
            .await
            .unwrap()
    );
    let third = store
        .claim_outbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
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

/// A send that began and never ended makes the row uncertain until settled.
pub async fn attempts_make_rows_uncertain(store: &dyn Store) {
    let t0 = SystemTime::now();
    let first = claimed_reply(store, "u:0", "U", t0).await;
    assert!(!first.uncertain && !first.interrupted);
    assert_eq!(first.first_attempt_at, None);
    // A claim that dies before a send begins is interrupted, not uncertain.
    let t1 = t0 + LEASE + Duration::from_secs(1);
    let second = store
        .claim_outbox(Claim::new(t1, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(second.interrupted && !second.uncertain);
    // A send begins (recorded), then the process dies: the next claim is uncertain and knows
    // when the attempt began.
    let a1 = t1 + Duration::from_secs(1);
    assert!(store.outbox_attempt(second.lease, a1).await.unwrap());
    let t2 = t1 + LEASE + Duration::from_secs(5);
    let third = store
        .claim_outbox(Claim::new(t2, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(third.interrupted && third.uncertain);
    assert_eq!(third.first_attempt_at.map(millis), Some(millis(a1)));
    assert_eq!(third.last_attempt_at.map(millis), Some(millis(a1)));
    // The settling claim itself dies: still uncertain.
    let t3 = t2 + LEASE + Duration::from_secs(1);
    let fourth = store
        .claim_outbox(Claim::new(t3, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
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
    let fifth = store
        .claim_outbox(Claim::new(a2, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
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
    let fifth = store
        .claim_outbox(Claim::new(a2, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
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

/// Deferring uses up no attempt and keeps the uncertainty as it was.
pub async fn deferred_sends_use_no_attempt(store: &dyn Store) {
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
    assert!(
        store
            .claim_outbox(Claim::new(now, LEASE, 1))
            .await
            .unwrap()
            .is_empty()
    );
    let st = store.outbox_status("d:0").await.unwrap().unwrap();
    assert_eq!((st.attempts, st.error.as_deref()), (0, Some("paused")));
    let second = store
        .claim_outbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
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
    let third = store
        .claim_outbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(third.attempts, 1);
    assert!(!third.uncertain && !third.interrupted);
    // An uncertain row stays uncertain.
    assert!(
        store
            .retry_outbox_uncertain(third.lease, "answer lost", later)
            .await
            .unwrap()
    );
    let fourth = store
        .claim_outbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(fourth.uncertain);
    assert!(
        store
            .defer_outbox(fourth.lease, "paused", later)
            .await
            .unwrap()
    );
    let fifth = store
        .claim_outbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert!(fifth.uncertain);
    assert_eq!(fifth.attempts, 2);
}

/// The ids of the parts sent before a failure find the row for receipts.
pub async fn partial_sends_map_receipts(store: &dyn Store) {
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

/// Application sends are all or nothing; a repeat of a key is not written again.
pub async fn enqueue_outside_handlers(store: &dyn Store) {
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
