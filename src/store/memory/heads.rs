//! The ready queue of one queue (inbox or outbox): each conversation's pending rows in order,
//! the claim state of its head, and the heads ordered by when they are ready. Every operation
//! is O(log n) (a claim O(limit · log n)), whatever the backlog and however many handled rows
//! are kept beside it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::store::{Lease, new_token};

/// The claim state of a conversation's head: the row that may run next.
#[derive(Debug, Clone, Default)]
pub(super) struct Head {
    /// The head row.
    pub(super) seq: i64,
    /// When it may be claimed: 0 for "now, in sequence order" (a new head), else the time of
    /// its retry or the end of its lease.
    pub(super) ready_at: i64,
    /// The lease's token (0: never claimed, or released).
    pub(super) token: i64,
    /// Claims of this row so far.
    pub(super) attempts: u32,
    /// The last error recorded for it.
    pub(super) error: Option<String>,
    /// Outbox: 0 not claimed, 1 claimed, 2 a send began under the claim.
    pub(super) inflight: u8,
    /// Outbox: the last attempt's outcome is unknown.
    pub(super) uncertain: bool,
    /// Outbox: when the first send attempt began.
    pub(super) first_attempt_at: Option<i64>,
    /// Outbox: when the last send attempt began.
    pub(super) last_attempt_at: Option<i64>,
}

/// Pending rows per conversation, their heads, and the heads in ready order.
#[derive(Debug, Default)]
pub(super) struct Heads {
    /// Each conversation's pending rows, lowest first; the first is the head.
    pending: HashMap<Arc<str>, VecDeque<i64>>,
    heads: HashMap<Arc<str>, Head>,
    /// (ready_at, seq, conversation) of every head.
    ready: BTreeSet<(i64, i64, Arc<str>)>,
    rows: usize,
}

impl Heads {
    /// Pending rows.
    pub(super) fn len(&self) -> usize {
        self.rows
    }

    /// The conversation's interned key, if it has pending rows.
    pub(super) fn key(&self, conversation: &str) -> Option<Arc<str>> {
        self.pending
            .get_key_value(conversation)
            .map(|(k, _)| k.clone())
    }

    /// Appends row `seq` (higher than every row before it) to its conversation; it becomes the
    /// head, ready at once, when the conversation had no pending row.
    pub(super) fn push(&mut self, conversation: &str, seq: i64) -> Arc<str> {
        self.rows += 1;
        if let Some(rows) = self.pending.get_mut(conversation) {
            rows.push_back(seq);
            if let Some(key) = self.key(conversation) {
                return key;
            }
        }
        let key: Arc<str> = Arc::from(conversation);
        self.pending.insert(key.clone(), VecDeque::from([seq]));
        self.start(&key, seq);
        key
    }

    /// Row `seq` becomes the head of `key`, ready at once.
    fn start(&mut self, key: &Arc<str>, seq: i64) {
        self.heads.insert(
            key.clone(),
            Head {
                seq,
                ..Head::default()
            },
        );
        self.ready.insert((0, seq, key.clone()));
    }

    /// Leases up to `limit` heads ready at `now` until `until`: first those whose time came
    /// (retries, expired leases) by time, then those ready at once by sequence; returns their
    /// conversations and heads (attempts counted, token set).
    pub(super) fn claim(&mut self, now: i64, until: i64, limit: usize) -> Vec<(Arc<str>, Head)> {
        let lowest = |at: i64| (at, i64::MIN, Arc::<str>::from(""));
        let mut due: Vec<(i64, i64, Arc<str>)> = self
            .ready
            .range(lowest(1)..)
            .take_while(|(at, _, _)| *at <= now)
            .take(limit)
            .cloned()
            .collect();
        let fresh = limit - due.len();
        due.extend(self.ready.range(..lowest(1)).take(fresh).cloned());
        let mut out = Vec::with_capacity(due.len());
        for entry in due {
            self.ready.remove(&entry);
            let (_, seq, key) = entry;
            let Some(head) = self.heads.get_mut(&key) else {
                continue;
            };
            head.token = new_token();
            head.ready_at = until;
            head.attempts += 1;
            self.ready.insert((until, seq, key.clone()));
            out.push((key, head.clone()));
        }
        out
    }

    /// The head of `conversation` if `lease` still holds it.
    pub(super) fn leased(&mut self, conversation: &str, lease: Lease) -> Option<&mut Head> {
        self.heads
            .get_mut(conversation)
            .filter(|h| h.seq == lease.seq && h.token == lease.token)
    }

    /// The head of `conversation`, whoever holds it.
    pub(super) fn head(&self, conversation: &str) -> Option<&Head> {
        self.heads.get(conversation)
    }

    /// Moves the head of `conversation` to be ready at `at` (a release, a renewal).
    pub(super) fn set_ready(&mut self, conversation: &str, at: i64) {
        let Some((key, head)) = self.heads.get_key_value(conversation) else {
            return;
        };
        let key = key.clone();
        let old = (head.ready_at, head.seq, key.clone());
        self.ready.remove(&old);
        if let Some(head) = self.heads.get_mut(&key) {
            head.ready_at = at;
            self.ready.insert((at, head.seq, key));
        }
    }

    /// Removes the head row of `conversation` from the queue (handled, sent, dead) and returns
    /// its final claim state; the next pending row becomes the head, ready at its available
    /// time.
    pub(super) fn pop(&mut self, conversation: &str) -> Option<Head> {
        let (key, head) = self.heads.remove_entry(conversation)?;
        self.ready.remove(&(head.ready_at, head.seq, key.clone()));
        self.rows = self.rows.saturating_sub(1);
        let next = match self.pending.get_mut(&key) {
            Some(rows) => {
                rows.pop_front();
                rows.front().copied()
            }
            None => None,
        };
        match next {
            Some(seq) => self.start(&key, seq),
            None => {
                self.pending.remove(&key);
            }
        }
        Some(head)
    }
}
