//! A PostgreSQL schema of a test's own (features `testkit` and `postgres`).

use crate::store::PgOptions;

use super::require_service;

/// Where the tests find PostgreSQL (this machine's, and CI's).
pub const PG_ADDR: &str = "127.0.0.1:5432";

/// The test database's URL: `SWITCHBOARD_TEST_PG_URL`, else
/// `postgres://postgres@127.0.0.1:5432/test` (trust authentication).
pub fn pg_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| format!("postgres://postgres@{PG_ADDR}/test"))
}

/// A schema of a test's own in the test database (a fresh random name; the store creates
/// it), dropped with everything in it when this is dropped. Point a store at it with
/// [`options`](Self::options), or a config with `[store] schema = name`.
///
/// ```no_run
/// # async fn test() {
/// use switchboard::testkit::TestSchema;
/// let Some(schema) = TestSchema::new().await else { return }; // skipped without PostgreSQL
/// let store = switchboard::store::PgStore::connect_with(
///     &switchboard::testkit::pg_url(),
///     schema.options(),
/// )
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct TestSchema {
    name: String,
    url: String,
}

impl TestSchema {
    /// A fresh schema name, or `None` where PostgreSQL is not reachable (after
    /// [`require_service`] printed the skip line; it panics instead where services are
    /// required).
    pub async fn new() -> Option<TestSchema> {
        if !require_service("PostgreSQL", PG_ADDR).await {
            return None;
        }
        Some(TestSchema {
            name: format!("sbtest_{:016x}", fastrand::u64(..)),
            url: pg_url(),
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Store options with this schema.
    pub fn options(&self) -> PgOptions {
        PgOptions::default().with_schema(self.name.clone())
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // A runtime of its own: a drop may run inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
            .map_err(|e| e.to_string())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}", self.name);
        }
    }
}
