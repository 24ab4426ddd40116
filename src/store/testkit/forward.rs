//! The gateway's forwarding queue ([`crate::store::forward`]): dedupe per endpoint, order per
//! (endpoint, conversation), leases, retries, disabled endpoints, dead letters and replays, and
//! synchronous replies written with the delivery.
//!
//! A store without a forwarding queue answers `Unsupported`; these checks then return at once
//! (the gateway refuses to start on such a store). [`forwarding_is_supported`] fails instead,
//! for stores that mean to have one.

use super::prelude::*;
use crate::store::{ForwardFinish, ForwardItem, ForwardOutcome, NewForward};

fn row(endpoint: &str, id: &str, conv: &str) -> NewForward {
    NewForward::new(endpoint, id, conv, format!("{{\"id\":\"{id}\"}}"))
}

/// `false` (and a line on stderr) when the store has no forwarding queue.
async fn supported(store: &dyn Store) -> bool {
    match store.forward_endpoints().await {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            eprintln!("skipped: the store has no forwarding queue ({e})");
            false
        }
        Err(e) => panic!("forward_endpoints: {e}"),
    }
}

async fn claim(store: &dyn Store, now: SystemTime, limit: usize) -> Vec<ForwardItem> {
    store
        .claim_forwards(Claim::new(now, LEASE, limit))
        .await
        .unwrap()
}

async fn finish(
    store: &dyn Store,
    item: &ForwardItem,
    outcome: ForwardOutcome,
    now: SystemTime,
) -> switchboard_core::Result<bool> {
    store
        .finish_forwards(vec![ForwardFinish::new(item.lease, outcome)], now)
        .await
        .unwrap()
        .remove(0)
}

fn delivered() -> ForwardOutcome {
    ForwardOutcome::Delivered {
        replies: Vec::new(),
    }
}

fn ids(items: &[ForwardItem]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.endpoint.clone(), i.id.clone()))
        .collect();
    v.sort();
    v
}

/// The store has a forwarding queue (it does not answer `Unsupported`).
pub async fn forwarding_is_supported(store: &dyn Store) {
    store.forward_endpoints().await.unwrap();
}

/// Events are deduplicated per endpoint and handed out one head per (endpoint, conversation),
/// in order.
pub async fn forwards_deduplicate_and_keep_conversation_order(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let t0 = SystemTime::now();
    let new = store
        .enqueue_forwards(
            &[
                row("app", "e1", "sms/a"),
                row("app", "e2", "sms/a"),
                row("app", "e3", "sms/b"),
                row("crm", "e1", "sms/a"),
                row("app", "e1", "sms/a"),
            ],
            t0,
        )
        .await
        .unwrap();
    assert_eq!(new, vec![true, true, true, true, false]);
    let again = store
        .enqueue_forwards(&[row("app", "e2", "sms/a")], t0)
        .await
        .unwrap();
    assert_eq!(again, vec![false], "a known event is not queued twice");
    let first = claim(store, t0, 10).await;
    assert_eq!(
        ids(&first),
        vec![
            ("app".into(), "e1".into()),
            ("app".into(), "e3".into()),
            ("crm".into(), "e1".into())
        ],
        "one head per (endpoint, conversation); e2 waits for e1"
    );
    let e1 = first
        .iter()
        .find(|i| i.endpoint == "app" && i.id == "e1")
        .unwrap();
    assert_eq!(e1.body, "{\"id\":\"e1\"}");
    assert_eq!(e1.conversation, "sms/a");
    assert_eq!(e1.attempts, 1);
    assert!(
        claim(store, t0, 10).await.is_empty(),
        "leased heads are not handed out twice"
    );
    assert!(finish(store, e1, delivered(), t0).await.unwrap());
    let next = claim(store, t0, 10).await;
    assert_eq!(ids(&next), vec![("app".into(), "e2".into())]);
    let endpoints = store.forward_endpoints().await.unwrap();
    let app = endpoints.iter().find(|e| e.name == "app").unwrap();
    assert_eq!((app.pending, app.dead, app.disabled.clone()), (2, 0, None));
}

/// A lease that runs out is handed out again with a new token; the old one is refused.
pub async fn forward_leases_fence_and_expire(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let t0 = SystemTime::now();
    store
        .enqueue_forwards(&[row("app", "e1", "c")], t0)
        .await
        .unwrap();
    let first = claim(store, t0, 1).await.remove(0);
    let later = t0 + LEASE + Duration::from_secs(1);
    let second = claim(store, later, 1).await.remove(0);
    assert_eq!(second.id, "e1");
    assert_eq!(second.attempts, 2);
    assert_ne!(first.lease, second.lease);
    assert!(
        !finish(store, &first, delivered(), later).await.unwrap(),
        "a lost lease writes nothing"
    );
    assert!(finish(store, &second, delivered(), later).await.unwrap());
    assert!(
        !finish(store, &second, delivered(), later).await.unwrap(),
        "finished once"
    );
}

