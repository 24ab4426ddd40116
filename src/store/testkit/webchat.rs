//! The web chat log, uploads and named secrets ([`store::webchat`](crate::store::webchat)):
//! sequence numbers from 1 that only grow per conversation, idempotent keyed appends,
//! records read back after a cursor, uploads and secrets kept.

use bytes::Bytes;
use serde_json::json;

use super::prelude::*;
use crate::store::{LogAppend, Upload};

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
