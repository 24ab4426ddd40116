//! Web chat writes as writer jobs ([`Job::Webchat`](super::Job::Webchat)), for a backend whose
//! writes must all go through its one writer (SQLite: one write connection; a write beside it
//! would make the writer's group commits fail with `SQLITE_BUSY`). The backend's committer
//! runs them in the group's transaction; the shared [`apply`](super::apply) never sees them.

use crate::store::Upload;

/// A web chat write.
pub(crate) enum WebchatWrite {
    /// (conversation key, idempotency key, event JSON, at ms) per record.
    Append(Vec<(String, Option<String>, String, i64)>),
    /// A visitor's upload.
    Upload(Upload),
    /// Keep this secret under this name unless one is kept.
    Secret(String, Vec<u8>),
}

/// What a [`WebchatWrite`] answers.
pub(crate) enum WebchatWritten {
    /// The records' sequence numbers.
    Seqs(Vec<u64>),
    /// The upload is stored.
    Stored,
    /// The kept secret.
    Secret(Vec<u8>),
}
