//! The ready queue of conversation heads: one head per conversation per claim, the next row
//! ready once its predecessor finishes, due heads before new ones, dedupe after handling, and
//! batches whose items succeed or fail on their own.

use super::prelude::*;

fn ids(items: &[crate::store::InboxItem]) -> Vec<&str> {
    items.iter().map(|i| i.event.id.as_str()).collect()
}

/// A claim never hands out two rows of one conversation, however large its limit, and leases
/// that run out hand the same heads out again.
pub async fn a_claim_hands_out_one_head_per_conversation(store: &dyn Store) {
    let mut events = Vec::new();
    for n in 0..4 {
        for conv in ["A", "B", "C"] {
            events.push(ev(&format!("{conv}{n}"), conv));
        }
    }
    store.insert_inbound(&events).await.unwrap();
    let now = SystemTime::now();
    let first = store
        .claim_inbox(Claim::new(now, LEASE, 100))
        .await
        .unwrap();
    assert_eq!(ids(&first), ["A0", "B0", "C0"]);
    assert!(
        store
            .claim_inbox(Claim::new(now, LEASE, 100))
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + LEASE + Duration::from_secs(1);
    let again = store
        .claim_inbox(Claim::new(later, LEASE, 100))
        .await
        .unwrap();
    assert_eq!(ids(&again), ["A0", "B0", "C0"]);
    assert!(again.iter().all(|i| i.attempts == 2));
    // The outbox too.
    let rows = [
        reply("o:1", "O", "1"),
        reply("o:2", "O", "2"),
        reply("p:1", "P", "1"),
    ];
    store.enqueue_outbound(&rows).await.unwrap();
    let out = store
        .claim_outbox(Claim::new(now, LEASE, 100))
        .await
        .unwrap();
    let keys: Vec<&str> = out.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["o:1", "p:1"]);
}

