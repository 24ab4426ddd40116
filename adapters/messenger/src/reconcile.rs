//! Reconciliation by echoes: every part of a send carries its outbox key in `message.metadata`,
//! Meta echoes it back (webhook field `message_echoes`) once the message is sent, and
//! `reconcile` looks the key up among the echoes this adapter has seen.
//!
//! The marker is `switchboard:<key>#<part>/<parts>` (part counted from 1): the suffix never
//! holds a `#`, so the key is everything between the prefix and the last `#`, whatever it holds.
//! A send without a key is marked `switchboard:` only (an own echo, dropped).
//!
//! The Graph API offers no lookup of a sent message by metadata, so absence is never proven:
//! no echo within the configured wait is `Unknown`, never `NotDelivered`, and parts missing
//! after some echoed make the whole send `Unknown` too (`Partial` would claim they are absent).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use switchboard_core::reconcile::{OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE};
use switchboard_core::{
    ConversationRef, EventKind, InboundEvent, MessageId, Reconciled, SentMessage,
};
use tokio::sync::Notify;

use crate::render::METADATA_PREFIX;

/// How long before the first attempt an echo still counts (clock skew between Meta and us).
pub(crate) const SKEW: Duration = Duration::from_secs(60);
/// How long an echo is remembered.
const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How many keys are remembered at most (the oldest are forgotten first).
const MAX_KEYS: usize = 20_000;

/// What `message.metadata` of one part says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The outbox key.
    pub(crate) key: String,
    /// The part, counted from 0.
    pub(crate) part: usize,
    /// How many parts the send has.
    pub(crate) parts: usize,
}

/// The `metadata` of part `part` (from 0) of `parts` of a send with `key`.
pub(crate) fn metadata(key: Option<&str>, part: usize, parts: usize) -> String {
    match key {
        Some(k) if !k.is_empty() => format!("{METADATA_PREFIX}{k}#{}/{parts}", part + 1),
        _ => METADATA_PREFIX.to_owned(),
    }
}

/// Reads a marker written by [`metadata`]; `None` for other metadata and for sends without a key.
/// A marker without the `#part/parts` suffix is taken as a one-part send.
pub(crate) fn parse(metadata: &str) -> Option<Marker> {
    let rest = metadata.strip_prefix(METADATA_PREFIX)?;
    let suffix = rest.rsplit_once('#').and_then(|(key, s)| {
        let (part, parts) = s.split_once('/')?;
        let (part, parts): (usize, usize) = (part.parse().ok()?, parts.parse().ok()?);
        (part >= 1 && part <= parts).then(|| (key, part - 1, parts))
    });
    let (key, part, parts) = suffix.unwrap_or((rest, 0, 1));
    (!key.is_empty()).then(|| Marker {
        key: key.to_owned(),
        part,
        parts,
    })
}

/// One echo of a marked part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Echo {
    /// The user (PSID) the part went to.
    pub(crate) conversation: String,
    /// The part, from 0.
    pub(crate) part: usize,
    /// The `mid` Meta gave it.
    pub(crate) mid: String,
    /// Meta's timestamp of the message.
    pub(crate) at: SystemTime,
}

#[derive(Debug, Default)]
struct Seen {
    by_key: HashMap<String, Vec<Echo>>,
    /// Keys in the order first seen, with when: pruning.
    order: VecDeque<(SystemTime, String)>,
}

/// The echoes of marked sends this adapter received, by key. Shared by clones of the adapter.
#[derive(Debug, Default)]
pub(crate) struct EchoLog {
    seen: Mutex<Seen>,
    arrived: Notify,
}

impl EchoLog {
    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers an echo (once per `mid`: Meta redelivers) and wakes waiting reconciliations.
    pub(crate) fn record(&self, key: &str, echo: Echo) {
        let now = SystemTime::now();
        let mut seen = self.lock();
        while let Some((at, oldest)) = seen.order.front().cloned() {
            let expired = now.duration_since(at).unwrap_or_default() > RETENTION;
            if !expired && seen.order.len() < MAX_KEYS {
                break;
            }
            seen.order.pop_front();
            seen.by_key.remove(&oldest);
        }
        let is_new_key = !seen.by_key.contains_key(key);
        let echoes = seen.by_key.entry(key.to_owned()).or_default();
        if !echoes.iter().any(|e| e.mid == echo.mid) {
            echoes.push(echo);
        }
        if is_new_key {
            seen.order.push_back((now, key.to_owned()));
        }
        drop(seen);
        self.arrived.notify_waiters();
    }

    /// Remembers the echo proofs among decoded `events` (see `webhook/message.rs`).
    pub(crate) fn record_events(&self, events: &[InboundEvent]) {
        for e in events {
            let EventKind::Delivery(d) = &e.kind else {
                continue;
            };
            let attr = |k: &str| e.attributes.get(k).map(String::as_str);
            let (Some(key), Some(part), Some(mid)) = (
                attr(OUTBOX_KEY_ATTRIBUTE),
                attr(OUTBOX_PART_ATTRIBUTE).and_then(|p| p.parse::<usize>().ok()),
                d.messages.first(),
            ) else {
                continue;
            };
            self.record(
                key,
                Echo {
                    conversation: e.conversation.conversation.as_str().to_owned(),
                    part,
                    mid: mid.as_str().to_owned(),
                    at: e.at,
                },
            );
        }
    }

    /// The `mid` of each of `parts` parts of `key` sent to `conversation` at or after `since`
    /// (the first echo of each part).
    fn parts(
        &self,
        key: &str,
        conversation: &str,
        since: SystemTime,
        parts: usize,
    ) -> Vec<Option<Echo>> {
        let seen = self.lock();
        let mut out = vec![None; parts];
        for e in seen.by_key.get(key).into_iter().flatten() {
            if e.conversation == conversation
                && e.at >= since
                && let Some(slot) = out.get_mut(e.part)
                && slot.is_none()
            {
                *slot = Some(e.clone());
            }
        }
        out
    }

    /// Waits up to `wait` for an echo of every one of `parts` parts of `key` to `conversation`
    /// (the canonical id of `to`), sent at or after `since`: `Delivered` with their `mid`s in
    /// order, else `Unknown` saying what is missing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn reconcile(
        &self,
        key: &str,
        conversation: &str,
        to: &ConversationRef,
        since: SystemTime,
        parts: usize,
        wait: Duration,
    ) -> Reconciled {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let found = self.parts(key, conversation, since, parts);
            if found.iter().all(Option::is_some) {
                return Reconciled::Delivered(
                    found
                        .into_iter()
                        .flatten()
                        .filter_map(|e| sent(e, to))
                        .collect(),
                );
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Reconciled::Unknown(missing(&found, wait));
            }
        }
    }
}

fn sent(e: Echo, to: &ConversationRef) -> Option<SentMessage> {
    Some(SentMessage::new(MessageId::new(e.mid).ok()?, to.clone()).at(e.at))
}

fn missing(found: &[Option<Echo>], wait: Duration) -> String {
    let echoed: Vec<String> = found
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().map(|e| format!("part {} ({})", i + 1, e.mid)))
        .collect();
    let waited = format!("within {} ms", wait.as_millis());
    if echoed.is_empty() {
        format!(
            "no message_echoes webhook carried the key {waited}; Messenger offers no lookup, \
             so whether Meta has the message is unknown"
        )
    } else {
        format!(
            "{} of {} parts echoed ({}), the rest not {waited}; whether Meta has them is unknown",
            echoed.len(),
            found.len(),
            echoed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests;
