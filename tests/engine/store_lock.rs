//! One engine per SQLite file: a store in a second process is refused while the first lives
//! (its `recover` would release the live engine's leases and resend its sends in flight), and
//! the file opens again once the first process is gone, even killed with SIGKILL.
//!
//! The first process is this test binary re-run with `SWITCHBOARD_LOCK_CHILD` set to the file.
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::{ErrorKind, SqliteStore};

const CHILD_ENV: &str = "SWITCHBOARD_LOCK_CHILD";
/// The child's test name inside the `engine` test binary, as `--exact` matches it.
const CHILD_TEST: &str = "store_lock::store_lock_child";

/// The child: opens the store, says so, and waits to be killed.
#[test]
fn store_lock_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let _store = SqliteStore::connect(&format!("sqlite://{db}"))
            .await
            .unwrap();
        std::fs::write(format!("{db}.ready"), b"").unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_file_is_refused() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let db = std::env::temp_dir().join(format!(
        "switchboard-lock-{}-{}.db",
        std::process::id(),
        fastrand::u64(..)
    ));
    let url = format!("sqlite://{}", db.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture"])
        .env(CHILD_ENV, db.display().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = format!("{}.ready", db.display());
    let start = Instant::now();
    while !std::path::Path::new(&ready).exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "child not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = SqliteStore::connect(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string().contains("in use by another engine"),
        "{err}"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let store = SqliteStore::connect(&url).await.unwrap();
    drop(store);
    for suffix in ["", "-wal", "-shm", ".lock", ".ready"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
