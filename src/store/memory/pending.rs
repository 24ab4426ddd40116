//! Delivery receipts that arrived before their send was recorded, in the memory store: kept
//! per (channel, provider message id) with the most advanced status, applied when a send
//! records that id, pruned with the retention (see the store docs, "Early receipts").

use std::collections::{BTreeSet, HashMap};

use switchboard_core::model::DeliveryStatus;

/// The receipts waiting for their send.
#[derive(Debug, Default)]
pub(super) struct PendingReceipts {
    /// (channel, message id) → (most advanced status, received at).
    by_id: HashMap<(String, String), (DeliveryStatus, i64)>,
    /// (received at, channel, message id), for pruning.
    by_age: BTreeSet<(i64, String, String)>,
}

impl PendingReceipts {
    /// Keeps `status` for (`channel`, `id`), received at `now` (the most advanced one wins;
    /// the first arrival's time is kept).
    pub(super) fn keep(&mut self, channel: &str, id: &str, status: DeliveryStatus, now: i64) {
        let key = (channel.to_owned(), id.to_owned());
        match self.by_id.get_mut(&key) {
            Some((old, _)) => {
                if status.advances(*old) {
                    *old = status;
                }
            }
            None => {
                self.by_age.insert((now, key.0.clone(), key.1.clone()));
                self.by_id.insert(key, (status, now));
            }
        }
    }

    /// The status kept for (`channel`, `id`), removed.
    pub(super) fn take(&mut self, channel: &str, id: &str) -> Option<DeliveryStatus> {
        if self.by_id.is_empty() {
            return None;
        }
        let key = (channel.to_owned(), id.to_owned());
        let (status, at) = self.by_id.remove(&key)?;
        self.by_age.remove(&(at, key.0, key.1));
        Some(status)
    }

    /// Drops the receipts received before `before`; how many.
    pub(super) fn prune(&mut self, before: i64) -> u64 {
        let old: Vec<(i64, String, String)> = self
            .by_age
            .range(..(before, String::new(), String::new()))
            .cloned()
            .collect();
        for entry in &old {
            self.by_age.remove(entry);
            self.by_id.remove(&(entry.1.clone(), entry.2.clone()));
        }
        old.len() as u64
    }
}
