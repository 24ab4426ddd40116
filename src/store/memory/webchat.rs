//! The web chat log, uploads and named secrets of the memory store (the reference for
//! [`store::webchat`](crate::store::webchat)'s contract).

use std::collections::HashMap;

use crate::store::{LogAppend, LogEntry, LogRetention, Upload, millis};

/// One conversation's log.
#[derive(Debug, Default)]
struct Log {
    /// The records kept, oldest first, each with when it was appended (ms).
    records: Vec<(LogEntry, i64)>,
    keys: HashMap<String, u64>,
    /// The last sequence number handed out (kept when records go).
    last_seq: u64,
    /// The highest sequence number pruned.
    pruned: u64,
}

impl Log {
    /// Deletes every record up to `up_to`, their keys with them; how many went.
    fn prune_to(&mut self, up_to: u64) -> u64 {
        let n = self.records.partition_point(|(r, _)| r.seq <= up_to);
        if n == 0 {
            return 0;
        }
        self.records.drain(..n);
        self.keys.retain(|_, seq| *seq > up_to);
        self.pruned = self.pruned.max(up_to);
        n as u64
    }
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
                log.last_seq += 1;
                let seq = log.last_seq;
                log.records
                    .push((LogEntry::new(seq, a.event.clone()), millis(a.at)));
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
        let start = log.records.partition_point(|(r, _)| r.seq <= after);
        log.records[start..]
            .iter()
            .take(limit)
            .map(|(r, _)| r.clone())
            .collect()
    }

    pub(super) fn prune(&mut self, retention: &LogRetention) -> u64 {
        let (from, to) = retention.key_range();
        let before = retention.before.map(millis);
        let mut n = 0;
        for (_, log) in self
            .logs
            .iter_mut()
            .filter(|(k, _)| **k >= from && **k < to)
        {
            // The newest record older than the cutoff, and the newest beyond `keep`.
            let old = before.and_then(|b| {
                log.records
                    .iter()
                    .rev()
                    .find(|(_, at)| *at < b)
                    .map(|(r, _)| r.seq)
            });
            let over = retention.keep.and_then(|keep| {
                let keep = usize::try_from(keep).unwrap_or(usize::MAX);
                let len = log.records.len();
                (len > keep).then(|| log.records[len - keep - 1].0.seq)
            });
            if let Some(up_to) = old.max(over) {
                n += log.prune_to(up_to);
            }
        }
        n
    }

    pub(super) fn pruned(&self, conversation: &str) -> u64 {
        self.logs.get(conversation).map_or(0, |l| l.pruned)
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
