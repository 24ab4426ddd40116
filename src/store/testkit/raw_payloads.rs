//! A request's raw payload stored once (issue 15, item 6).

use serde_json::json;
use switchboard_core::InboundEvent;

use super::prelude::*;

/// The events of one request carrying one raw payload (a Slack `block_actions` with many
/// actions), plus an event with its own.
pub fn one_request(n: usize) -> (Vec<InboundEvent>, serde_json::Value) {
    let raw = json!({
        "type": "block_actions",
        "actions": (0..n).map(|i| json!({"action_id": format!("a{i}"), "value": "x".repeat(120)}))
            .collect::<Vec<_>>(),
    });
    let mut events: Vec<InboundEvent> = (0..n)
        .map(|i| {
            let mut e = ev(&format!("t#{i}"), "RAW");
            e.raw = raw.clone();
            e
        })
        .collect();
    events.push(ev("alone", "RAW"));
    (events, raw)
}

/// Events that share their request's raw payload come back from claims whole (each with the
/// payload), and a dead letter's payload keeps it, however the store keeps it.
pub async fn shared_raw_payloads_come_back_whole(store: &dyn Store) {
    let (events, raw) = one_request(5);
    let inserted = store.insert_inbound(&events).await.unwrap();
    assert!(inserted.iter().all(|i| matches!(i, Inserted::New(_))));
    // A repeat of the request is all duplicates.
    let again = store.insert_inbound(&events).await.unwrap();
    assert!(again.iter().all(|i| *i == Inserted::Duplicate));
    let now = SystemTime::now();
    for (i, expected) in events.iter().enumerate() {
        let item = store
            .claim_inbox(Claim::new(now, LEASE, 1))
            .await
            .unwrap()
            .remove(0);
        // (Times are stored to the millisecond.)
        assert_eq!(item.event.id, expected.id);
        assert_eq!(item.event.kind, expected.kind);
        assert_eq!(
            item.event.raw, expected.raw,
            "event {i} with its raw payload"
        );
        if i == 2 {
            assert!(store.dead_letter_inbox(item.lease, "boom").await.unwrap());
        } else {
            let done = Completion {
                outbox: vec![],
                state: vec![],
            };
            assert!(store.complete_inbox(item.lease, done).await.unwrap());
        }
    }
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].payload["raw"], raw,
        "the dead letter keeps its raw payload"
    );
}
