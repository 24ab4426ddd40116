//! A look at a database without changing it (`switchboard check --live`): does it answer, does
//! it take our credentials, which schema version does it hold. Nothing is created or migrated.

use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection, Row};
use switchboard_core::{Error, ErrorKind, Result};

use super::migrate::{SCHEMA_VERSION, newer};
use super::{PgOptions, PgStore, connect_options};
use crate::store::store_error;

/// What [`PgStore::inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// Where it connected: `host:port/database` (no user, no password).
    pub server: String,
    /// The schema the tables live in (or would be created in).
    pub schema: String,
    /// Whether that schema exists yet.
    pub schema_exists: bool,
    /// The schema version found: 0 when no tables exist yet (they are created at start).
    pub version: i64,
}

impl Inspection {
    /// What a start would do: nothing, create the tables, or migrate them.
    pub fn summary(&self) -> String {
        let what = match self.version {
            0 => format!("no tables yet: a start creates them at version {SCHEMA_VERSION}"),
            v if v == SCHEMA_VERSION => format!("schema version {v}, current"),
            v => format!("schema version {v}: a start migrates it to {SCHEMA_VERSION}"),
        };
        let schema = if self.schema_exists {
            self.schema.clone()
        } else {
            format!("{} (created at start)", self.schema)
        };
        format!(
            "PostgreSQL at {} answered: schema {schema}, {what}",
            self.server
        )
    }
}

impl PgStore {
    /// Connects to `url` once (bounded by `options.connect_timeout`, and each statement by the
    /// client-side statement bound) and reads the schema version, without creating or
    /// migrating anything.
    ///
    /// # Errors
    ///
    /// - `InvalidConfig`: a malformed URL or schema, credentials or a database the server
    ///   refuses, or a schema newer than this binary (the message says which, naming the key);
    /// - `Transport`: the server cannot be reached or does not answer in time.
    pub async fn inspect(url: &str, options: PgOptions) -> Result<Inspection> {
        let opts = connect_options(url, &options)?;
        let server = format!(
            "{}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("(the user's database)")
        );
        let silent = |what: &str| {
            store_error(
                what,
                format!(
                    "PostgreSQL at {server} did not answer within {} ms",
                    options.connect_timeout.as_millis()
                ),
            )
        };
        let mut conn = tokio::time::timeout(options.connect_timeout, opts.connect())
            .await
            .map_err(|_| silent("connect"))?
            .map_err(|e| refused_or_unreachable(&server, e))?;
        let found = tokio::time::timeout(
            options.connect_timeout,
            read(&mut conn, options.schema.as_deref()),
        )
        .await
        .map_err(|_| silent("inspect"))?;
        conn.close().await.ok();
        let (schema, schema_exists, version) = found?;
        if version > SCHEMA_VERSION {
            return Err(newer(version));
        }
        Ok(Inspection {
            server,
            schema,
            schema_exists,
            version,
        })
    }
}

/// A refusal by the server (authentication, no such database) is the configuration's problem;
/// anything else (no route, connection refused, TLS) is the network's.
fn refused_or_unreachable(server: &str, e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) => Error::new(
            ErrorKind::InvalidConfig,
            format!("store.url: PostgreSQL at {server} refused the connection: {d}"),
        ),
        _ => store_error(
            "connect",
            format!("PostgreSQL at {server} is unreachable: {e}"),
        ),
    }
}

/// (schema, whether it exists, version found).
async fn read(conn: &mut PgConnection, schema: Option<&str>) -> Result<(String, bool, i64)> {
    let fail = |e: sqlx::Error| store_error("inspect", e);
    let (schema, exists) = match schema {
        Some(s) => {
            let exists: bool =
                sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(s)
                    .fetch_one(&mut *conn)
                    .await
                    .and_then(|r| r.try_get(0))
                    .map_err(fail)?;
            (s.to_owned(), exists)
        }
        None => {
            let current: Option<String> = sqlx::query("SELECT current_schema()")
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(fail)?;
            match current {
                Some(c) => (c, true),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidConfig,
                        "store: no schema of the search path exists (set store.schema, or create it)",
                    ));
                }
            }
        }
    };
    if !exists {
        return Ok((schema, false, 0));
    }
    let table: Option<String> = sqlx::query("SELECT to_regclass($1)::text")
        .bind(format!("\"{}\".sb_migrations", schema.replace('"', "\"\"")))
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(fail)?;
    if table.is_none() {
        return Ok((schema, true, 0));
    }
    // `schema` is a plain identifier (checked by `connect_options`) or the server's own name.
    let version: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(MAX(version), 0) FROM \"{}\".sb_migrations",
        schema.replace('"', "\"\"")
    )))
    .fetch_one(&mut *conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(fail)?;
    Ok((schema, true, version))
}
