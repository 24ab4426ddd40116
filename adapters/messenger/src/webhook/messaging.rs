//! One webhook item (`messaging[]`, `standby[]` or a dashboard `changes[].value`) → one neutral event.
//!
//! | item | event | id (dedupe key) |
//! |---|---|---|
//! | `message` (text, attachments, `reply_to`) | `Message` | `mid` |
//! | `message.quick_reply` | `Action` (quick reply; label = text) | `mid` |
//! | `message.is_echo` of this app (`app_id`, or our `metadata` when no `app_id` is configured) with an outbox key in `metadata` | `Delivery(sent)` for the `mid`, key in `switchboard.outbox_key`, part in `switchboard.outbox_part` (from 0) and `switchboard.outbox_parts` | `mid` |
//! | the same without a key | dropped | – |
//! | other echoes (Page inbox, other apps) | `Message` with `from_business`, sender = the Page | `mid` |
//! | `postback` | `Action` (button; label = title) | `mid`, else a hash |
//! | `delivery` | `Delivery(delivered)` for `mids`, up to `watermark` | hash |
//! | `read` | `Delivery(read)` up to `watermark` | hash |
//! | `reaction` | `Reaction` (`react` adds, `unreact` removes) | hash |
//! | `message_edit` | `Edited` | hash |
//! | anything else (`referral`, `optin`, …) | `Other` named after its key | hash |
//!
//! Hash ids are `<kind>:<hex>` of SHA-256 over the item's JSON, stable across Meta's retries.
//! Timestamps are milliseconds; values below 10^11 are taken as seconds (dashboard samples).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_core::model::{
    ActionSource, DeliveryEvent, DeliveryStatus, EditedEvent, EventId, OtherEvent, ReactionEvent,
    Sender,
};
use switchboard_core::{
    ChannelName, ConversationId, ConversationRef, EventKind, InboundEvent, MessageId, UserId,
};

use super::message::{MessageItem, action};
use crate::config::MessengerConfig;
use crate::wire::{Item, Party};

/// Where an item came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Messaging,
    /// Another app holds thread control (`messenger.standby = "true"`).
    Standby,
    /// An App Dashboard `{field, value}` change (`messenger.field`).
    Change(String),
}

pub(crate) struct Decoder<'a> {
    /// The channel's configuration (all its Pages).
    pub(crate) config: &'a MessengerConfig,
    pub(crate) channel: &'a ChannelName,
    /// The Page the item belongs to (one the channel serves).
    pub(crate) page: &'a str,
    pub(crate) received_at: SystemTime,
}

fn time_of(ts: i64) -> SystemTime {
    let ms = if ts.abs() < 100_000_000_000 {
        ts.saturating_mul(1000)
    } else {
        ts
    };
    match u64::try_from(ms) {
        Ok(ms) => UNIX_EPOCH + Duration::from_millis(ms),
        Err(_) => UNIX_EPOCH,
    }
}

pub(super) fn hash_id(kind: &str, raw: &Value) -> String {
    let digest = Sha256::digest(raw.to_string().as_bytes());
    format!("{kind}:{}", hex::encode(&digest[..16]))
}

fn party_id(p: Option<&Party>) -> Option<String> {
    let p = p?;
    p.id.clone()
        .or_else(|| p.user_ref.as_ref().map(|r| format!("user_ref:{r}")))
}

