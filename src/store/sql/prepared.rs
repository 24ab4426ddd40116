//! The store's inputs as rows, prepared by the caller before they reach the writer: keys,
//! conversations and JSON, so the writer's commit does no serializing.

use std::sync::Arc;

use bytes::Bytes;
use switchboard_core::{InboundEvent, Result};

use crate::store::contacts::EventContact;
use crate::store::media::split;
use crate::store::raw::{SharedRaw, event_without_raw, share};

use crate::store::{
    InboxFinish, InboxOutcome, Lease, NewOutbound, conversation_key, millis, to_json,
};

/// An event ready for the writer: its key, conversation and JSON (without its raw payload
/// when `raw` holds it, shared with other events of its request: see `store::raw`).
pub(crate) struct PreparedEvent {
    pub(crate) channel: String,
    pub(crate) event_id: String,
    pub(crate) conversation: String,
    pub(crate) json: String,
    pub(crate) raw: Option<Arc<SharedRaw>>,
    pub(crate) received_at: i64,
    /// What it changes in the policy facts ([`contacts`](crate::store::contacts)).
    pub(crate) contact: EventContact,
}

impl PreparedEvent {
    /// `events`, received at `now`.
    pub(crate) fn all(events: &[InboundEvent], now: i64) -> Result<Vec<Self>> {
        events
            .iter()
            .zip(share(events)?)
            .map(|(ev, raw)| {
                Ok(PreparedEvent {
                    channel: ev.conversation.channel.as_str().to_owned(),
                    event_id: ev.id.as_str().to_owned(),
                    conversation: conversation_key(&ev.conversation),
                    json: match &raw {
                        Some(_) => event_without_raw(ev)?,
                        None => to_json("event", ev)?,
                    },
                    raw,
                    received_at: now,
                    contact: EventContact::of(ev),
                })
            })
            .collect()
    }
}

/// An outbox row ready for the writer: key, destination and message as JSON (byte
/// attachments replaced by their digests: see `store::media`), and the bytes by attachment
/// index.
pub(crate) struct PreparedOutbound {
    pub(crate) key: String,
    pub(crate) channel: String,
    pub(crate) conversation: String,
    pub(crate) target: String,
    pub(crate) message: String,
    pub(crate) media: Vec<(i64, Bytes)>,
}

impl PreparedOutbound {
    pub(crate) fn new(o: &NewOutbound) -> Result<Self> {
        let split = split(&o.message)?;
        Ok(PreparedOutbound {
            key: o.key.clone(),
            channel: o.to.channel.as_str().to_owned(),
            conversation: conversation_key(&o.to),
            target: to_json("target", &o.to)?,
            message: split.json,
            media: split.media,
        })
    }
}

/// A claimed row's outcome, ready for the writer.
pub(crate) enum Prepared {
    Done {
        outbox: Vec<PreparedOutbound>,
        state: Vec<(String, Option<String>)>,
        now: i64,
    },
    Retry {
        at: i64,
        error: String,
    },
    Dead {
        error: String,
    },
}

/// One finish, ready for the writer.
pub(crate) struct PreparedFinish {
    pub(crate) lease: Lease,
    pub(crate) outcome: Prepared,
}

impl PreparedFinish {
    /// `finishes`, completed at `now`.
    pub(crate) fn all(finishes: Vec<InboxFinish>, now: i64) -> Result<Vec<Self>> {
        finishes
            .into_iter()
            .map(|f| {
                let outcome = match f.outcome {
                    InboxOutcome::Done(c) => Prepared::Done {
                        outbox: c
                            .outbox
                            .iter()
                            .map(PreparedOutbound::new)
                            .collect::<Result<_>>()?,
                        state: c
                            .state
                            .into_iter()
                            .map(|(k, v)| Ok((k, v.map(|v| to_json("state", &v)).transpose()?)))
                            .collect::<Result<_>>()?,
                        now,
                    },
                    InboxOutcome::Retry { at, error } => Prepared::Retry {
                        at: millis(at),
                        error,
                    },
                    InboxOutcome::DeadLetter { error } => Prepared::Dead { error },
                };
                Ok(PreparedFinish {
                    lease: f.lease,
                    outcome,
                })
            })
            .collect()
    }
}
