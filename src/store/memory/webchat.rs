//! The web chat log, uploads and named secrets of the memory store (the reference for
//! [`store::webchat`](crate::store::webchat)'s contract).

use std::collections::HashMap;

use crate::store::{LogAppend, LogEntry, Upload};

/// One conversation's log.
#[derive(Debug, Default)]
struct Log {
    records: Vec<LogEntry>,
    keys: HashMap<String, u64>,
}

/// Everything web chat keeps in the memory store.
#[derive(Debug, Default)]
pub(super) struct Webchat {
    logs: HashMap<String, Log>,
    uploads: HashMap<String, Upload>,
    secrets: HashMap<String, Vec<u8>>,
}

impl Webchat {
    pub(super) fn append(&mut self, appends: &[LogAppend]) -> Vec<u64> {
        appends
            .iter()
            .map(|a| {
                let log = self.logs.entry(a.conversation.clone()).or_default();
                if let Some(seq) = a.key.as_ref().and_then(|k| log.keys.get(k)) {
                    return *seq;
                }
                let seq = log.records.last().map_or(1, |r| r.seq + 1);
                log.records.push(LogEntry::new(seq, a.event.clone()));
                if let Some(k) = &a.key {
                    log.keys.insert(k.clone(), seq);
                }
                seq
            })
            .collect()
    }

    pub(super) fn read(&self, conversation: &str, after: u64, limit: usize) -> Vec<LogEntry> {
        let Some(log) = self.logs.get(conversation) else {
            return Vec::new();
        };
        let start = log.records.partition_point(|r| r.seq <= after);
        log.records[start..].iter().take(limit).cloned().collect()
    }

    pub(super) fn put_upload(&mut self, upload: &Upload) {
        self.uploads.insert(upload.id.clone(), upload.clone());
    }

    pub(super) fn get_upload(&self, id: &str) -> Option<Upload> {
        self.uploads.get(id).cloned()
    }

    pub(super) fn keep_secret(&mut self, name: &str, proposed: &[u8]) -> Vec<u8> {
        self.secrets
            .entry(name.to_owned())
            .or_insert_with(|| proposed.to_vec())
            .clone()
    }
}
