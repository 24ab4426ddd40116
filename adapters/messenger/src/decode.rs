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

use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_core::model::{
    ActionEvent, ActionSource, AttachmentKind, DeliveryEvent, DeliveryStatus, EditedEvent, EventId,
    InboundAttachment, InboundMessage, OtherEvent, ReactionEvent, Sender,
};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{
    ChannelName, ConversationId, ConversationRef, EventKind, InboundEvent, MessageId, UserId,
};

use crate::config::MessengerConfig;
use crate::reconcile;
use crate::render::METADATA_PREFIX;
use crate::wire::{AttachmentIn, Item, MessageIn, Party};

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
    pub(crate) config: &'a MessengerConfig,
    pub(crate) channel: &'a ChannelName,
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

fn hash_id(kind: &str, raw: &Value) -> String {
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
    pub(crate) fn other(&self, event_type: &str, raw: Value, page: Option<&str>) -> InboundEvent {
        let who = raw
            .get("sender")
            .and_then(|s| serde_json::from_value::<Party>(s.clone()).ok());
        let who = party_id(who.as_ref())
            .or_else(|| page.map(str::to_owned))
            .unwrap_or_else(|| self.config.page_id.clone());
        let raw_copy = raw.clone();
        self.event(
            hash_id(event_type, &raw),
            &who,
            &who,
            false,
            self.received_at,
            EventKind::Other(OtherEvent {
                event_type: event_type.to_owned(),
            }),
            raw,
        )
        .unwrap_or_else(|| self.fallback_event(event_type, &raw_copy))
    }

    /// Only reached when ids fail validation (control characters, > 512 bytes): the event is
    /// attributed to the Page, under a hash id.
    fn fallback_event(&self, event_type: &str, raw: &Value) -> InboundEvent {
        let page = self.config.page_id.as_str();
        InboundEvent::new(
            EventId::new(hash_id("other", raw)).unwrap_or_else(|_| unreachable_id()),
            ConversationRef::new(
                self.channel.clone(),
                ConversationId::new(page).unwrap_or_else(|_| unreachable_id()),
            ),
            Sender::user(UserId::new(page).unwrap_or_else(|_| unreachable_id())),
            self.received_at,
            EventKind::Other(OtherEvent {
                event_type: event_type.to_owned(),
            }),
            raw.clone(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        id: String,
        conversation: &str,
        sender: &str,
        from_page: bool,
        at: SystemTime,
        kind: EventKind,
        raw: Value,
    ) -> Option<InboundEvent> {
        let conversation = ConversationRef::new(
            self.channel.clone(),
            ConversationId::new(conversation).ok()?,
        );
        let mut sender = Sender::user(UserId::new(sender).ok()?);
        sender.is_bot = from_page;
        Some(InboundEvent::new(
            EventId::new(id).ok()?,
            conversation,
            sender,
            at,
            kind,
            raw,
        ))
    }

    /// Decodes one item; `None` for this app's own echoes.
    pub(crate) fn item(
        &self,
        raw: Value,
        page: Option<&str>,
        origin: Origin,
    ) -> Option<InboundEvent> {
        let Ok(item) = serde_json::from_value::<Item>(raw.clone()) else {
            return Some(self.with_origin(self.other(&first_key(&raw), raw, page), &origin));
        };
        let at = item.timestamp.map(time_of).unwrap_or(self.received_at);
        let sender = party_id(item.sender.as_ref());
        let recipient = party_id(item.recipient.as_ref());
        let (Some(sender), Some(recipient)) = (sender, recipient) else {
            return Some(self.with_origin(self.other(&first_key(&raw), raw, page), &origin));
        };
        let decoded = if let Some(m) = &item.message {
            if m.is_echo {
                if self.is_own_echo(m) {
                    let proof = self.own_echo(m, &recipient, &sender, at, &raw)?;
                    return Some(self.with_origin(proof, &origin));
                }
                let kind = EventKind::Message(message(m, true));
                let id = m.mid.clone().unwrap_or_else(|| hash_id("echo", &raw));
                self.event(id, &recipient, &sender, true, at, kind, raw.clone())
                    .map(|e| echo_attributes(e, m))
            } else {
                let kind = match &m.quick_reply {
                    Some(q) => action(&q.payload, ActionSource::QuickReply, &m.text, &m.mid),
                    None => EventKind::Message(message(m, false)),
                };
                let id = m.mid.clone().unwrap_or_else(|| hash_id("message", &raw));
                self.event(id, &sender, &sender, false, at, kind, raw.clone())
                    .map(|e| reply_attributes(e, m))
            }
        } else if let Some(p) = &item.postback {
            let kind = action(&p.payload, ActionSource::Button, &p.title, &p.mid);
            let id = p.mid.clone().unwrap_or_else(|| hash_id("postback", &raw));
            self.event(id, &sender, &sender, false, at, kind, raw.clone())
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
            let id = hash_id(name, &raw);
            self.event(
                id,
                &sender,
                &sender,
                false,
                at,
                EventKind::Delivery(ev),
                raw.clone(),
            )
        } else if let Some(r) = &item.reaction {
            let reaction = r
                .reaction
                .clone()
                .or_else(|| r.emoji.clone())
                .unwrap_or_else(|| "other".to_owned());
            let kind = EventKind::Reaction(ReactionEvent {
                message: MessageId::new(r.mid.clone()).ok()?,
                reaction,
                added: r.action != "unreact",
            });
            self.event(
                hash_id("reaction", &raw),
                &sender,
                &sender,
                false,
                at,
                kind,
                raw.clone(),
            )
            .map(|e| match &r.emoji {
                Some(emoji) => e.with_attribute("messenger.emoji", emoji.clone()),
                None => e,
            })
        } else if let Some(ed) = &item.message_edit {
            let kind = EventKind::Edited(EditedEvent {
                message: MessageId::new(ed.mid.clone()).ok()?,
                text: ed.text.clone(),
            });
            self.event(
                hash_id("edit", &raw),
                &sender,
                &sender,
                false,
                at,
                kind,
                raw.clone(),
            )
            .map(|e| match ed.num_edit {
                Some(n) => e.with_attribute("messenger.num_edit", n.to_string()),
                None => e,
            })
        } else {
            let name = first_key(&raw);
            self.event(
                hash_id(&name, &raw),
                &sender,
                &sender,
                false,
                at,
                EventKind::Other(OtherEvent { event_type: name }),
                raw.clone(),
            )
        };
        let event = decoded.unwrap_or_else(|| self.other(&first_key(&raw), raw, page));
        Some(self.with_origin(event, &origin))
    }

    fn with_origin(&self, e: InboundEvent, origin: &Origin) -> InboundEvent {
        match origin {
            Origin::Messaging => e,
            Origin::Standby => e.with_attribute("messenger.standby", "true"),
            Origin::Change(field) => e.with_attribute("messenger.field", field.clone()),
        }
    }

    /// The echo of one of this app's sends: a `Delivery(sent)` proof carrying the outbox key
    /// when the send had one, otherwise nothing (dropped).
    fn own_echo(
        &self,
        m: &MessageIn,
        user: &str,
        page: &str,
        at: SystemTime,
        raw: &Value,
    ) -> Option<InboundEvent> {
        let marker = reconcile::parse(m.metadata.as_deref()?)?;
        let mid = m.mid.clone()?;
        let kind = EventKind::Delivery(DeliveryEvent::new(
            DeliveryStatus::Sent,
            vec![MessageId::new(mid.clone()).ok()?],
        ));
        let e = self.event(mid, user, page, true, at, kind, raw.clone())?;
        Some(
            e.with_attribute(OUTBOX_KEY_ATTRIBUTE, marker.key)
                .with_attribute(OUTBOX_PART_ATTRIBUTE, marker.part.to_string())
                .with_attribute(OUTBOX_PARTS_ATTRIBUTE, marker.parts.to_string())
                .with_attribute("messenger.is_echo", "true"),
        )
    }

    fn is_own_echo(&self, m: &MessageIn) -> bool {
        match (&self.config.app_id, &m.app_id) {
            (Some(ours), Some(theirs)) => ours == theirs,
            (Some(_), None) => false,
            (None, _) => m
                .metadata
                .as_deref()
                .is_some_and(|md| md.starts_with(METADATA_PREFIX)),
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

/// An `Action` from a quick reply or a postback: its payload, label and message id.
fn action(
    payload: &str,
    source: ActionSource,
    label: &Option<String>,
    mid: &Option<String>,
) -> EventKind {
    let mut a = ActionEvent::new(payload.to_owned(), source);
    a.label = label.clone();
    a.message = mid.as_ref().and_then(|id| MessageId::new(id.clone()).ok());
    EventKind::Action(a)
}

fn attachment(a: &AttachmentIn) -> InboundAttachment {
    let kind = match a.kind.as_str() {
        "image" | "sticker" => AttachmentKind::Image,
        "audio" => AttachmentKind::Audio,
        "video" | "reel" | "ig_reel" => AttachmentKind::Video,
        _ => AttachmentKind::File,
    };
    let payload = a.payload.as_ref();
    let mut out = InboundAttachment::new(kind, payload.and_then(|p| p.url.clone()));
    out.title = a
        .title
        .clone()
        .or_else(|| payload.and_then(|p| p.title.clone()));
    out.provider_id =
        payload.and_then(|p| p.sticker_id.clone().or_else(|| p.attachment_id.clone()));
    if !matches!(a.kind.as_str(), "image" | "audio" | "video" | "file") && out.title.is_none() {
        // Keep the Messenger type (fallback, sticker, reel, template) visible.
        out.title = Some(a.kind.clone());
    }
    out
}

fn message(m: &MessageIn, from_business: bool) -> InboundMessage {
    let mut out = InboundMessage::default();
    out.id = m
        .mid
        .as_ref()
        .and_then(|id| MessageId::new(id.clone()).ok());
    out.text = m.text.clone();
    out.attachments = m.attachments.iter().map(attachment).collect();
    out.reply_to = m
        .reply_to
        .as_ref()
        .and_then(|r| MessageId::new(r.mid.clone()).ok());
    out.from_business = from_business;
    out
}

fn reply_attributes(mut e: InboundEvent, m: &MessageIn) -> InboundEvent {
    if let Some(self_reply) = m.reply_to.as_ref().and_then(|r| r.is_self_reply) {
        e.attributes
            .insert("messenger.is_self_reply".into(), self_reply.to_string());
    }
    let types: Vec<&str> = m.attachments.iter().map(|a| a.kind.as_str()).collect();
    if !types.is_empty() {
        e.attributes
            .insert("messenger.attachment_types".into(), types.join(","));
    }
    e
}

fn echo_attributes(mut e: InboundEvent, m: &MessageIn) -> InboundEvent {
    e.attributes
        .insert("messenger.is_echo".into(), "true".into());
    if let Some(app) = &m.app_id {
        e.attributes.insert("messenger.app_id".into(), app.clone());
    }
    if let Some(md) = &m.metadata {
        e.attributes.insert("messenger.metadata".into(), md.clone());
    }
    reply_attributes(e, m)
}

fn unreachable_id<T>() -> T {
    unreachable!("constant ids are valid")
}
