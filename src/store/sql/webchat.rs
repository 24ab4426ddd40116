//! The web chat log, uploads and named secrets (schema version 7; retention, version 10) over
//! a backend's statements. Writes are writer jobs ([`Job::Webchat`](super::Job::Webchat)), group committed
//! with the store's other writes and bounded like them; reads run on the dialect's pool.
//!
//! An append takes its conversation's head row (the last sequence number handed out, kept
//! after records go), locked first on a shared store ([`Tx::LOCK_LOG`]), so sequence numbers
//! only grow across instances and the key lookup sees what the append before committed. The
//! conversations appended to are reported to the backend's committer
//! ([`Wake::logs`](super::writer::Wake::logs)), which announces them to other instances at
//! commit (PostgreSQL's `NOTIFY`).
//!
//! Retention ([`SqlStore::log_prune`]) finds what goes with reads on the pool (the oldest
//! records by `at` through the `webchat_log_at` index; the heads over `history_max_records`),
//! and deletes it through the writer, each log from its oldest record on, at most
//! [`PRUNE_CHUNK`] records per job, raising the head's `pruned_seq` in the same transaction.

use std::collections::BTreeSet;

use switchboard_core::Result;
use tokio::sync::broadcast;

use super::rows::Param;
use super::writer::{Answer, Job, unexpected};
use super::{Dialect, PRUNE_CHUNK, SqlRow, SqlStore, Tx, limit};
use crate::store::{LogAppend, LogEntry, LogRetention, Upload, from_json, millis, to_json};

/// Creates conversation `$1`'s head row unless it has one.
pub(crate) const HEAD: &str = "INSERT INTO webchat_heads (conversation, last_seq) VALUES ($1, 0) \
     ON CONFLICT (conversation) DO NOTHING";

/// The record of conversation `$1` appended with key `$2`.
pub(crate) const KEYED: &str = "SELECT seq FROM webchat_log WHERE conversation = $1 AND key = $2";

/// The next sequence number of conversation `$1`.
pub(crate) const NEXT: &str = "UPDATE webchat_heads SET last_seq = last_seq + 1 WHERE conversation = $1 \
     RETURNING last_seq";

/// Record `$2` of conversation `$1`: key `$3`, event `$4`, at `$5`.
pub(crate) const APPEND: &str =
    "INSERT INTO webchat_log (conversation, seq, key, event, at) VALUES ($1, $2, $3, $4, $5)";

/// Up to `$3` records of conversation `$1` after `$2`, oldest first.
pub(crate) const READ: &str = "SELECT seq, event FROM webchat_log WHERE conversation = $1 AND seq > $2 \
     ORDER BY seq LIMIT $3";

/// The highest sequence number pruned from conversation `$1`.
pub(crate) const PRUNED: &str = "SELECT pruned_seq FROM webchat_heads WHERE conversation = $1";

/// The retention's statements that select a channel's conversations by the range of their
/// keys, `["{channel}/", "{channel}0")`, which holds only in byte order: SQLite compares
/// `TEXT` so ([`RETENTION`]); PostgreSQL compares in the database's collation, which may not,
/// so it says `COLLATE "C"` (`postgres::webchat::RETENTION`).
pub(crate) struct RetentionSql {
    /// Of the `$4` oldest records appended before `$1` in the conversations from `$2` to `$3`
    /// (excluded), the newest of each conversation: rows of `conversation`, `seq`.
    pub(crate) old: &'static str,
    /// Up to `$4` conversations after `$1`, before `$2`, in byte order, whose logs may hold
    /// more than `$3` records (sequence numbers handed out since the last one pruned): rows of
    /// `conversation`.
    pub(crate) over: &'static str,
}

