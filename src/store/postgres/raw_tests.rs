//! A request's raw payload stored once on PostgreSQL (issue 15, item 6; see `store::raw`).

use sqlx::Row;

use crate::store::testkit::LEASE;
use crate::store::{Claim, Completion, PgStore, Prune, Store, StoreExt};
use crate::testkit::{TestSchema, pg_url};

/// 300 actions of one request: the payload is in `inbox_raw` once, the rows hold the events
/// without it, claims give it back, and it is pruned once nothing refers to it.
#[tokio::test]
async fn pg_a_requests_raw_payload_is_stored_once() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let store = PgStore::connect_with(&pg_url(), schema.options())
        .await
        .unwrap();
    let (events, raw) = crate::store::testkit::raw_payloads::one_request(300);
    let raw_len = serde_json::to_string(&raw).unwrap().len() as i64;
    store.insert_inbound(&events).await.unwrap();
    let row = sqlx::query(
        "SELECT (SELECT sum(length(event))::bigint FROM inbox),
                (SELECT count(*) FROM inbox_raw), (SELECT sum(length(raw))::bigint FROM inbox_raw)",
    )
    .fetch_one(&store.core.dialect().pool)
    .await
    .unwrap();
    let (events_len, raws, raws_len): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((raws, raws_len), (1, raw_len), "the payload once");
    assert!(events_len < 301 * 400, "rows hold {events_len} bytes");
    let now = std::time::SystemTime::now();
    while let Some(item) = store
        .claim_inbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .pop()
    {
        let done = Completion {
            outbox: vec![],
            state: vec![],
        };
        assert!(store.complete_inbox(item.lease, done).await.unwrap());
    }
    let later = now + std::time::Duration::from_secs(60);
    let pruned = store.prune(Prune::new(later, later)).await.unwrap();
    assert_eq!(pruned.raw_payloads, 1);
}
