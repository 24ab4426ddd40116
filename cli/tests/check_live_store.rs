//! `switchboard check --live` with a PostgreSQL store: the database must answer, take the
//! credentials and hold a schema this binary understands; its version is reported and nothing
//! is created. Unreachable: exit 1; refused or newer: exit 2, naming what is wrong.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (trust, database `test`) for the first tests: skipped
//! without it, failed without it where `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use switchboard::store::PgStore;
use switchboard::store::postgres::SCHEMA_VERSION;
use switchboard::testkit::{TestSchema, pg_url};

fn check_live(name: &str, store: &str) -> (Option<i32>, String) {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "switchboard-check-store-{}-{name}.toml",
        std::process::id()
    ));
    let config = format!("{store}\n[channels.mem]\nprovider = 'memory'\nsigning_secret = 'x'\n");
    std::fs::write(&path, config).unwrap();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--live", "--config", path.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn pg_store(schema: &str) -> String {
    format!("[store]\nurl = '{}'\nschema = '{schema}'\n", pg_url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_reports_the_schema_version_and_creates_nothing() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    let (code, t) = check_live("fresh", &pg_store(schema.name()));
    assert_eq!(code, Some(0), "{t}");
    assert!(
        t.contains("store: PostgreSQL at 127.0.0.1:5432/test answered"),
        "{t}"
    );
    assert!(
        t.contains("(created at start)") && t.contains("no tables yet"),
        "{t}"
    );
    // Nothing was created: the store still finds nothing to migrate from.
    let found = PgStore::inspect(&pg_url(), schema.options()).await.unwrap();
    assert!(!found.schema_exists, "{found:?}");

    let store = PgStore::connect_with(&pg_url(), schema.options())
        .await
        .unwrap();
    drop(store);
    let (code, t) = check_live("current", &pg_store(schema.name()));
    assert_eq!(code, Some(0), "{t}");
    let want = format!(
        "schema {}, schema version {SCHEMA_VERSION}, current",
        schema.name()
    );
    assert!(t.contains(&want), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_refuses_a_newer_schema() {
    let Some(schema) = TestSchema::new().await else {
        return;
    };
    drop(
        PgStore::connect_with(&pg_url(), schema.options())
            .await
            .unwrap(),
    );
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_url())
        .await
        .unwrap();
    let sql = format!(
        "INSERT INTO {}.sb_migrations (version, applied_at) VALUES ({}, 0)",
        schema.name(),
        SCHEMA_VERSION + 1
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, t) = check_live("newer", &pg_store(schema.name()));
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("newer than this switchboard"), "{t}");
    assert!(
        t.contains(&format!("version {}", SCHEMA_VERSION + 1)),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_live_refused_credentials_are_a_config_problem() {
    let Some(_schema) = TestSchema::new().await else {
        return;
    };
    let store = "[store]\nurl = 'postgres://postgres@127.0.0.1:5432/no_such_database_sb'\n";
    let (code, t) = check_live("refused", store);
    assert_eq!(code, Some(2), "{t}");
    assert!(
        t.contains("store.url: PostgreSQL at 127.0.0.1:5432/no_such_database_sb refused"),
        "{t}"
    );
}

#[test]
fn check_live_an_unreachable_postgres_is_a_runtime_failure() {
    // Nothing listens on port 1; the password is never printed.
    let store = "[store]\nurl = 'postgres://sb:secret@127.0.0.1:1/db'\nconnect_timeout = '2s'\n";
    let (code, t) = check_live("unreachable", store);
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains("PostgreSQL at 127.0.0.1:1/db is unreachable"),
        "{t}"
    );
    assert!(!t.contains("secret"), "{t}");
}
