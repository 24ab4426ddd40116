//! One engine per file: the exclusive lock on `{file}.lock`, shared by the stores of one
//! process on the file.

use std::sync::Arc;

use sqlx::sqlite::SqliteConnectOptions;
use switchboard_core::Result;

use crate::store::store_error;

/// The lock files this process holds, shared by every store it opens on the same file.
static HELD: std::sync::Mutex<Vec<(std::path::PathBuf, std::sync::Weak<std::fs::File>)>> =
    std::sync::Mutex::new(Vec::new());

/// Takes the exclusive lock on `{file}.lock` beside the database, failing at once when another
/// process holds it. `recover` releases every lease in the file, so a second engine would take
/// over a live engine's sends and could resend one in flight. The lock is released when the
/// last store of this process on the file is dropped, or the process dies (even by SIGKILL).
/// Stores opened again *in the same process* share it (a restart in place, as the sandbox does
/// after stopping its first engine): excluding those is the application's business.
pub(super) fn lock_file(opts: &SqliteConnectOptions) -> Result<Option<Arc<std::fs::File>>> {
    let file = opts.get_filename();
    let name = file.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
        return Ok(None);
    }
    let mut path = file.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| store_error("open", format!("{}: {e}", path.display())))?;
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    held.retain(|(_, f)| f.strong_count() > 0);
    if let Some(shared) = held
        .iter()
        .find(|(p, _)| *p == key)
        .and_then(|(_, f)| f.upgrade())
    {
        return Ok(Some(shared));
    }
    match lock.try_lock() {
        Ok(()) => {
            let lock = Arc::new(lock);
            held.push((key, Arc::downgrade(&lock)));
            Ok(Some(lock))
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(switchboard_core::Error::new(
            switchboard_core::ErrorKind::InvalidConfig,
            format!(
                "store: {} is in use by another engine (a process holds {}); one engine per SQLite file",
                file.display(),
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(store_error("lock", format!("{}: {e}", path.display())))
        }
    }
}
