//! [`StoreLog`]: the durable [`ConversationLog`] of the web chat adapter, over the engine's
//! store. An append is durable when it returns (the store committed it); only then are the
//! conversation's streams woken, on this instance through the [`Hub`] and on the others
//! through [`Store::log_wake_ups`] (PostgreSQL: `NOTIFY` at commit).
//!
//! A log the channel's retention pruned ([`Store::log_prune`]) is read from a cursor older
//! than what it keeps with a `status history_truncated` record first ([`read_after`]): its
//! sequence number (and `up_to`) is the highest one pruned, so a client that saw it resumes
//! after it and is not told twice.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::{ConversationRef, Error, ErrorKind, Result};
use switchboard_webchat::wire::{Event, LogPage, Record, StatusEvent};
use switchboard_webchat::{ConversationLog, OutboundFile};

use super::hub::Hub;
use crate::store::{LogAppend, LogEntry, Store, conversation_key};

/// The web chat log in the engine's store.
#[derive(Debug, Clone)]
pub(crate) struct StoreLog {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hub: Arc<Hub>,
    /// `server.public_url` (empty without one): where outbound files are served.
    pub(crate) public_url: String,
}

/// A stored record as the protocol's record.
pub(crate) fn record(entry: LogEntry) -> Result<Record> {
    let event: Event = serde_json::from_value(entry.event).map_err(|e| {
        Error::new(
            ErrorKind::Transport,
            format!("store: web chat record {} is not an event: {e}", entry.seq),
        )
    })?;
    Ok(Record {
        seq: entry.seq,
        event,
    })
}

/// What a read after a cursor found: `truncated`, the sequence number of the `status
/// history_truncated` record to send first (the highest pruned, never past the first entry),
/// then the entries.
pub(crate) struct Read {
    pub(crate) truncated: Option<u64>,
    pub(crate) entries: Vec<LogEntry>,
}

/// The `status history_truncated` record numbered `up_to`.
pub(crate) fn truncated(up_to: u64) -> Event {
    Event::Status(StatusEvent::history_truncated(up_to))
}

/// Up to `limit` entries of `key`'s log after `after`, and whether records after `after` were
/// pruned. Asks the store only when the entries do not follow the cursor at once (a gap, or
/// none and `check_empty`): the common read costs nothing more. The pruned sequence number is
/// read after the entries and kept below the first of them, so the status never follows a
/// record it precedes (a prune between the two reads).
pub(crate) async fn read_after(
    store: &dyn Store,
    key: &str,
    after: u64,
    limit: usize,
    check_empty: bool,
) -> Result<Read> {
    let entries = store.log_read(key, after, limit).await?;
    let next = entries.first().map(|e| e.seq);
    if next == Some(after.saturating_add(1)) || (next.is_none() && !check_empty) {
        return Ok(Read {
            truncated: None,
            entries,
        });
    }
    let pruned = store.log_pruned(key).await?;
    let up_to = next.map_or(pruned, |n| pruned.min(n - 1));
    Ok(Read {
        truncated: (up_to > after).then_some(up_to),
        entries,
    })
}

#[async_trait]
impl ConversationLog for StoreLog {
    async fn append(
        &self,
        conversation: &ConversationRef,
        event: Event,
        key: Option<&str>,
    ) -> Result<u64> {
        let at = conversation_key(conversation);
        let event = serde_json::to_value(&event)
            .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("web chat record: {e}")))?;
        let append = LogAppend::new(at.clone(), key.map(str::to_owned), event, SystemTime::now());
        let seq = self
            .store
            .log_append(&[append])
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::Transport, "store: log append got no answer"))?;
        self.hub.wake(&at);
        Ok(seq)
    }

    async fn read(
        &self,
        conversation: &ConversationRef,
        after: u64,
        limit: usize,
    ) -> Result<LogPage> {
        let key = conversation_key(conversation);
        let read = read_after(self.store.as_ref(), &key, after, limit, true).await?;
        let mut records = Vec::with_capacity(read.entries.len() + 1);
        if let Some(up_to) = read.truncated {
            records.push(Record {
                seq: up_to,
                event: truncated(up_to),
            });
        }
        let room = limit.saturating_sub(records.len());
        for entry in read.entries.into_iter().take(room) {
            records.push(record(entry)?);
        }
        let last_seq = records.last().map_or(after, |r| r.seq);
        Ok(LogPage { records, last_seq })
    }

    async fn publish(&self, conversation: &ConversationRef, event: Event) -> Result<()> {
        self.hub.publish(&conversation_key(conversation), event);
        Ok(())
    }

    async fn store_file(
        &self,
        conversation: &ConversationRef,
        file: OutboundFile,
    ) -> Result<String> {
        super::files::keep_outbound(self.store.as_ref(), &self.public_url, conversation, file).await
    }
}