/// The retention's range statements in byte order as SQLite compares `TEXT`.
pub(crate) const RETENTION: RetentionSql = RetentionSql {
    old: "SELECT conversation, MAX(seq) AS seq FROM (
       SELECT conversation, seq FROM webchat_log
        WHERE at < $1 AND conversation >= $2 AND conversation < $3
        ORDER BY at LIMIT $4) AS old
     GROUP BY conversation",
    over: "SELECT conversation FROM webchat_heads
     WHERE conversation > $1 AND conversation < $2 AND last_seq - pruned_seq > $3
     ORDER BY conversation LIMIT $4",
};

/// The newest record of conversation `$1` beyond its `$2` newest.
pub(crate) const BEYOND: &str =
    "SELECT seq FROM webchat_log WHERE conversation = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2";

/// Deletes up to `$3` of the oldest records of conversation `$1` up to `$2`.
pub(crate) const PRUNE_PREFIX: &str = "DELETE FROM webchat_log WHERE conversation = $1 AND seq IN (
       SELECT seq FROM webchat_log WHERE conversation = $1 AND seq <= $2
        ORDER BY seq LIMIT $3)
     RETURNING seq";

/// Conversation `$1`'s log was pruned up to `$2`.
pub(crate) const MARK_PRUNED: &str =
    "UPDATE webchat_heads SET pruned_seq = $2 WHERE conversation = $1 AND pruned_seq < $2";

/// An upload, unless its id is kept.
const PUT_UPLOAD: &str = "INSERT INTO webchat_uploads \
     (id, conversation, filename, mime_type, data, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (id) DO NOTHING";

/// Upload `$1`.
const GET_UPLOAD: &str = "SELECT conversation, filename, mime_type, data, created_at \
     FROM webchat_uploads WHERE id = $1";

/// Secret `$1` proposed as `$2`, unless one is kept.
const PUT_SECRET: &str =
    "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

/// Secret `$1`.
const GET_SECRET: &str = "SELECT value FROM secrets WHERE name = $1";

/// A web chat write.
pub(crate) enum WebchatWrite {
    /// (conversation key, idempotency key, event JSON, at ms) per record.
    Append(Vec<(String, Option<String>, String, i64)>),
    /// A visitor's upload.
    Upload(Upload),
    /// Keep this secret under this name unless one is kept.
    Secret(String, Vec<u8>),
    /// Delete each conversation's records up to its sequence number, oldest first, at most
    /// [`PRUNE_CHUNK`] in all.
    Prune(Vec<(String, i64)>),
}

/// What a [`WebchatWrite`] answers.
pub(crate) enum WebchatWritten {
    /// The records' sequence numbers.
    Seqs(Vec<u64>),
    /// The upload is stored.
    Stored,
    /// The kept secret.
    Secret(Vec<u8>),
    /// How many records a prune deleted.
    Pruned(u64),
}

/// Runs `write` in the writer's transaction; the conversations appended to go to `logs`.
pub(crate) async fn write<T: Tx>(
    tx: &mut T,
    write: &WebchatWrite,
    logs: &mut BTreeSet<String>,
) -> Result<WebchatWritten> {
    match write {
        WebchatWrite::Append(rows) => {
            let mut seqs = Vec::with_capacity(rows.len());
            for (conversation, key, event, at) in rows {
                seqs.push(append(tx, conversation, key.as_deref(), event, *at).await?);
                logs.insert(conversation.clone());
            }
            Ok(WebchatWritten::Seqs(seqs))
        }
        WebchatWrite::Upload(u) => {
            let params = [
                Param::Text(&u.id),
                Param::Text(&u.conversation),
                Param::Text(&u.filename),
                Param::Text(&u.mime_type),
                Param::Bytes(u.data.as_ref()),
                Param::Int(millis(u.created_at)),
            ];
            tx.execute(PUT_UPLOAD, &params).await?;
            Ok(WebchatWritten::Stored)
        }
        WebchatWrite::Secret(name, proposed) => {
            tx.execute(PUT_SECRET, &[Param::Text(name), Param::Bytes(proposed)])
                .await?;
            match tx.fetch(GET_SECRET, &[Param::Text(name)]).await?.first() {
                Some(row) => Ok(WebchatWritten::Secret(row.bytes("value")?)),
                None => Err(crate::store::store_error("secret", "not kept")),
            }
        }
        WebchatWrite::Prune(prefixes) => prune(tx, prefixes).await.map(WebchatWritten::Pruned),
    }
}

