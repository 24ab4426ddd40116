//! The one-round-trip drain commit ([`drain`](super::drain)) against a real server: inserts
//! through one instance race completions and claims through two others on the same few
//! conversations, so an insert often holds a head a completion is finishing. Every event is
//! handled once, in its conversation's order, and none is left without a head.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::store::testkit::{LEASE, event as ev};
use crate::store::{Claim, Completion, InboxFinish, InboxOutcome, PgStore, Store};
use crate::testkit::{TestSchema, pg_url};

const CONVERSATIONS: usize = 4;
const PER: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_inserts_racing_drain_commits_leave_no_row_behind() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let connect = || async { PgStore::connect_with(&pg_url(), schema.options()).await };
    let writer = Arc::new(connect().await.unwrap());
    let drainers = [
        Arc::new(connect().await.unwrap()),
        Arc::new(connect().await.unwrap()),
    ];
    let inserted = Arc::new(AtomicBool::new(false));
    let inserting = {
        let (writer, inserted) = (writer.clone(), inserted.clone());
        tokio::spawn(async move {
            for i in 0..PER {
                let events: Vec<_> = (0..CONVERSATIONS)
                    .map(|c| ev(&format!("e{c}-{i:03}"), &format!("C{c}")))
                    .collect();
                writer.insert_inbound(&events).await.unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            inserted.store(true, Ordering::SeqCst);
        })
    };
    let handled = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut tasks = Vec::new();
    for store in drainers.iter().chain(drainers.iter()) {
        let (store, handled, inserted) = (store.clone(), handled.clone(), inserted.clone());
        tasks.push(tokio::spawn(async move {
            let mut idle = 0;
            // Until the inserts are over and a claim found nothing for a while.
            while idle < 40 || !inserted.load(Ordering::SeqCst) {
                let items = store
                    .claim_inbox(Claim::new(SystemTime::now(), LEASE, 3))
                    .await
                    .unwrap();
                if items.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                let finishes = items
                    .iter()
                    .map(|i| {
                        handled.lock().unwrap().push((
                            i.event.conversation.conversation.to_string(),
                            i.event.id.as_str().to_owned(),
                        ));
                        InboxFinish::new(i.lease, InboxOutcome::Done(Completion::default()))
                    })
                    .collect();
                let done = store.finish_inbox(finishes).await.unwrap();
                assert!(done.iter().all(|d| matches!(d, Ok(true))), "{done:?}");
            }
        }));
    }
    inserting.await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let handled = handled.lock().unwrap().clone();
    assert_eq!(handled.len(), CONVERSATIONS * PER, "each event once");
    let mut by_conv: HashMap<&str, Vec<&str>> = HashMap::new();
    for (c, e) in &handled {
        by_conv.entry(c).or_default().push(e);
    }
    for (c, events) in by_conv {
        let mut sorted = events.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(events, sorted, "{c}: once each, in order");
    }
    assert_eq!(writer.stats().await.unwrap().inbox_pending, 0);
}