/// When a head is handled, dead-lettered or sent, its conversation's next row is ready at
/// once (even while the finished row's retry time is still ahead); when none is left, the
/// conversation has no head.
pub async fn the_next_row_becomes_ready_after_a_finish(store: &dyn Store) {
    store
        .insert_inbound(&[ev("a1", "A"), ev("a2", "A"), ev("a3", "A")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let a1 = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    assert_eq!(ids(&a1), ["a1"]);
    let due = now + Duration::from_secs(3600);
    assert!(store.retry_inbox(a1[0].lease, "later", due).await.unwrap());
    assert!(
        store
            .claim_inbox(Claim::new(now, LEASE, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let a1 = store.claim_inbox(Claim::new(due, LEASE, 10)).await.unwrap();
    assert_eq!(ids(&a1), ["a1"]);
    assert!(store.dead_letter_inbox(a1[0].lease, "dead").await.unwrap());
    let a2 = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    assert_eq!(ids(&a2), ["a2"], "ready at once after a dead letter");
    let done = Completion::default();
    assert!(store.complete_inbox(a2[0].lease, done).await.unwrap());
    let a3 = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    assert_eq!(ids(&a3), ["a3"], "ready at once after a completion");
    let done = Completion::default();
    assert!(store.complete_inbox(a3[0].lease, done).await.unwrap());
    assert!(
        store
            .claim_inbox(Claim::new(due, LEASE, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.stats().await.unwrap().inbox_pending, 0);
    // The outbox: a dead letter, then a send, each frees the next row.
    let rows = [
        reply("o:1", "O", "1"),
        reply("o:2", "O", "2"),
        reply("o:3", "O", "3"),
    ];
    store.enqueue_outbound(&rows).await.unwrap();
    let o1 = claimed_reply_head(store, now).await;
    assert_eq!(o1.key, "o:1");
    assert!(store.dead_letter_outbox(o1.lease, "gone").await.unwrap());
    assert_eq!(send_head(store, "m2").await, "o:2");
    assert_eq!(send_head(store, "m3").await, "o:3");
    assert!(
        store
            .claim_outbox(Claim::new(due, LEASE, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let st = store.stats().await.unwrap();
    assert_eq!((st.outbox_pending, st.outbox_sent), (0, 2));
}

async fn claimed_reply_head(store: &dyn Store, now: SystemTime) -> crate::store::OutboxItem {
    store
        .claim_outbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0)
}

/// Heads whose time came (a due retry, an expired lease) are claimed before heads that are
/// new, so a steady stream of new events cannot starve a retry; new heads go in sequence
/// order.
pub async fn due_heads_are_claimed_before_new_ones(store: &dyn Store) {
    store.insert_inbound(&[ev("r1", "R")]).await.unwrap();
    let now = SystemTime::now();
    let r1 = store.claim_inbox(Claim::new(now, LEASE, 1)).await.unwrap();
    let due = now + Duration::from_secs(1);
    assert!(store.retry_inbox(r1[0].lease, "boom", due).await.unwrap());
    store
        .insert_inbound(&[ev("n1", "N1"), ev("n2", "N2"), ev("n3", "N3")])
        .await
        .unwrap();
    let later = due + Duration::from_secs(1);
    let first = store
        .claim_inbox(Claim::new(later, LEASE, 1))
        .await
        .unwrap();
    assert_eq!(ids(&first), ["r1"]);
    let rest = store
        .claim_inbox(Claim::new(later, LEASE, 10))
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["n1", "n2", "n3"]);
}

/// A handled event leaves the queue but is still a duplicate until pruned; then it is new.
pub async fn handled_events_deduplicate_until_pruned(store: &dyn Store) {
    store.insert_inbound(&[ev("h1", "H")]).await.unwrap();
    let now = SystemTime::now();
    let h1 = store.claim_inbox(Claim::new(now, LEASE, 1)).await.unwrap();
    let done = Completion::default();
    assert!(store.complete_inbox(h1[0].lease, done).await.unwrap());
    let st = store.stats().await.unwrap();
    assert_eq!((st.inbox_pending, st.inbox_done), (0, 1));
    let again = store.insert_inbound(&[ev("h1", "H")]).await.unwrap();
    assert_eq!(again, vec![Inserted::Duplicate]);
    let early = Prune::new(now - Duration::from_secs(60), now);
    assert_eq!(store.prune(early).await.unwrap().inbox, 0);
    let again = store.insert_inbound(&[ev("h1", "H")]).await.unwrap();
    assert_eq!(again, vec![Inserted::Duplicate]);
    let later = SystemTime::now() + Duration::from_secs(1);
    assert_eq!(
        store.prune(Prune::new(later, later)).await.unwrap().inbox,
        1
    );
    let again = store.insert_inbound(&[ev("h1", "H")]).await.unwrap();
    assert!(matches!(again[..], [Inserted::New(_)]), "{again:?}");
}

/// In one batch, an item whose lease was lost writes nothing (no outbox rows, no state) and
/// an item refused for a taken key writes nothing, while the others are applied; the same for
/// outbox updates and renewals.
pub async fn a_batch_with_a_lost_lease_writes_nothing_for_that_row(store: &dyn Store) {
    store
        .insert_inbound(&[
            ev("b1", "B1"),
            ev("b2", "B2"),
            ev("b3", "B3"),
            ev("b4", "B4"),
        ])
        .await
        .unwrap();
    let now = SystemTime::now();
    let items = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    assert_eq!(ids(&items), ["b1", "b2", "b3", "b4"]);
    let lost = Lease::new(items[1].lease.seq, items[1].lease.token.wrapping_add(1));
    let done = |key: &str, conv: &str| {
        InboxOutcome::Done(Completion::new(
            vec![reply(key, conv, "hi")],
            vec![(format!("mem/{conv}"), Some(serde_json::json!(key)))],
        ))
    };
    let batch = vec![
        InboxFinish::new(items[0].lease, done("b1:0", "B1")),
        InboxFinish::new(lost, done("b2:0", "B2")),
        InboxFinish::new(items[2].lease, done("b1:0", "B3")),
        InboxFinish::new(
            items[3].lease,
            InboxOutcome::Retry {
                at: now,
                error: "again".to_owned(),
            },
        ),
    ];
    let answers = store.finish_inbox(batch).await.unwrap();
    assert_eq!(answers.len(), 4);
    assert!(matches!(answers[0], Ok(true)), "{:?}", answers[0]);
    assert!(matches!(answers[1], Ok(false)), "{:?}", answers[1]);
    let refused = answers[2].as_ref().unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidMessage, "{refused}");
    assert!(matches!(answers[3], Ok(true)), "{:?}", answers[3]);
    // The status names where the row goes (the gateway's PATCH and DELETE need it).
    let to = store.outbox_status("b1:0").await.unwrap().unwrap().to;
    assert_eq!(
        to.map(|t| t.conversation.as_str().to_owned()).as_deref(),
        Some("B1")
    );
    assert!(store.outbox_status("b2:0").await.unwrap().is_none());
    assert_eq!(
        store.get_state("mem/B1").await.unwrap(),
        Some(serde_json::json!("b1:0"))
    );
    assert_eq!(store.get_state("mem/B2").await.unwrap(), None);
    assert_eq!(store.get_state("mem/B3").await.unwrap(), None);
    // b2 and b3 are still pending under their real leases; renewals answer per lease.
    let renewed = store
        .renew(
            Queue::Inbox,
            &[items[1].lease, lost, items[2].lease],
            now + LEASE,
        )
        .await
        .unwrap();
    assert_eq!(renewed, [true, false, true]);
    assert_eq!(store.stats().await.unwrap().inbox_pending, 3);
    // Outbox updates: the lost lease changes nothing, the others apply.
    let out = claimed_reply_head(store, now).await;
    let stale = Lease::new(out.lease.seq, out.lease.token.wrapping_add(1));
    let sent = SentMessage::new(MessageId::new("m-b1").unwrap(), out.to.clone());
    let updates = vec![
        OutboxUpdate::new(out.lease, OutboxChange::Attempt { at: now }),
        OutboxUpdate::new(
            stale,
            OutboxChange::Sent {
                messages: vec![sent.clone()],
                options: vec![],
                options_expire: now,
            },
        ),
    ];
    assert_eq!(store.update_outbox(updates).await.unwrap(), [true, false]);
    let st = store.outbox_status("b1:0").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Pending);
    assert_eq!(st.last_attempt_at.map(millis), Some(millis(now)));
    assert!(
        store
            .outbox_sent(out.lease, &[sent], &[], now)
            .await
            .unwrap()
    );
}