/// Deletes each conversation's oldest records up to its sequence number, at most
/// [`PRUNE_CHUNK`] records in all, and raises each head's `pruned_seq` to the newest deleted.
async fn prune<T: Tx>(tx: &mut T, prefixes: &[(String, i64)]) -> Result<u64> {
    let mut left = PRUNE_CHUNK;
    for (conversation, up_to) in prefixes {
        if left == 0 {
            break;
        }
        let conv = Param::Text(conversation);
        let gone = tx
            .fetch(PRUNE_PREFIX, &[conv, Param::Int(*up_to), Param::Int(left)])
            .await?;
        let mut newest = 0;
        for row in &gone {
            newest = newest.max(row.int("seq")?);
        }
        if newest > 0 {
            tx.execute(MARK_PRUNED, &[conv, Param::Int(newest)]).await?;
        }
        left -= limit(gone.len());
    }
    Ok((PRUNE_CHUNK - left).unsigned_abs())
}

/// Appends one record (or finds the one appended with `key`); its sequence number.
async fn append<T: Tx>(
    tx: &mut T,
    conversation: &str,
    key: Option<&str>,
    event: &str,
    at: i64,
) -> Result<u64> {
    let conv = Param::Text(conversation);
    tx.execute(HEAD, &[conv]).await?;
    if let Some(lock) = T::LOCK_LOG {
        tx.execute(lock, &[conv]).await?;
    }
    if let Some(key) = key
        && let Some(row) = tx.fetch(KEYED, &[conv, Param::Text(key)]).await?.first()
    {
        return Ok(row.int("seq")?.unsigned_abs());
    }
    let Some(row) = tx.fetch(NEXT, &[conv]).await?.into_iter().next() else {
        return Err(crate::store::store_error("log append", "no head row"));
    };
    let seq = row.int("last_seq")?;
    let params = [
        conv,
        Param::Int(seq),
        Param::OptText(key),
        Param::Text(event),
        Param::Int(at),
    ];
    tx.execute(APPEND, &params).await?;
    Ok(seq.unsigned_abs())
}

