//! The gateway's forwarding queue in memory: rows by sequence, pending sequences per (endpoint,
//! conversation), and a ready set of heads (enabled endpoints only) ordered by `ready_at`, so a
//! claim reads only ready heads.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use switchboard_core::Result;

use super::{Inner, span};
use crate::store::{
    Claim, ForwardDead, ForwardEndpoint, ForwardFinish, ForwardItem, ForwardOutcome, Lease,
    NewForward, new_token,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Delivered,
    Dead,
}

#[derive(Debug)]
struct Row {
    endpoint: String,
    id: String,
    conversation: String,
    body: String,
    state: State,
    attempts: u32,
    token: i64,
    ready_at: i64,
    error: String,
    delivered_at: i64,
}

type QueueKey = (String, String);

/// Every endpoint's queue.
#[derive(Debug, Default)]
pub(super) struct Forwards {
    next_seq: i64,
    rows: HashMap<i64, Row>,
    /// (endpoint, event id) → seq, for every row kept.
    keys: HashMap<QueueKey, i64>,
    /// Pending seqs per (endpoint, conversation): the first is the head.
    queues: HashMap<QueueKey, BTreeSet<i64>>,
    /// Heads of enabled endpoints by (ready_at, seq).
    ready: BTreeSet<(i64, i64)>,
    /// Disabled endpoints and why.
    disabled: BTreeMap<String, String>,
    /// Delivered rows by (delivered at, seq), for pruning.
    delivered: BTreeSet<(i64, i64)>,
}

impl Forwards {
    fn head_of(&self, key: &QueueKey) -> Option<i64> {
        self.queues.get(key).and_then(|q| q.first().copied())
    }

    /// Makes the queue's first pending row its ready head (from `now`, unless `keep` its
    /// current `ready_at`).
    fn promote(&mut self, key: &QueueKey, now: i64) {
        let Some(seq) = self.head_of(key) else {
            self.queues.remove(key);
            return;
        };
        let enabled = !self.disabled.contains_key(&key.0);
        if let Some(row) = self.rows.get_mut(&seq) {
            row.ready_at = now;
            if enabled {
                self.ready.insert((now, seq));
            }
        }
    }

    fn enqueue(&mut self, rows: &[NewForward], now: i64) -> Vec<bool> {
        rows.iter()
            .map(|r| {
                let key = (r.endpoint.clone(), r.id.clone());
                if self.keys.contains_key(&key) {
                    return false;
                }
                self.next_seq += 1;
                let seq = self.next_seq;
                self.keys.insert(key, seq);
                self.rows.insert(
                    seq,
                    Row {
                        endpoint: r.endpoint.clone(),
                        id: r.id.clone(),
                        conversation: r.conversation.clone(),
                        body: r.body.clone(),
                        state: State::Pending,
                        attempts: 0,
                        token: 0,
                        ready_at: now,
                        error: String::new(),
                        delivered_at: 0,
                    },
                );
                let qkey = (r.endpoint.clone(), r.conversation.clone());
                let queue = self.queues.entry(qkey.clone()).or_default();
                queue.insert(seq);
                if queue.len() == 1 {
                    self.promote(&qkey, now);
                }
                true
            })
            .collect()
    }

    fn claim(&mut self, claim: &Claim) -> Vec<ForwardItem> {
        let (now, until) = span(claim);
        let due: Vec<(i64, i64)> = self
            .ready
            .range(..(now.saturating_add(1), i64::MIN))
            .take(claim.limit)
            .copied()
            .collect();
        let mut items = Vec::with_capacity(due.len());
        for entry in due {
            self.ready.remove(&entry);
            let Some(row) = self.rows.get_mut(&entry.1) else {
                continue;
            };
            row.token = new_token();
            row.attempts += 1;
            row.ready_at = until;
            self.ready.insert((until, entry.1));
            items.push(ForwardItem {
                lease: Lease::new(entry.1, row.token),
                endpoint: row.endpoint.clone(),
                id: row.id.clone(),
                conversation: row.conversation.clone(),
                body: row.body.clone(),
                attempts: row.attempts,
            });
        }
        items
    }

    /// The row under `lease` if it still holds it.
    fn leased(&self, lease: Lease) -> Option<&Row> {
        self.rows
            .get(&lease.seq)
            .filter(|r| r.state == State::Pending && r.token == lease.token && r.token != 0)
    }

    /// Ends a pending row (delivered or dead) and promotes its queue's next row.
    fn end(&mut self, seq: i64, state: State, error: String, now: i64) {
        let Some(row) = self.rows.get_mut(&seq) else {
            return;
        };
        self.ready.remove(&(row.ready_at, seq));
        row.state = state;
        row.token = 0;
        row.error = error;
        if state == State::Delivered {
            row.body = String::new();
            row.delivered_at = now;
            self.delivered.insert((now, seq));
        }
        let key = (row.endpoint.clone(), row.conversation.clone());
        if let Some(q) = self.queues.get_mut(&key) {
            q.remove(&seq);
        }
        self.promote(&key, now);
    }

    fn release(&mut self, seq: i64, at: i64, error: String, counted: bool) {
        let Some(row) = self.rows.get_mut(&seq) else {
            return;
        };
        let was = (row.ready_at, seq);
        row.ready_at = at;
        row.token = 0;
        row.error = error;
        if !counted {
            row.attempts = row.attempts.saturating_sub(1);
        }
        let enabled = !self.disabled.contains_key(&row.endpoint);
        self.ready.remove(&was);
        if enabled {
            self.ready.insert((at, seq));
        }
    }