impl Decoder<'_> {
    /// An `Other` event for `raw`, attributed to the Page (or the item's sender when present).
    pub(crate) fn other(&self, event_type: &str, raw: Value) -> InboundEvent {
        let who = raw
            .get("sender")
            .and_then(|s| serde_json::from_value::<Party>(s.clone()).ok());
        let who = party_id(who.as_ref()).unwrap_or_else(|| self.page.to_owned());
        let mut raw = raw;
        self.event(
            hash_id(event_type, &raw),
            &who,
            &who,
            false,
            self.received_at,
            EventKind::Other(OtherEvent {
                event_type: event_type.to_owned(),
            }),
            &mut raw,
        )
        .unwrap_or_else(|| self.fallback_event(event_type, raw))
    }

    /// Only reached when ids fail validation (control characters, > 512 bytes): the event is
    /// attributed to the Page, under a hash id.
    fn fallback_event(&self, event_type: &str, raw: Value) -> InboundEvent {
        let page = self.page;
        InboundEvent::new(
            EventId::new(hash_id("other", &raw)).unwrap_or_else(|_| unreachable_id()),
            ConversationRef::new(
                self.channel.clone(),
                ConversationId::new(self.config.conversation_id(page, page))
                    .unwrap_or_else(|_| unreachable_id()),
            ),
            Sender::user(UserId::new(page).unwrap_or_else(|_| unreachable_id())),
            self.received_at,
            EventKind::Other(OtherEvent {
                event_type: event_type.to_owned(),
            }),
            raw,
        )
    }

    /// The event; `raw` is moved into it (left `Null`) only when it is built, so a caller can
    /// still fall back to `other` with the payload when an id does not validate.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn event(
        &self,
        id: String,
        conversation: &str,
        sender: &str,
        from_page: bool,
        at: SystemTime,
        kind: EventKind,
        raw: &mut Value,
    ) -> Option<InboundEvent> {
        // On a channel of several Pages the conversation id names the Page.
        let conversation = ConversationRef::new(
            self.channel.clone(),
            ConversationId::new(self.config.conversation_id(self.page, conversation)).ok()?,
        );
        let mut sender = Sender::user(UserId::new(sender).ok()?);
        sender.is_bot = from_page;
        let id = EventId::new(id).ok()?;
        Some(InboundEvent::new(
            id,
            conversation,
            sender,
            at,
            kind,
            std::mem::take(raw),
        ))
    }

    /// An event of `kind` from the user `sender` in their conversation, under a hash id named
    /// `name` (items without an id of their own).
    fn user_event(
        &self,
        name: &str,
        sender: &str,
        at: SystemTime,
        kind: EventKind,
        raw: &mut Value,
    ) -> Option<InboundEvent> {
        self.event(hash_id(name, raw), sender, sender, false, at, kind, raw)
    }

    /// Decodes one item; `None` for this app's own echoes.
    pub(crate) fn item(&self, raw: Value, origin: Origin) -> Option<InboundEvent> {
        let mut raw = raw;
        let Ok(item) = Item::deserialize(&raw) else {
            return Some(self.with_origin(self.other(&first_key(&raw), raw), &origin));
        };
        let at = item.timestamp.map(time_of).unwrap_or(self.received_at);
        let sender = party_id(item.sender.as_ref());
        let recipient = party_id(item.recipient.as_ref());
        let (Some(sender), Some(recipient)) = (sender, recipient) else {
            return Some(self.with_origin(self.other(&first_key(&raw), raw), &origin));
        };
        let decoded = if let Some(m) = &item.message {
            match self.message_item(m, &sender, &recipient, at, &mut raw) {
                MessageItem::OwnEcho(proof) => return proof.map(|p| self.with_origin(p, &origin)),
                MessageItem::Event(e) => e,
            }
        } else if let Some(p) = &item.postback {
            let kind = action(&p.payload, ActionSource::Button, &p.title, &p.mid);
            let id = p.mid.clone().unwrap_or_else(|| hash_id("postback", &raw));
            self.event(id, &sender, &sender, false, at, kind, &mut raw)
                .map(|mut e| {
                    if let Some(r) = &p.referral {
                        for (k, v) in [("ref", &r.r#ref), ("source", &r.source), ("type", &r.kind)]
                        {
                            if let Some(v) = v {
                                e.attributes
                                    .insert(format!("messenger.referral_{k}"), v.clone());
                            }
                        }
                    }
                    e
                })
        } else if let Some(d) = item.delivery.as_ref().or(item.read.as_ref()) {
            let (status, name) = if item.delivery.is_some() {
                (DeliveryStatus::Delivered, "delivery")
            } else {
                (DeliveryStatus::Read, "read")
            };
            let mids = d
                .mids
                .iter()
                .filter_map(|m| MessageId::new(m.clone()).ok())
                .collect();
            let ev = DeliveryEvent::new(status, mids).with_watermark(time_of(d.watermark));
            let at = item
                .timestamp
                .map(time_of)
                .unwrap_or(ev.watermark.unwrap_or(at));
            self.user_event(name, &sender, at, EventKind::Delivery(ev), &mut raw)
        } else if let Some(r) = &item.reaction {
            let reaction = r
                .reaction
                .clone()
                .or_else(|| r.emoji.clone())
                .unwrap_or_else(|| "other".to_owned());
            MessageId::new(r.mid.clone()).ok().and_then(|message| {
                let kind = EventKind::Reaction(ReactionEvent {
                    message,
                    reaction,
                    added: r.action != "unreact",
                });
                let e = self.user_event("reaction", &sender, at, kind, &mut raw)?;
                Some(match &r.emoji {
                    Some(emoji) => e.with_attribute("messenger.emoji", emoji.clone()),
                    None => e,
                })
            })
        } else if let Some(ed) = &item.message_edit {
            MessageId::new(ed.mid.clone()).ok().and_then(|message| {
                let kind = EventKind::Edited(EditedEvent {
                    message,
                    text: ed.text.clone(),
                });
                let e = self.user_event("edit", &sender, at, kind, &mut raw)?;
                Some(match ed.num_edit {
                    Some(n) => e.with_attribute("messenger.num_edit", n.to_string()),
                    None => e,
                })
            })
        } else {
            let name = first_key(&raw);
            let kind = EventKind::Other(OtherEvent {
                event_type: name.clone(),
            });
            self.user_event(&name, &sender, at, kind, &mut raw)
        };
        let event = decoded.unwrap_or_else(|| self.other(&first_key(&raw), raw));
        Some(self.with_origin(event, &origin))
    }

    fn with_origin(&self, e: InboundEvent, origin: &Origin) -> InboundEvent {
        match origin {
            Origin::Messaging => e,
            Origin::Standby => e.with_attribute("messenger.standby", "true"),
            Origin::Change(field) => e.with_attribute("messenger.field", field.clone()),
        }
    }
}

/// The item's event key: the first field that is not `sender`, `recipient` or `timestamp`.
fn first_key(raw: &Value) -> String {
    raw.as_object()
        .and_then(|o| {
            o.keys()
                .find(|k| !matches!(k.as_str(), "sender" | "recipient" | "timestamp"))
                .cloned()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn unreachable_id<T>() -> T {
    unreachable!("constant ids are valid")
}
