//! What web chat keeps in the store: each conversation's log of outbound records (what a
//! visitor's event stream resumes from), the files visitors upload, and named secrets (the
//! durable token key of each channel). The types crossing the [`Store`](super::Store) methods
//! `log_append`, `log_read`, `log_wake_ups`, `log_prune`, `log_pruned`, `put_upload`,
//! `get_upload` and `keep_secret`.
//!
//! The log's contract:
//!
//! - **Sequence numbers** start at 1 in every conversation and only grow: a record appended
//!   later always gets a greater number, on every instance sharing the store, also after a
//!   restart. (They may skip numbers; clients only compare them.)
//! - **Idempotent appends**: a record with a `key` the conversation's log already holds is not
//!   appended again; the append answers the number the key got the first time. (The adapter's
//!   sends use `{outbox key}:{part}`, so a send retried after a crash appends nothing new.)
//! - **Durability and atomicity**: when `log_append` returns `Ok`, every record of the call is
//!   durable; each record is atomic on its own.
//! - **Wake-ups**: a store shared by several processes announces appended conversations to the
//!   others ([`Store::log_wake_ups`](super::Store::log_wake_ups)), after the commit.
//! - **Retention** ([`Store::log_prune`](super::Store::log_prune), a channel's `history_ttl`
//!   and `history_max_records`): a log is pruned from its oldest record on, never in the
//!   middle (a record older than the cutoff deletes every record before it too), in chunks of
//!   at most a few thousand rows per transaction. The conversation remembers the highest
//!   sequence number pruned ([`Store::log_pruned`](super::Store::log_pruned)), also once
//!   every record up to it is gone, so a client resuming from an older cursor can be told its
//!   history was truncated. A pruned record's idempotency key goes with it.

use std::time::SystemTime;

use bytes::Bytes;

/// One record to append to a web chat conversation's log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogAppend {
    /// The conversation key ([`conversation_key`](super::conversation_key)).
    pub conversation: String,
    /// The idempotency key: a key the log holds already appends nothing.
    pub key: Option<String>,
    /// The record (the protocol's event, as JSON).
    pub event: serde_json::Value,
    /// When it was appended.
    pub at: SystemTime,
}

impl LogAppend {
    /// A record for `conversation`, appended at `at`.
    pub fn new(
        conversation: impl Into<String>,
        key: Option<String>,
        event: serde_json::Value,
        at: SystemTime,
    ) -> Self {
        LogAppend {
            conversation: conversation.into(),
            key,
            event,
            at,
        }
    }
}

/// A record of a conversation's log.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogEntry {
    /// Its sequence number in the conversation (from 1, only growing).
    pub seq: u64,
    /// The record, as appended.
    pub event: serde_json::Value,
}

impl LogEntry {
    /// Record `seq`.
    pub fn new(seq: u64, event: serde_json::Value) -> Self {
        LogEntry { seq, event }
    }
}

/// What [`Store::log_prune`](super::Store::log_prune) deletes from the logs of one web chat
/// channel (its `history_ttl` and `history_max_records`). Without either, nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRetention {
    /// The channel: the conversations whose keys start with `"{channel}/"`.
    pub channel: String,
    /// Records appended before this time go (with every record before them).
    pub before: Option<SystemTime>,
    /// Each conversation keeps at most this many of its newest records.
    pub keep: Option<u64>,
}

impl LogRetention {
    /// Prunes nothing of `channel` yet (see [`before`](Self::before) and
    /// [`keep`](Self::keep)).
    pub fn new(channel: impl Into<String>) -> Self {
        LogRetention {
            channel: channel.into(),
            before: None,
            keep: None,
        }
    }

    /// Records appended before `before` go.
    #[must_use]
    pub fn before(mut self, before: SystemTime) -> Self {
        self.before = Some(before);
        self
    }

    /// Each conversation keeps at most its `keep` newest records.
    #[must_use]
    pub fn keep(mut self, keep: u64) -> Self {
        self.keep = Some(keep);
        self
    }

    /// The range of conversation keys of the channel: `["{channel}/", "{channel}0")` (`0`
    /// follows `/`, and a channel name holds neither).
    pub(crate) fn key_range(&self) -> (String, String) {
        (format!("{}/", self.channel), format!("{}0", self.channel))
    }
}

/// A file a visitor uploaded, kept for one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upload {
    /// Its id (random, unguessable).
    pub id: String,
    /// The conversation key it belongs to.
    pub conversation: String,
    /// The file name the visitor gave.
    pub filename: String,
    /// Its content type.
    pub mime_type: String,
    /// The bytes.
    pub data: Bytes,
    /// When it was stored.
    pub created_at: SystemTime,
}

impl Upload {
    /// An upload of `data` for `conversation`.
    pub fn new(
        id: impl Into<String>,
        conversation: impl Into<String>,
        filename: impl Into<String>,
        mime_type: impl Into<String>,
        data: Bytes,
        created_at: SystemTime,
    ) -> Self {
        Upload {
            id: id.into(),
            conversation: conversation.into(),
            filename: filename.into(),
            mime_type: mime_type.into(),
            data,
            created_at,
        }
    }
}