/// Retries wait for their time; a disabled endpoint hands out nothing until enabled (its
/// claim not counted); a dead letter frees the conversation and a replay queues it again at
/// the end, with the same id and attempts reset.
pub async fn forward_retries_disable_and_dead_letters(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let t0 = SystemTime::now();
    store
        .enqueue_forwards(
            &[
                row("app", "e1", "c"),
                row("app", "e2", "c"),
                row("other", "o1", "d"),
            ],
            t0,
        )
        .await
        .unwrap();
    let items = claim(store, t0, 10).await;
    let e1 = items.iter().find(|i| i.id == "e1").unwrap().clone();
    let o1 = items.iter().find(|i| i.id == "o1").unwrap().clone();
    assert!(finish(store, &o1, delivered(), t0).await.unwrap());
    let at = t0 + Duration::from_secs(5);
    let retry = ForwardOutcome::Retry {
        at,
        error: "HTTP 500".into(),
    };
    assert!(finish(store, &e1, retry, t0).await.unwrap());
    assert!(
        claim(store, t0 + Duration::from_secs(4), 10)
            .await
            .is_empty(),
        "not before its time"
    );
    let e1 = claim(store, at, 10).await.remove(0);
    assert_eq!((e1.id.as_str(), e1.attempts), ("e1", 2));
    // 410: the endpoint is disabled, the row released without counting the claim.
    let gone = ForwardOutcome::Disable {
        reason: "HTTP 410 Gone".into(),
    };
    assert!(finish(store, &e1, gone, at).await.unwrap());
    let endpoints = store.forward_endpoints().await.unwrap();
    let app = endpoints.iter().find(|e| e.name == "app").unwrap();
    assert_eq!(app.disabled.as_deref(), Some("HTTP 410 Gone"));
    assert_eq!(app.pending, 2);
    store
        .enqueue_forwards(&[row("app", "e3", "c2"), row("other", "o2", "d")], at)
        .await
        .unwrap();
    let later = at + Duration::from_secs(3600);
    let only_other = claim(store, later, 10).await;
    assert_eq!(
        ids(&only_other),
        vec![("other".into(), "o2".into())],
        "a disabled endpoint hands out nothing"
    );
    store
        .set_forward_disabled("app", None, later)
        .await
        .unwrap();
    let back = claim(store, later, 10).await;
    assert_eq!(
        ids(&back),
        vec![("app".into(), "e1".into()), ("app".into(), "e3".into())]
    );
    let e1 = back.iter().find(|i| i.id == "e1").unwrap();
    assert_eq!(e1.attempts, 2, "the claim the 410 answered was not counted");
    assert!(
        finish(
            store,
            e1,
            ForwardOutcome::DeadLetter {
                error: "gave up".into()
            },
            later
        )
        .await
        .unwrap()
    );
    let dead = store.forward_dead_letters(Some("app"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (
            dead[0].id.as_str(),
            dead[0].error.as_str(),
            dead[0].conversation.as_str()
        ),
        ("e1", "gave up", "c")
    );
    assert_eq!(dead[0].attempts, 2);
    assert!(
        store
            .forward_dead_letters(Some("other"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .enqueue_forwards(&[row("app", "e1", "c")], later)
            .await
            .unwrap(),
        vec![false],
        "dead letters deduplicate"
    );
    // The dead letter freed the conversation: e2 is its head now.
    let e2 = claim(store, later, 10).await;
    assert_eq!(ids(&e2), vec![("app".into(), "e2".into())]);
    assert_eq!(store.replay_forwards("app", later).await.unwrap(), 1);
    assert!(
        store
            .forward_dead_letters(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        claim(store, later, 10).await.is_empty(),
        "the replayed row waits behind e2"
    );
    assert!(finish(store, &e2[0], delivered(), later).await.unwrap());
    let replayed = claim(store, later, 10).await.remove(0);
    assert_eq!((replayed.id.as_str(), replayed.attempts), ("e1", 1));
    assert_eq!(replayed.body, "{\"id\":\"e1\"}");
}

/// Synchronous replies are written with the delivery, all or nothing: a taken outbox key
/// refuses the finish and leaves the row leased.
pub async fn forward_delivery_writes_replies_atomically(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let t0 = SystemTime::now();
    store
        .enqueue_forwards(&[row("app", "e1", "c1"), row("app", "e2", "c2")], t0)
        .await
        .unwrap();
    let items = claim(store, t0, 10).await;
    let e1 = items.iter().find(|i| i.id == "e1").unwrap();
    let e2 = items.iter().find(|i| i.id == "e2").unwrap();
    let replies = vec![
        reply("gw/e1/0", "c1", "hi"),
        reply("gw/e1/1", "c1", "there"),
    ];
    assert!(
        finish(store, e1, ForwardOutcome::Delivered { replies }, t0)
            .await
            .unwrap()
    );
    for key in ["gw/e1/0", "gw/e1/1"] {
        let status = store.outbox_status(key).await.unwrap().unwrap();
        assert_eq!(status.state, OutboxState::Pending);
    }
    let taken = vec![
        reply("gw/e2/0", "c2", "fresh"),
        reply("gw/e1/0", "c2", "another message"),
    ];
    let refused = finish(store, e2, ForwardOutcome::Delivered { replies: taken }, t0).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(ErrorKind::InvalidMessage)
    );
    assert!(
        store.outbox_status("gw/e2/0").await.unwrap().is_none(),
        "nothing of a refused finish is written"
    );
    assert!(
        finish(store, e2, delivered(), t0).await.unwrap(),
        "the lease was kept"
    );
}

/// Delivered rows keep deduplicating until pruned.
pub async fn delivered_forwards_deduplicate_until_pruned(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let t0 = SystemTime::now();
    store
        .enqueue_forwards(&[row("app", "e1", "c"), row("app", "p1", "p")], t0)
        .await
        .unwrap();
    for item in claim(store, t0, 10).await {
        if item.id == "e1" {
            assert!(finish(store, &item, delivered(), t0).await.unwrap());
        }
    }
    assert_eq!(
        store
            .enqueue_forwards(&[row("app", "e1", "c")], t0)
            .await
            .unwrap(),
        vec![false]
    );
    assert_eq!(
        store.prune_forwards(t0).await.unwrap(),
        0,
        "delivered at t0, not before it"
    );
    let pruned = store
        .prune_forwards(t0 + Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(pruned, 1, "pending rows are never pruned");
    assert_eq!(
        store
            .enqueue_forwards(&[row("app", "e1", "c")], t0)
            .await
            .unwrap(),
        vec![true]
    );
}
