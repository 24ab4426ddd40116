//! The `message` item: a user's message or quick reply, or an echo of a message the Page sent.
//! An echo of this app's own send with an outbox key becomes a `Delivery(sent)` proof (key, part
//! from 0 and parts under core's `OUTBOX_*_ATTRIBUTE`); without a key it is dropped; other
//! echoes (Page inbox, other apps) are messages from the business.

use std::time::SystemTime;

use serde_json::Value;
use switchboard_core::model::{
    ActionEvent, ActionSource, AttachmentKind, DeliveryEvent, DeliveryStatus, InboundAttachment,
    InboundMessage,
};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{EventKind, InboundEvent, MessageId};

use super::messaging::{Decoder, hash_id};
use crate::reconcile;
use crate::render::METADATA_PREFIX;
use crate::wire::{AttachmentIn, MessageIn};

/// What a `message` item became.
pub(super) enum MessageItem {
    /// An echo of this app's own send: its proof, or nothing (no key: dropped).
    OwnEcho(Option<InboundEvent>),
    /// Anything else (`None` when its ids are not valid: the caller makes it `Other`).
    Event(Option<InboundEvent>),
}

impl Decoder<'_> {
    /// Decodes the `message` of an item from `sender` to `recipient`.
    pub(super) fn message_item(
        &self,
        m: &MessageIn,
        sender: &str,
        recipient: &str,
        at: SystemTime,
        raw: &mut Value,
    ) -> MessageItem {
        if !m.is_echo {
            let kind = match &m.quick_reply {
                Some(q) => action(&q.payload, ActionSource::QuickReply, &m.text, &m.mid),
                None => EventKind::Message(message(m, false)),
            };
            let id = m.mid.clone().unwrap_or_else(|| hash_id("message", raw));
            return MessageItem::Event(
                self.event(id, sender, sender, false, at, kind, raw)
                    .map(|e| reply_attributes(e, m)),
            );
        }
        if self.is_own_echo(m) {
            return MessageItem::OwnEcho(self.own_echo(m, recipient, sender, at, raw));
        }
        let kind = EventKind::Message(message(m, true));
        let id = m.mid.clone().unwrap_or_else(|| hash_id("echo", raw));
        MessageItem::Event(
            self.event(id, recipient, sender, true, at, kind, raw)
                .map(|e| echo_attributes(e, m)),
        )
    }

    /// The echo of one of this app's sends: a `Delivery(sent)` proof carrying the outbox key
    /// when the send had one, otherwise nothing (dropped).
    fn own_echo(
        &self,
        m: &MessageIn,
        user: &str,
        page: &str,
        at: SystemTime,
        raw: &mut Value,
    ) -> Option<InboundEvent> {
        let marker = reconcile::parse(m.metadata.as_deref()?)?;
        let mid = m.mid.clone()?;
        let kind = EventKind::Delivery(DeliveryEvent::new(
            DeliveryStatus::Sent,
            vec![MessageId::new(mid.clone()).ok()?],
        ));
        let e = self.event(mid, user, page, true, at, kind, raw)?;
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

pub(super) fn action(
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

pub(super) fn message(m: &MessageIn, from_business: bool) -> InboundMessage {
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

pub(super) fn reply_attributes(mut e: InboundEvent, m: &MessageIn) -> InboundEvent {
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

/// The attributes of an echo that is not ours (Page inbox, other apps).
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
