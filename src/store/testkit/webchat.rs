//! The web chat log, uploads and named secrets ([`store::webchat`](crate::store::webchat)):
//! sequence numbers from 1 that only grow per conversation, idempotent keyed appends,
//! records read back after a cursor, retention (pruning from the oldest record on, the highest
//! sequence number pruned remembered), uploads and secrets kept.

use bytes::Bytes;
use serde_json::json;

use super::prelude::*;
use crate::store::{LogAppend, LogRetention, Upload};

fn rec(conv: &str, key: Option<&str>, n: u32) -> LogAppend {
    LogAppend::new(
        conv,
        key.map(str::to_owned),
        json!({ "n": n }),
        SystemTime::now(),
    )
}

/// Sequence numbers start at 1 per conversation and grow; a keyed record is appended once
/// (a repeat answers the first number, also within one call); reads page after a cursor.
pub async fn log_sequences_grow_and_keys_append_once(store: &dyn Store) {
    let seqs = store
        .log_append(&[
            rec("web/a", None, 1),
            rec("web/a", Some("k:0"), 2),
            rec("web/b", None, 3),
            rec("web/a", Some("k:0"), 4),
        ])
        .await
        .unwrap();
    assert_eq!(seqs[0], 1);
    assert!(seqs[1] > seqs[0]);
    assert_eq!(seqs[2], 1, "conversations count on their own");
    assert_eq!(seqs[3], seqs[1], "a repeated key appends nothing");
    let again = store
        .log_append(&[rec("web/a", Some("k:0"), 5)])
        .await
        .unwrap();
    assert_eq!(again, vec![seqs[1]]);
    let next = store.log_append(&[rec("web/a", None, 6)]).await.unwrap();
    assert!(next[0] > seqs[1]);

    let all = store.log_read("web/a", 0, 100).await.unwrap();
    let got: Vec<(u64, serde_json::Value)> =
        all.iter().map(|e| (e.seq, e.event["n"].clone())).collect();
    assert_eq!(
        got,
        vec![
            (seqs[0], json!(1)),
            (seqs[1], json!(2)),
            (next[0], json!(6))
        ]
    );
    let after = store.log_read("web/a", seqs[1], 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![next[0]]
    );
    let limited = store.log_read("web/a", 0, 1).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert!(
        store
            .log_read("web/a", next[0], 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.log_read("web/none", 0, 10).await.unwrap().is_empty());
}

fn at(conv: &str, n: u32, at: SystemTime) -> LogAppend {
    LogAppend::new(conv, Some(format!("k:{n}")), json!({ "n": n }), at)
}

async fn seqs(store: &dyn Store, conv: &str) -> Vec<u64> {
    let all = store.log_read(conv, 0, 10_000).await.unwrap();
    all.iter().map(|e| e.seq).collect()
}

/// Retention prunes a channel's logs only (the conversations `"{channel}/…"`): records older
/// than the cutoff, then all but each conversation's newest `keep`, oldest first and in
/// chunks (more than one here); the highest sequence number pruned is remembered, also once
/// every record is gone, and numbers keep growing after it.
pub async fn log_retention_prunes_the_oldest_and_remembers_how_far(store: &dyn Store) {
    let now = SystemTime::now();
    let old = now - Duration::from_secs(10 * 86_400);
    let mut rows: Vec<LogAppend> = (1..=3).map(|n| at("web/a", n, old)).collect();
    rows.extend((4..=5).map(|n| at("web/a", n, now)));
    rows.extend((1..=2).map(|n| at("web/b", n, old)));
    rows.push(at("other/x", 1, old));
    rows.push(at("web2/y", 1, old));
    rows.extend((1..=2100).map(|n| at("web/d", n, old)));
    store.log_append(&rows).await.unwrap();
    assert_eq!(store.log_pruned("web/a").await.unwrap(), 0);

    let day_ago = now - Duration::from_secs(86_400);
    let ttl = LogRetention::new("web").before(day_ago);
    assert_eq!(store.log_prune(&ttl).await.unwrap(), 3 + 2 + 2100);
    assert_eq!(seqs(store, "web/a").await, vec![4, 5]);
    assert_eq!(store.log_pruned("web/a").await.unwrap(), 3);
    assert!(seqs(store, "web/b").await.is_empty());
    assert_eq!(
        store.log_pruned("web/b").await.unwrap(),
        2,
        "remembered with nothing left"
    );
    assert!(seqs(store, "web/d").await.is_empty());
    assert_eq!(store.log_pruned("web/d").await.unwrap(), 2100);
    for other in ["other/x", "web2/y"] {
        assert_eq!(
            seqs(store, other).await,
            vec![1],
            "{other} is another channel's"
        );
        assert_eq!(store.log_pruned(other).await.unwrap(), 0);
    }
    assert_eq!(store.log_pruned("web/none").await.unwrap(), 0);
    assert_eq!(
        store.log_prune(&ttl).await.unwrap(),
        0,
        "nothing more is old"
    );
    // Numbers keep growing after a pruned log; the key of a kept record still holds.
    let again = store
        .log_append(&[at("web/b", 9, now), at("web/a", 4, now)])
        .await
        .unwrap();
    assert_eq!(again, vec![3, 4]);

    let many: Vec<LogAppend> = (1..=10).map(|n| at("web/c", n, now)).collect();
    store.log_append(&many).await.unwrap();
    let keep = LogRetention::new("web").keep(4);
    assert_eq!(store.log_prune(&keep).await.unwrap(), 6);
    assert_eq!(seqs(store, "web/c").await, vec![7, 8, 9, 10]);
    assert_eq!(store.log_pruned("web/c").await.unwrap(), 6);
    assert_eq!(seqs(store, "web/a").await, vec![4, 5], "under the limit");
    assert_eq!(store.log_pruned("web/a").await.unwrap(), 3);
    assert_eq!(store.log_prune(&keep).await.unwrap(), 0);
    let both = LogRetention::new("web").before(day_ago).keep(1);
    assert_eq!(store.log_prune(&both).await.unwrap(), 1 + 3);
    assert_eq!(seqs(store, "web/a").await, vec![5]);
    assert_eq!(seqs(store, "web/c").await, vec![10]);
    assert_eq!(store.log_pruned("web/c").await.unwrap(), 9);
    assert_eq!(
        store.log_read("web/c", 0, 10).await.unwrap()[0].event["n"],
        json!(10)
    );
}

/// Uploads are kept whole for their conversation; a secret is kept by the first proposer and
/// every later proposal gets it back.
pub async fn uploads_and_secrets_are_kept(store: &dyn Store) {
    let data = Bytes::from((0..=255u8).cycle().take(70_000).collect::<Vec<u8>>());
    let up = Upload::new(
        "u1",
        "web/a",
        "receipt.png",
        "image/png",
        data.clone(),
        SystemTime::now(),
    );
    store.put_upload(&up).await.unwrap();
    let got = store.get_upload("u1").await.unwrap().unwrap();
    assert_eq!(
        (
            got.conversation.as_str(),
            got.filename.as_str(),
            got.mime_type.as_str()
        ),
        ("web/a", "receipt.png", "image/png")
    );
    assert_eq!(got.data, data);
    assert!(store.get_upload("u2").await.unwrap().is_none());

    let first = store.keep_secret("webchat/site", &[1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    let second = store.keep_secret("webchat/site", &[2; 32]).await.unwrap();
    assert_eq!(second, vec![1; 32], "the first secret kept wins");
    let other = store.keep_secret("webchat/other", &[3; 32]).await.unwrap();
    assert_eq!(other, vec![3; 32]);
}
