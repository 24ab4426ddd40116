//! The writer's connection: rusqlite, on the writer's own thread
//! ([`Writer::start_on_thread`](crate::store::sql::Writer::start_on_thread)), so a whole group
//! commit runs there in one go.
//! Through sqlx every statement was a command sent to sqlx's SQLite thread and every row it
//! returned came back on a channel, one wake-up of the other thread each (load/README.md,
//! "Statements that cross sqlx's SQLite thread less"). rusqlite links the same SQLite
//! (`libsqlite3-sys`, one version in the tree, bundled) that sqlx's pool reads through.
//!
//! Statements are prepared once and cached; parameters bind by name as sqlx binds them (`$n`
//! and `?n` are parameter n, so a statement may name them in any order).

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Statement};
use sqlx::sqlite::SqliteConnectOptions;
use switchboard_core::Result;

use super::Synchronous;
use crate::store::sql::{Param, SqlRow, db};
use crate::store::store_error;

/// Statements the writer keeps prepared (every statement it runs fits).
const CACHED_STATEMENTS: usize = 256;

/// Opens the writer's connection on the file `opts` names, with the settings the store's sqlx
/// connections have: WAL, `synchronous`, a 10 s busy timeout, temporary tables in memory, a
/// 64 MiB page cache, no automatic checkpoints (the checkpointer runs them beside the writer),
/// foreign keys enforced (sqlx's default).
pub(super) fn open(opts: &SqliteConnectOptions, synchronous: Synchronous) -> Result<Connection> {
    let file = opts.get_filename();
    let name = file.to_string_lossy();
    let mut flags = OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE;
    // sqlx opens `sqlite::memory:` as a shared-cache in-memory database of this name.
    flags |= if name.starts_with("file:sqlx-in-memory-") {
        OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE
    } else {
        OpenFlags::SQLITE_OPEN_PRIVATE_CACHE
    };
    let conn = Connection::open_with_flags(file, flags).map_err(db("open"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db("open"))?;
    let sync = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = {sync};
         PRAGMA temp_store = memory; PRAGMA cache_size = {WRITER_CACHE_KIB};
         PRAGMA wal_autocheckpoint = 0;"
    ))
    .map_err(db("open"))?;
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(conn)
}

/// The writer connection's page cache, in KiB as `PRAGMA cache_size` takes it (negative):
/// 8 MiB, not the read connections' 64 MiB. A commit after a B-tree split that reordered
/// sibling pages (SQLite parks a page at the lock-byte page number, 262,145 with 4 KiB pages,
/// while it swaps them) walks the whole page cache to drop that page again
/// (`pcache1TruncateUnsafe`): 7% of the end-to-end server's samples with a 64 MiB cache of
/// 5,700 pages, growing with the cache (load/README.md, "End to end: the policy read, the
/// allocator and the writer's page cache"). The writer's working set (the queues' right
/// edges, the heads, the indexes' inner pages) fits in 8 MiB; a 2 MiB cache lost 10% of
/// ingest by its third round.
const WRITER_CACHE_KIB: i32 = -8192;

/// A row the writer read: its statement's column names and its values.
#[derive(Debug, Clone)]
pub(crate) struct NativeRow {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl NativeRow {
    /// Column `i`'s value.
    pub(super) fn at(&self, i: usize) -> Result<&Value> {
        self.values
            .get(i)
            .ok_or_else(|| store_error("row", format!("no column {i}")))
    }

    /// Column `i` as an integer.
    pub(super) fn int_at(&self, i: usize) -> Result<i64> {
        int(self.at(i)?).ok_or_else(|| store_error("row", format!("column {i} is not an integer")))
    }

    /// Column `i` as text.
    pub(super) fn text_at(&self, i: usize) -> Result<&str> {
        match self.at(i)? {
            Value::Text(s) => Ok(s),
            _ => Err(store_error("row", format!("column {i} is not text"))),
        }
    }

    /// Column `i` as text, or `None` when it is NULL.
    pub(super) fn text_opt_at(&self, i: usize) -> Result<Option<&str>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            _ => Err(store_error("row", format!("column {i} is not text"))),
        }
    }

    fn named(&self, col: &str) -> Result<&Value> {
        self.names
            .iter()
            .position(|n| n == col)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| store_error("row", format!("no column {col}")))
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(n) => Some(*n),
        Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

fn mismatch(col: &str, what: &str) -> switchboard_core::Error {
    store_error("row", format!("column {col} is not {what}"))
}

impl SqlRow for NativeRow {
    fn int(&self, col: &str) -> Result<i64> {
        int(self.named(col)?).ok_or_else(|| mismatch(col, "an integer"))
    }
    fn int_opt(&self, col: &str) -> Result<Option<i64>> {
        match self.named(col)? {
            Value::Null => Ok(None),
            v => int(v).map(Some).ok_or_else(|| mismatch(col, "an integer")),
        }
    }
    fn text(&self, col: &str) -> Result<String> {
        self.text_opt(col)?.ok_or_else(|| mismatch(col, "text"))
    }
    fn text_opt(&self, col: &str) -> Result<Option<String>> {
        match self.named(col)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            Value::Integer(n) => Ok(Some(n.to_string())),
            Value::Real(f) => Ok(Some(f.to_string())),
            Value::Blob(b) => String::from_utf8(b.clone())
                .map(Some)
                .map_err(|_| mismatch(col, "text")),
        }
    }
    fn flag(&self, col: &str) -> Result<bool> {
        int(self.named(col)?)
            .map(|n| n != 0)
            .ok_or_else(|| mismatch(col, "a flag"))
    }
    fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        match self.named(col)? {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.clone().into_bytes()),
            _ => Err(mismatch(col, "bytes")),
        }
    }
}