/// The web chat `Store` methods (`forward_store!` calls these).
impl<D: Dialect> SqlStore<D> {
    async fn webchat(&self, write: WebchatWrite) -> Result<WebchatWritten> {
        match self.writer().run(Job::Webchat(write)).await? {
            Answer::Webchat(w) => Ok(w),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn log_append(&self, appends: &[LogAppend]) -> Result<Vec<u64>> {
        if appends.is_empty() {
            return Ok(Vec::new());
        }
        let rows = appends
            .iter()
            .map(|a| {
                Ok((
                    a.conversation.clone(),
                    a.key.clone(),
                    to_json("log record", &a.event)?,
                    millis(a.at),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        match self.webchat(WebchatWrite::Append(rows)).await? {
            WebchatWritten::Seqs(seqs) => Ok(seqs),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn log_read(
        &self,
        conversation: &str,
        after: u64,
        n: usize,
    ) -> Result<Vec<LogEntry>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let params = [
            Param::Text(conversation),
            Param::Int(after),
            Param::Int(limit(n)),
        ];
        self.dialect()
            .read(READ, &params)
            .await?
            .iter()
            .map(|r| {
                Ok(LogEntry::new(
                    r.int("seq")?.unsigned_abs(),
                    from_json("log record", &r.text("event")?)?,
                ))
            })
            .collect()
    }

    pub(crate) async fn log_pruned(&self, conversation: &str) -> Result<u64> {
        let rows = self
            .dialect()
            .read(PRUNED, &[Param::Text(conversation)])
            .await?;
        match rows.first() {
            Some(row) => Ok(row.int("pruned_seq")?.unsigned_abs()),
            None => Ok(0),
        }
    }

    /// Deletes `prefixes` through the writer until nothing of them is left; how many went.
    async fn prune_prefixes(&self, mut prefixes: Vec<(String, i64)>) -> Result<u64> {
        // One order on every instance: two prunes lock their rows alike.
        prefixes.sort();
        let mut total = 0;
        loop {
            let n = match self.webchat(WebchatWrite::Prune(prefixes.clone())).await? {
                WebchatWritten::Pruned(n) => n,
                _ => return Err(unexpected()),
            };
            total += n;
            if n < PRUNE_CHUNK.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    pub(crate) async fn log_prune(&self, retention: &LogRetention) -> Result<u64> {
        let (from, to) = retention.key_range();
        let mut total = 0;
        if let Some(before) = retention.before {
            loop {
                let params = [
                    Param::Int(millis(before)),
                    Param::Text(&from),
                    Param::Text(&to),
                    Param::Int(PRUNE_CHUNK),
                ];
                let rows = self.dialect().read(D::RETENTION.old, &params).await?;
                let prefixes = rows
                    .iter()
                    .map(|r| Ok((r.text("conversation")?, r.int("seq")?)))
                    .collect::<Result<Vec<_>>>()?;
                if prefixes.is_empty() {
                    break;
                }
                let n = self.prune_prefixes(prefixes).await?;
                total += n;
                if n == 0 {
                    // Another instance pruned them meanwhile: the next round goes on.
                    break;
                }
            }
        }
        if let Some(keep) = retention.keep {
            let keep = i64::try_from(keep).unwrap_or(i64::MAX);
            let mut after = from.clone();
            loop {
                let params = [
                    Param::Text(&after),
                    Param::Text(&to),
                    Param::Int(keep),
                    Param::Int(PRUNE_CHUNK),
                ];
                let heads = self.dialect().read(D::RETENTION.over, &params).await?;
                let mut prefixes = Vec::with_capacity(heads.len());
                for head in &heads {
                    let conversation = head.text("conversation")?;
                    let params = [Param::Text(&conversation), Param::Int(keep)];
                    let beyond = self.dialect().read(BEYOND, &params).await?;
                    if let Some(row) = beyond.first() {
                        let up_to = row.int("seq")?;
                        prefixes.push((conversation.clone(), up_to));
                    }
                    after = conversation;
                }
                if !prefixes.is_empty() {
                    total += self.prune_prefixes(prefixes).await?;
                }
                if heads.len() < usize::try_from(PRUNE_CHUNK).unwrap_or(usize::MAX) {
                    break;
                }
            }
        }
        Ok(total)
    }

    pub(crate) fn log_wake_ups(&self) -> Option<broadcast::Receiver<String>> {
        self.dialect().log_wake_ups()
    }

    pub(crate) async fn put_upload(&self, upload: &Upload) -> Result<()> {
        match self.webchat(WebchatWrite::Upload(upload.clone())).await? {
            WebchatWritten::Stored => Ok(()),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn get_upload(&self, id: &str) -> Result<Option<Upload>> {
        let rows = self.dialect().read(GET_UPLOAD, &[Param::Text(id)]).await?;
        rows.first()
            .map(|r| {
                Ok(Upload::new(
                    id,
                    r.text("conversation")?,
                    r.text("filename")?,
                    r.text("mime_type")?,
                    r.bytes("data")?.into(),
                    switchboard_core::model::time::from_millis(r.int("created_at")?),
                ))
            })
            .transpose()
    }

    pub(crate) async fn keep_secret(&self, name: &str, proposed: &[u8]) -> Result<Vec<u8>> {
        let write = WebchatWrite::Secret(name.to_owned(), proposed.to_vec());
        match self.webchat(write).await? {
            WebchatWritten::Secret(kept) => Ok(kept),
            _ => Err(unexpected()),
        }
    }
}
