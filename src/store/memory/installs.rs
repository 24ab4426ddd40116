//! Installations and spent OAuth states (see [`store::installs`](crate::store::installs)).

use std::collections::{BTreeMap, HashMap};

use crate::store::InstallRow;

/// The rows by (channel, tenant), each with its refresh lease (ms; 0: free), and the spent
/// states with their expiry (ms).
#[derive(Debug, Default)]
pub(super) struct Installs {
    rows: BTreeMap<(String, String), (InstallRow, i64)>,
    states: HashMap<String, i64>,
}

fn key(channel: &str, tenant: &str) -> (String, String) {
    (channel.to_owned(), tenant.to_owned())
}

impl Installs {
    pub(super) fn put(&mut self, row: &InstallRow) {
        self.rows
            .insert(key(&row.channel, &row.tenant), (row.clone(), 0));
    }

    pub(super) fn get(&self, channel: &str, tenant: &str) -> Option<InstallRow> {
        self.rows.get(&key(channel, tenant)).map(|(r, _)| r.clone())
    }

    pub(super) fn list(&self, channel: Option<&str>) -> Vec<InstallRow> {
        self.rows
            .values()
            .filter(|(r, _)| channel.is_none_or(|c| r.channel == c))
            .map(|(r, _)| r.clone())
            .collect()
    }

    pub(super) fn delete(&mut self, channel: &str, tenant: &str) -> bool {
        self.rows.remove(&key(channel, tenant)).is_some()
    }

    pub(super) fn claim_refresh(
        &mut self,
        channel: &str,
        tenant: &str,
        now: i64,
        until: i64,
    ) -> bool {
        match self.rows.get_mut(&key(channel, tenant)) {
            Some((_, lease)) if *lease <= now => {
                *lease = until;
                true
            }
            _ => false,
        }
    }

    pub(super) fn spend_state(&mut self, nonce: &str, expires_at: i64, now: i64) -> bool {
        self.states.retain(|_, at| *at > now);
        self.states.insert(nonce.to_owned(), expires_at).is_none()
    }
}
