//! Conversation state outside handlers, and pruning.

use super::prelude::*;

/// Conversation state written and deleted outside handlers.
pub async fn state_outside_handlers(store: &dyn Store) {
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

/// Pruning deletes handled and sent rows past retention, never pending rows or dead letters.
pub async fn pruning_keeps_pending_and_dead_rows(store: &dyn Store) {
    store
        .insert_inbound(&[ev("p1", "P"), ev("p2", "P"), ev("p3", "Z")])
        .await
        .unwrap();
    let now = SystemTime::now();
    let item = store
        .claim_inbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(item.event.id.as_str(), "p1");
    let c = Completion {
        outbox: vec![reply("p1:0", "P", "hi")],
        state: vec![],
    };
    assert!(store.complete_inbox(item.lease, c).await.unwrap());
    send_head(store, "pm1").await;
    let z = store.claim_inbox(Claim::new(now, LEASE, 10)).await.unwrap();
    let z = z.iter().find(|i| i.event.id.as_str() == "p3").unwrap();
    assert!(store.dead_letter_inbox(z.lease, "dead").await.unwrap());
    // Nothing is old enough yet.
    let p = store
        .prune(Prune::new(now - Duration::from_secs(60), now))
        .await
        .unwrap();
    assert_eq!((p.inbox, p.outbox), (0, 0));
    // Everything handled or sent before "later" goes; p2 (pending) and p3 (dead) stay.
    let later = SystemTime::now() + Duration::from_secs(1);
    let p = store.prune(Prune::new(later, later)).await.unwrap();
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