/// Binds `params` to `stmt`: parameter `$n` or `?n` is `params[n - 1]`, an anonymous one (`?`)
/// its position's.
fn bind(stmt: &mut Statement<'_>, params: &[Param<'_>]) -> rusqlite::Result<()> {
    for i in 1..=stmt.parameter_count() {
        let n = match stmt.parameter_name(i) {
            Some(name) => name
                .strip_prefix('$')
                .or_else(|| name.strip_prefix('?'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(i),
            None => i,
        };
        let Some(param) = n.checked_sub(1).and_then(|n| params.get(n)) else {
            return Err(rusqlite::Error::InvalidParameterCount(i, params.len()));
        };
        match *param {
            Param::Int(v) => stmt.raw_bind_parameter(i, v)?,
            Param::Text(v) => stmt.raw_bind_parameter(i, v)?,
            Param::OptText(v) => stmt.raw_bind_parameter(i, v)?,
            Param::Bytes(v) => stmt.raw_bind_parameter(i, v)?,
        }
    }
    Ok(())
}

/// Runs `sql` with `params`; how many rows it changed.
pub(super) fn execute(
    conn: &Connection,
    what: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64> {
    let run = || -> rusqlite::Result<u64> {
        let mut stmt = conn.prepare_cached(sql)?;
        bind(&mut stmt, params)?;
        // Stepped to its end: a statement with `RETURNING` runs too (its rows are dropped).
        let mut rows = stmt.raw_query();
        while rows.next()?.is_some() {}
        Ok(conn.changes())
    };
    run().map_err(db(what))
}

/// Runs `sql` with `params`; its rows.
pub(super) fn query(
    conn: &Connection,
    what: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<NativeRow>> {
    let run = || -> rusqlite::Result<Vec<NativeRow>> {
        let mut stmt = conn.prepare_cached(sql)?;
        bind(&mut stmt, params)?;
        let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let width = names.len();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..width)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<_>>()?;
            out.push(NativeRow {
                names: names.clone(),
                values,
            });
        }
        Ok(out)
    };
    run().map_err(db(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
            .unwrap();
        conn
    }

    /// `$n` and `?n` are parameter n wherever they appear, as sqlx binds them: the shared
    /// statements name theirs out of order (`… error = $1 … WHERE seq = $3`).
    #[test]
    fn parameters_bind_by_name() {
        let conn = memory();
        let n = execute(
            &conn,
            "t",
            "INSERT INTO t (name, id, data) VALUES ($2, $1, $3)",
            &[
                Param::Int(7),
                Param::Text("seven"),
                Param::Bytes(b"\x00\x01"),
            ],
        )
        .unwrap();
        assert_eq!(n, 1);
        let rows = query(
            &conn,
            "t",
            "SELECT id, name, data FROM t WHERE name = ?2 AND id = ?1",
            &[Param::Int(7), Param::OptText(Some("seven"))],
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.int("id").unwrap(), 7);
        assert_eq!(row.int_at(0).unwrap(), 7);
        assert_eq!(row.text("name").unwrap(), "seven");
        assert_eq!(row.text_at(1).unwrap(), "seven");
        assert_eq!(row.bytes("data").unwrap(), vec![0, 1]);
        assert!(row.flag("id").unwrap());
        assert!(row.int("missing").is_err());
        // Too few parameters is an error, not a NULL bound silently.
        assert!(query(&conn, "t", "SELECT ?1, ?2", &[Param::Int(1)]).is_err());
    }

    /// The writer's connection has the store's durability settings (they are per
    /// connection): WAL, `synchronous` as configured, no automatic checkpoints.
    #[test]
    fn the_writer_connection_is_durable_as_configured() {
        let db = crate::store::sqlite::tests::TempDb::new();
        let opts: SqliteConnectOptions = db.url().parse().unwrap();
        let opts = opts.create_if_missing(true);
        for (sync, expected) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let conn = open(&opts, sync).unwrap();
            let pragma = |name: &str| -> Value {
                conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                    .unwrap()
            };
            assert_eq!(pragma("synchronous"), Value::Integer(expected));
            assert_eq!(pragma("journal_mode"), Value::Text("wal".into()));
            assert_eq!(pragma("wal_autocheckpoint"), Value::Integer(0));
            assert_eq!(pragma("foreign_keys"), Value::Integer(1));
            assert_eq!(
                pragma("cache_size"),
                Value::Integer(i64::from(WRITER_CACHE_KIB))
            );
        }
    }

    /// A statement with `RETURNING` run for its count still runs to its end.
    #[test]
    fn execute_runs_returning_statements() {
        let conn = memory();
        let n = execute(
            &conn,
            "t",
            "INSERT INTO t (id, name) SELECT value, NULL FROM json_each(?1) RETURNING id",
            &[Param::Text("[1, 2, 3]")],
        )
        .unwrap();
        assert_eq!(n, 3);
        let rows = query(&conn, "t", "SELECT name FROM t WHERE id = 1", &[]).unwrap();
        assert_eq!(rows[0].text_opt("name").unwrap(), None);
        assert!(rows[0].text("name").is_err());
        assert_eq!(rows[0].int_opt("name").unwrap(), None);
    }
}
