//! The gateway's forwarding queue, as it crosses the [`Store`](super::Store) trait: one queue
//! per endpoint, ordered per conversation like the outbox (only a conversation's head is
//! handed out, so an endpoint gets a conversation's events one at a time, in order), with
//! leases and fencing tokens like the other queues.
//!
//! - **Dedupe.** (endpoint, event id) is remembered while the row is pending, dead, or
//!   delivered and not yet pruned ([`prune_forwards`](super::Store::prune_forwards)): an
//!   event offered twice (a handler run again after a crash) is forwarded once.
//! - **Synchronous replies** ([`ForwardOutcome::Delivered`]) are inserted into the outbox in
//!   the same transaction that marks the row delivered, with the outbox's key rules: a key
//!   already held refuses the finish (`InvalidMessage`) and nothing of it is written.
//! - **Disabled endpoints** (an endpoint answered `410 Gone`, or an operator disabled it)
//!   hand out nothing until enabled again; their rows stay pending, in order.
//! - **Dead letters** stay (and deduplicate) until replayed: a replay appends them again at
//!   the end of their conversations, attempts reset, with the same event id.

use std::time::SystemTime;

use super::{Lease, NewOutbound};

/// A row for [`Store::enqueue_forwards`](super::Store::enqueue_forwards): one event for one
/// endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewForward {
    /// The endpoint's name (`[[gateway.forward]] name`).
    pub endpoint: String,
    /// The event id: the `webhook-id`, stable across retries; unique per endpoint.
    pub id: String,
    /// The conversation key: the order is kept per (endpoint, conversation).
    pub conversation: String,
    /// The JSON body, as it will be sent (signed again at each attempt, never changed).
    pub body: String,
}

impl NewForward {
    /// Event `id` with `body`, for `endpoint`, in `conversation`'s order.
    pub fn new(
        endpoint: impl Into<String>,
        id: impl Into<String>,
        conversation: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        NewForward {
            endpoint: endpoint.into(),
            id: id.into(),
            conversation: conversation.into(),
            body: body.into(),
        }
    }
}

/// A claimed forwarding row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardItem {
    /// The lease to finish it with.
    pub lease: Lease,
    /// The endpoint's name.
    pub endpoint: String,
    /// The event id (`webhook-id`).
    pub id: String,
    /// The conversation key.
    pub conversation: String,
    /// The body.
    pub body: String,
    /// Claims so far, this one included (a release by [`ForwardOutcome::Disable`] does not
    /// count).
    pub attempts: u32,
}

/// How a claimed forwarding row ends (or is released).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ForwardOutcome {
    /// The endpoint accepted it (2xx): the row is delivered and its conversation's next row
    /// becomes the head; `replies` go to the outbox in the same transaction.
    Delivered {
        /// The endpoint's synchronous replies.
        replies: Vec<NewOutbound>,
    },
    /// Released to be tried again at `at`, recording `error`.
    Retry {
        /// When it may be claimed again.
        at: SystemTime,
        /// Why the attempt failed.
        error: String,
    },
    /// The endpoint is gone (`410`): it is disabled with `reason` (nothing of it is handed
    /// out until enabled) and this row is released, its claim not counted as an attempt.
    Disable {
        /// Why (logged, listed by the CLI).
        reason: String,
    },
    /// Given up: the row becomes a dead letter with `error`; the conversation's next row
    /// becomes the head.
    DeadLetter {
        /// Why.
        error: String,
    },
}

/// One claimed row to finish.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ForwardFinish {
    /// The claim's lease.
    pub lease: Lease,
    /// What happened.
    pub outcome: ForwardOutcome,
}

impl ForwardFinish {
    /// Finishes the row under `lease` with `outcome`.
    pub fn new(lease: Lease, outcome: ForwardOutcome) -> Self {
        ForwardFinish { lease, outcome }
    }
}

/// What the store knows about one endpoint's queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ForwardEndpoint {
    /// The endpoint's name.
    pub name: String,
    /// Why it is disabled; `None`: enabled.
    pub disabled: Option<String>,
    /// Rows waiting (or being delivered).
    pub pending: u64,
    /// Dead letters waiting for a replay.
    pub dead: u64,
}

impl ForwardEndpoint {
    /// An enabled endpoint with nothing queued.
    pub fn new(name: impl Into<String>) -> Self {
        ForwardEndpoint {
            name: name.into(),
            ..ForwardEndpoint::default()
        }
    }
}

/// A forwarding row given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardDead {
    /// The endpoint's name.
    pub endpoint: String,
    /// The event id.
    pub id: String,
    /// The conversation key.
    pub conversation: String,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
}

impl ForwardDead {
    /// Event `id` of `endpoint`, given up with `error`.
    pub fn new(
        endpoint: impl Into<String>,
        id: impl Into<String>,
        conversation: impl Into<String>,
        error: impl Into<String>,
        attempts: u32,
    ) -> Self {
        ForwardDead {
            endpoint: endpoint.into(),
            id: id.into(),
            conversation: conversation.into(),
            error: error.into(),
            attempts,
        }
    }
}
