//! [`StoreLog`]: the durable [`ConversationLog`] of the web chat adapter, over the engine's
//! store. An append is durable when it returns (the store committed it); only then are the
//! conversation's streams woken, on this instance through the [`Hub`] and on the others
//! through [`Store::log_wake_ups`] (PostgreSQL: `NOTIFY` at commit).

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::{ConversationRef, Error, ErrorKind, Result};
use switchboard_webchat::wire::{Event, LogPage, Record};
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
        let entries = self
            .store
            .log_read(&conversation_key(conversation), after, limit)
            .await?;
        let records = entries
            .into_iter()
            .map(record)
            .collect::<Result<Vec<_>>>()?;
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