    fn set_disabled(&mut self, endpoint: &str, reason: Option<&str>, now: i64) {
        match reason {
            Some(r) => {
                self.disabled.insert(endpoint.to_owned(), r.to_owned());
            }
            None => {
                self.disabled.remove(endpoint);
            }
        }
        let heads: Vec<i64> = self
            .queues
            .iter()
            .filter(|(k, _)| k.0 == endpoint)
            .filter_map(|(_, q)| q.first().copied())
            .collect();
        for seq in heads {
            let Some(row) = self.rows.get_mut(&seq) else {
                continue;
            };
            self.ready.remove(&(row.ready_at, seq));
            if reason.is_none() {
                // A head in flight keeps its lease; the others are ready at once.
                if row.token == 0 {
                    row.ready_at = now;
                }
                self.ready.insert((row.ready_at, seq));
            }
        }
    }

    fn endpoints(&self) -> Vec<ForwardEndpoint> {
        let mut all: BTreeMap<&str, ForwardEndpoint> = BTreeMap::new();
        for row in self.rows.values() {
            let e = all
                .entry(row.endpoint.as_str())
                .or_insert_with(|| ForwardEndpoint::new(row.endpoint.clone()));
            match row.state {
                State::Pending => e.pending += 1,
                State::Dead => e.dead += 1,
                State::Delivered => {}
            }
        }
        for (name, reason) in &self.disabled {
            all.entry(name.as_str())
                .or_insert_with(|| ForwardEndpoint::new(name.clone()))
                .disabled = Some(reason.clone());
        }
        all.into_values().collect()
    }

    fn dead(&self, endpoint: Option<&str>, limit: usize) -> Vec<ForwardDead> {
        let mut dead: Vec<(&i64, &Row)> = self
            .rows
            .iter()
            .filter(|(_, r)| r.state == State::Dead && endpoint.is_none_or(|e| r.endpoint == e))
            .collect();
        dead.sort_by_key(|(seq, _)| **seq);
        dead.into_iter()
            .take(limit)
            .map(|(_, r)| {
                ForwardDead::new(&r.endpoint, &r.id, &r.conversation, &r.error, r.attempts)
            })
            .collect()
    }

    fn replay(&mut self, endpoint: &str, now: i64) -> u64 {
        let mut dead: Vec<i64> = self
            .rows
            .iter()
            .filter(|(_, r)| r.state == State::Dead && r.endpoint == endpoint)
            .map(|(seq, _)| *seq)
            .collect();
        dead.sort_unstable();
        let mut n = 0;
        for old in dead {
            let Some(mut row) = self.rows.remove(&old) else {
                continue;
            };
            self.next_seq += 1;
            let seq = self.next_seq;
            row.state = State::Pending;
            row.attempts = 0;
            row.token = 0;
            row.error = String::new();
            row.ready_at = now;
            self.keys
                .insert((row.endpoint.clone(), row.id.clone()), seq);
            let key = (row.endpoint.clone(), row.conversation.clone());
            self.rows.insert(seq, row);
            let queue = self.queues.entry(key.clone()).or_default();
            queue.insert(seq);
            if queue.len() == 1 {
                self.promote(&key, now);
            }
            n += 1;
        }
        n
    }

    fn prune(&mut self, before: i64) -> u64 {
        let old: Vec<(i64, i64)> = self
            .delivered
            .range(..(before, i64::MIN))
            .copied()
            .collect();
        for entry in &old {
            self.delivered.remove(entry);
            if let Some(row) = self.rows.remove(&entry.1) {
                self.keys.remove(&(row.endpoint, row.id));
            }
        }
        old.len() as u64
    }
}

impl Inner {
    pub(super) fn enqueue_forwards(&mut self, rows: &[NewForward], now: i64) -> Vec<bool> {
        self.forwards.enqueue(rows, now)
    }

    pub(super) fn claim_forwards(&mut self, claim: &Claim) -> Vec<ForwardItem> {
        self.forwards.claim(claim)
    }

    pub(super) fn finish_forward(&mut self, finish: ForwardFinish, now: i64) -> Result<bool> {
        if self.forwards.leased(finish.lease).is_none() {
            return Ok(false);
        }
        let seq = finish.lease.seq;
        match finish.outcome {
            ForwardOutcome::Delivered { replies } => {
                // All or nothing: a refused reply leaves the row leased and nothing written.
                self.enqueue_outbound(&replies)?;
                self.forwards.end(seq, State::Delivered, String::new(), now);
            }
            ForwardOutcome::Retry { at, error } => {
                self.forwards.release(seq, super::millis(at), error, true);
            }
            ForwardOutcome::Disable { reason } => {
                let endpoint = self.forwards.rows.get(&seq).map(|r| r.endpoint.clone());
                self.forwards.release(seq, now, reason.clone(), false);
                if let Some(e) = endpoint {
                    self.forwards.set_disabled(&e, Some(&reason), now);
                }
            }
            ForwardOutcome::DeadLetter { error } => {
                self.forwards.end(seq, State::Dead, error, now);
            }
        }
        Ok(true)
    }

    pub(super) fn set_forward_disabled(&mut self, endpoint: &str, reason: Option<&str>, now: i64) {
        self.forwards.set_disabled(endpoint, reason, now);
    }

    pub(super) fn forward_endpoints(&self) -> Vec<ForwardEndpoint> {
        self.forwards.endpoints()
    }

    pub(super) fn forward_dead_letters(
        &self,
        endpoint: Option<&str>,
        limit: usize,
    ) -> Vec<ForwardDead> {
        self.forwards.dead(endpoint, limit)
    }

    pub(super) fn replay_forwards(&mut self, endpoint: &str, now: i64) -> u64 {
        self.forwards.replay(endpoint, now)
    }

    pub(super) fn prune_forwards(&mut self, before: i64) -> u64 {
        self.forwards.prune(before)
    }
}
