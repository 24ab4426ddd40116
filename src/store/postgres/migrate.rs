//! The embedded migrations, applied at connect under an advisory lock so that instances
//! starting together do not race; a database whose schema is newer than this binary is refused.

use std::time::SystemTime;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection, Row};
use switchboard_core::{Error, ErrorKind, Result};

use super::db;
use crate::store::millis;

/// Embedded migrations: (version, SQL). Applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    // 2–4 are the SQLite store's own history (version 1 here is its version 4's model); 5
    // onwards are numbered alike on both stores.
    (5, include_str!("migrations/0005_hardening.sql")),
    (6, include_str!("migrations/0006_contacts.sql")),
    (7, include_str!("migrations/0007_webchat.sql")),
    (8, include_str!("migrations/0008_forward.sql")),
    (9, include_str!("migrations/0009_installs.sql")),
    (10, include_str!("migrations/0010_webchat_retention.sql")),
];

/// The schema version this binary creates and understands.
pub const SCHEMA_VERSION: i64 = 10;

/// The advisory lock every instance takes to migrate (one at a time, whatever the schema).
const LOCK: i64 = 0x5357_4254_4d49_4752; // "SWBTMIGR"

/// Applies the missing migrations in `schema` (created if missing; `None`: the connection's
/// current schema) and returns the schema's name.
pub(super) async fn migrate(pool: &PgPool, schema: Option<&str>) -> Result<String> {
    let mut conn = pool.acquire().await.map_err(db("migrate"))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db("migrate: advisory lock"))?;
    let result = locked(&mut conn, schema).await;
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *conn)
        .await;
    if unlock.is_err() {
        // Never hand a connection that may still hold the lock back to the pool.
        conn.detach().close().await.ok();
    }
    result
}

async fn locked(conn: &mut PgConnection, schema: Option<&str>) -> Result<String> {
    if let Some(schema) = schema {
        // Checked by the caller: a plain identifier.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .execute(&mut *conn)
        .await
        .map_err(db("migrate: create schema"))?;
    }
    let current: Option<String> = sqlx::query("SELECT current_schema()")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(db("migrate"))?;
    let Some(current) = current else {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            "store: no schema of the search path exists (set store.schema, or create it)",
        ));
    };
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sb_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db("migrate"))?;
    let found = version_on(conn).await?;
    if found > SCHEMA_VERSION {
        return Err(newer(found));
    }
    for (version, sql) in MIGRATIONS {
        if *version <= found {
            continue;
        }
        let mut tx = conn.begin().await.map_err(db("migrate"))?;
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
        sqlx::query("INSERT INTO sb_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(millis(SystemTime::now()))
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
        tx.commit().await.map_err(db("migrate"))?;
    }
    Ok(current)
}

/// The refusal of a schema written by a newer Switchboard.
pub(super) fn newer(found: i64) -> Error {
    Error::new(
        ErrorKind::InvalidConfig,
        format!(
            "store: the database schema is at version {found}, newer than this switchboard \
             binary understands (version {SCHEMA_VERSION}): run a newer switchboard, or point \
             store.url at another database"
        ),
    )
}

async fn version_on(conn: &mut PgConnection) -> Result<i64> {
    sqlx::query("SELECT COALESCE(MAX(version), 0) FROM sb_migrations")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get::<i64, _>(0))
        .map_err(db("schema version"))
}

/// The schema version of the database behind `pool`.
pub(super) async fn version(pool: &PgPool) -> Result<i64> {
    let mut conn = pool.acquire().await.map_err(db("schema version"))?;
    version_on(&mut conn).await
}
