//! [`ConversationLog`]: where the adapter's sends go, and what the event stream reads; and
//! [`MemoryLog`], its in-memory reference implementation.
//!
//! In production the log is durable: the engine's web chat module implements it over the
//! store (appends in the same transaction discipline as the outbox, live streams woken after
//! commit, across instances). [`MemoryLog`] is the non-durable reference for tests and
//! examples; it is not the production store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use switchboard_core::{ConversationRef, Error, Result};

use crate::files::OutboundFile;
use crate::wire::{Event, LogPage, Record};

/// The per-conversation log of records that `GET events` and `GET messages` serve.
#[async_trait]
pub trait ConversationLog: Send + Sync + fmt::Debug {
    /// Appends `event` and returns its sequence number (1, 2, … per conversation). With a
    /// `key`, appending is idempotent: a key the log holds returns the sequence number it got
    /// the first time and appends nothing.
    async fn append(
        &self,
        conversation: &ConversationRef,
        event: Event,
        key: Option<&str>,
    ) -> Result<u64>;

    /// At most `limit` records after sequence number `after`, oldest first. A log that prunes
    /// (the channel's `history_ttl`, `history_max_records`) begins the records with a `status
    /// history_truncated` record when records after `after` are no longer kept: its sequence
    /// number and `up_to` are the highest one pruned.
    async fn read(
        &self,
        conversation: &ConversationRef,
        after: u64,
        limit: usize,
    ) -> Result<LogPage>;

    /// Sends an ephemeral event (typing) to the streams open now; it is never stored.
    async fn publish(&self, conversation: &ConversationRef, event: Event) -> Result<()>;

    /// Keeps `file`, which an outbound message carries as bytes, for `conversation`, and
    /// returns the URL its record shows: `GET uploads/{id}` of the channel, served like a
    /// visitor's upload to a holder of a token of that conversation only (absolute, or
    /// `/webchat/{channel}/uploads/{id}` relative to the server). Keeping a file whose id is
    /// kept already keeps one. The default: `Unsupported` (the send is refused).
    async fn store_file(
        &self,
        conversation: &ConversationRef,
        file: OutboundFile,
    ) -> Result<String> {
        let _ = (conversation, file);
        Err(Error::unsupported(
            "files sent as bytes (this conversation log keeps none)",
        ))
    }
}

/// Where a channel serves file `id`, relative to the server.
pub fn upload_path(channel: &str, id: &str) -> String {
    format!("/webchat/{channel}/uploads/{id}")
}

#[derive(Debug, Default)]
struct Conversation {
    records: Vec<Record>,
    keys: HashMap<String, u64>,
    published: Vec<Event>,
}

/// The in-memory [`ConversationLog`]: the non-durable reference (tests, examples). Everything
/// is lost with the process.
#[derive(Debug, Default)]
pub struct MemoryLog {
    conversations: Mutex<HashMap<ConversationRef, Conversation>>,
    files: Mutex<HashMap<String, (ConversationRef, OutboundFile)>>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        MemoryLog::default()
    }

    /// Every record of a conversation (tests).
    pub fn records(&self, conversation: &ConversationRef) -> Vec<Record> {
        self.with(conversation, |c| c.records.clone())
    }

    /// Every ephemeral event published to a conversation (tests).
    pub fn published(&self, conversation: &ConversationRef) -> Vec<Event> {
        self.with(conversation, |c| c.published.clone())
    }

    /// The file kept under `id`, and its conversation (tests).
    pub fn file(&self, id: &str) -> Option<(ConversationRef, OutboundFile)> {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// How many appends and publishes changed the log, over all conversations.
    pub fn writes(&self) -> usize {
        let all = self
            .conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.values()
            .map(|c| c.records.len() + c.published.len())
            .sum()
    }

    fn with<T>(&self, conversation: &ConversationRef, f: impl FnOnce(&mut Conversation) -> T) -> T {
        let mut all = self
            .conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(all.entry(conversation.clone()).or_default())
    }
}

#[async_trait]
impl ConversationLog for MemoryLog {
    async fn append(
        &self,
        conversation: &ConversationRef,
        event: Event,
        key: Option<&str>,
    ) -> Result<u64> {
        Ok(self.with(conversation, |c| {
            if let Some(seq) = key.and_then(|k| c.keys.get(k)) {
                return *seq;
            }
            let seq = c.records.len() as u64 + 1;
            c.records.push(Record { seq, event });
            if let Some(k) = key {
                c.keys.insert(k.to_owned(), seq);
            }
            seq
        }))
    }

    async fn read(
        &self,
        conversation: &ConversationRef,
        after: u64,
        limit: usize,
    ) -> Result<LogPage> {
        Ok(self.with(conversation, |c| {
            let records: Vec<Record> = c
                .records
                .iter()
                .filter(|r| r.seq > after)
                .take(limit)
                .cloned()
                .collect();
            let last_seq = records.last().map_or(after, |r| r.seq);
            LogPage { records, last_seq }
        }))
    }

    async fn publish(&self, conversation: &ConversationRef, event: Event) -> Result<()> {
        self.with(conversation, |c| c.published.push(event));
        Ok(())
    }

    async fn store_file(
        &self,
        conversation: &ConversationRef,
        file: OutboundFile,
    ) -> Result<String> {
        let path = upload_path(conversation.channel.as_str(), &file.id);
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(file.id.clone())
            .or_insert_with(|| (conversation.clone(), file));
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{StatusCode, StatusEvent};

    fn status() -> Event {
        Event::Status(StatusEvent::new(StatusCode::Closed, None))
    }

    #[tokio::test]
    async fn sequence_numbers_grow_per_conversation_and_keys_append_once() {
        let log = MemoryLog::new();
        let a = ConversationRef::parse("site", "anon:a").unwrap_or_else(|e| panic!("{e}"));
        let b = ConversationRef::parse("site", "anon:b").unwrap_or_else(|e| panic!("{e}"));
        let s = |r: Result<u64>| r.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s(log.append(&a, status(), None).await), 1);
        assert_eq!(s(log.append(&a, status(), Some("k")).await), 2);
        assert_eq!(s(log.append(&b, status(), None).await), 1);
        assert_eq!(
            s(log.append(&a, status(), Some("k")).await),
            2,
            "same key, same seq"
        );
        assert_eq!(s(log.append(&a, status(), None).await), 3);
        let page = log.read(&a, 1, 10).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            page.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(page.last_seq, 3);
        let empty = log.read(&a, 3, 10).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((empty.records.len(), empty.last_seq), (0, 3));
        let one = log.read(&a, 0, 1).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.last_seq, 1);
        assert_eq!(log.writes(), 4);
    }
}
