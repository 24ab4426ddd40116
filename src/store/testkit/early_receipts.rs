//! Delivery receipts that arrive before their send is recorded (issue 15, item 13).

use super::prelude::*;

fn mem() -> ChannelName {
    ChannelName::new("mem").unwrap()
}

fn id(s: &str) -> MessageId {
    MessageId::new(s).unwrap()
}

/// A receipt that overtakes its send (Twilio's status callback can arrive before the sender
/// records the message SID) is kept, not dropped: it counts 0, and is applied when the send
/// records that id, the most advanced status of those kept winning; one whose send is never
/// recorded goes with the retention. The same for a part sent (a partial send).
pub async fn early_delivery_receipts_are_kept_until_the_send_is_recorded(store: &dyn Store) {
    let now = SystemTime::now();
    let item = claimed_reply(store, "early:0", "E", now).await;
    assert!(store.outbox_attempt(item.lease, now).await.unwrap());
    // Delivered and then the less advanced Sent arrive before the send is recorded.
    for status in [DeliveryStatus::Delivered, DeliveryStatus::Sent] {
        let changed = store
            .record_delivery(&mem(), &[id("m-early")], status)
            .await
            .unwrap();
        assert_eq!(changed, 0, "no row has recorded m-early yet");
    }
    let sent = SentMessage::new(id("m-early"), item.to.clone());
    assert!(
        store
            .outbox_sent(item.lease, &[sent], &[], now)
            .await
            .unwrap()
    );
    let st = store.outbox_status("early:0").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Sent);
    assert_eq!(
        st.delivery,
        Some(DeliveryStatus::Delivered),
        "the receipt that came first is applied when the send is recorded"
    );
    // Applied once: a later, less advanced receipt changes nothing; a more advanced one does.
    let (channel, early) = (mem(), [id("m-early")]);
    let later = |status| store.record_delivery(&channel, &early, status);
    assert_eq!(later(DeliveryStatus::Sent).await.unwrap(), 0);
    assert_eq!(later(DeliveryStatus::Read).await.unwrap(), 1);

    // A part sent of a message still pending finds its early receipt too.
    let item = claimed_reply(store, "early:1", "F", now).await;
    let changed = store
        .record_delivery(&mem(), &[id("m-part")], DeliveryStatus::Read)
        .await
        .unwrap();
    assert_eq!(changed, 0);
    let part = SentMessage::new(id("m-part"), item.to.clone());
    assert!(store.outbox_partial(item.lease, &[part]).await.unwrap());
    let st = store.outbox_status("early:1").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Pending);
    assert_eq!(st.delivery, Some(DeliveryStatus::Read));

    // Another channel's id is another message.
    let other = ChannelName::new("other").unwrap();
    assert_eq!(
        store
            .record_delivery(&other, &[id("m-never")], DeliveryStatus::Failed)
            .await
            .unwrap(),
        0
    );
    // A receipt whose send never comes is pruned with the retention, once.
    let pruned = store
        .prune(Prune::new(now + Duration::from_secs(1), now))
        .await
        .unwrap();
    assert_eq!(pruned.receipts, 1, "{pruned:?}");
    let again = store
        .prune(Prune::new(now + Duration::from_secs(1), now))
        .await
        .unwrap();
    assert_eq!(again.receipts, 0);
}
