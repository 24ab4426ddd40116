//! Keyed send proofs and delivery watermarks.

use super::prelude::*;

fn proof(key: &str, part: u32, parts: u32, id: &str) -> SendProof {
    SendProof {
        key: key.to_owned(),
        channel: ChannelName::new("mem").unwrap(),
        part,
        parts,
        message_id: MessageId::new(id).unwrap(),
    }
}

/// Keyed proofs are kept per part; the last one makes a pending row ready at once.
pub async fn proofs_are_durable_and_complete_rows(store: &dyn Store) {
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
    assert!(
        store
            .claim_outbox(Claim::new(now, LEASE, 1))
            .await
            .unwrap()
            .is_empty()
    );
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
    let again = store.claim_outbox(Claim::new(now, LEASE, 1)).await.unwrap();
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
        .prune(Prune::new(now + Duration::from_secs(1), now))
        .await
        .unwrap();
    assert_eq!(pruned.proofs, 3);
    assert!(store.proofs("k:0").await.unwrap().is_empty());
}

/// A watermark advances every sent row of its conversation up to it, never back.
pub async fn delivery_watermarks(store: &dyn Store) {
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
