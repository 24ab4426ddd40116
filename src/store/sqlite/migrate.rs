//! The embedded migrations and how they are applied at connect.

use std::time::SystemTime;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};
use switchboard_core::Result;

use super::db;
use crate::store::millis;

/// Embedded migrations: (version, SQL). Applied in order, each in its own transaction.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_retention_receipts.sql")),
    (3, include_str!("../migrations/0003_reconciliation.sql")),
    (4, include_str!("../migrations/0004_heads.sql")),
    (5, include_str!("../migrations/0005_hardening.sql")),
    (6, include_str!("../migrations/0006_contacts.sql")),
    (7, include_str!("../migrations/0007_webchat.sql")),
    (8, include_str!("../migrations/0008_forward.sql")),
    (9, include_str!("../migrations/0009_installs.sql")),
    (10, include_str!("../migrations/0010_webchat_retention.sql")),
];

pub(super) async fn migrate(conn: &mut SqliteConnection) -> Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sb_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db("migrate"))?;
    for (version, sql) in MIGRATIONS {
        let applied: Option<i64> =
            sqlx::query("SELECT version FROM sb_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("migrate"))?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(db("migrate"))?;
        if applied.is_some() {
            continue;
        }
        let mut tx = conn.begin().await.map_err(db("migrate"))?;
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
        sqlx::query("INSERT INTO sb_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(millis(SystemTime::now()))
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
        tx.commit().await.map_err(db("migrate"))?;
    }
    Ok(())
}
