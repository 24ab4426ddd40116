//! Incoming messages: a text, media (MMS, WhatsApp) or a WhatsApp quick-reply button becomes a
//! `Message` or an `Action` event.

use std::time::SystemTime;

use switchboard_core::ChannelName;
use switchboard_core::model::{
    ActionEvent, ActionSource, AttachmentKind, EventId, EventKind, InboundAttachment, InboundEvent,
    InboundMessage, MessageId, Sender, UserId,
};

use super::{Params, conversation};

pub(super) fn inbound_message(
    channel: &ChannelName,
    p: &Params<'_>,
    sid: &str,
    from: &str,
    to: &str,
    at: SystemTime,
) -> Result<InboundEvent, String> {
    let conv = conversation(channel, from)?;
    let mut sender = Sender::user(UserId::new(from).map_err(|e| e.message().to_owned())?);
    if let Some(name) = p.get("ProfileName") {
        sender = sender.with_name(name);
    }
    let message_id = MessageId::new(sid).map_err(|e| e.message().to_owned())?;
    let kind = if let Some(payload) = p.get("ButtonPayload") {
        let mut action = ActionEvent::new(payload, ActionSource::QuickReply);
        if let Some(label) = p.get("ButtonText") {
            action = action.with_label(label);
        }
        if let Some(orig) = p.get("OriginalRepliedMessageSid") {
            action = action.with_message(MessageId::new(orig).map_err(|e| e.message().to_owned())?);
        }
        EventKind::Action(action)
    } else {
        let count: usize = match p.get("NumMedia") {
            Some(n) => n
                .parse()
                .map_err(|_| format!("NumMedia {n:?} is not a number"))?,
            None => 0,
        };
        let mut msg = InboundMessage::default();
        msg.id = Some(message_id);
        msg.text = p.get("Body").map(str::to_owned);
        for i in 0..count.min(50) {
            let Some(url) = p.get(&format!("MediaUrl{i}")) else {
                return Err(format!("NumMedia is {count} but MediaUrl{i} is missing"));
            };
            let mime = p.get(&format!("MediaContentType{i}"));
            let kind = mime.map_or(AttachmentKind::File, AttachmentKind::from_mime);
            let mut a = InboundAttachment::new(kind, Some(url.to_owned()));
            if let Some(m) = mime {
                a = a.with_mime_type(m);
            }
            if let Some(media_sid) = url.rsplit('/').next().filter(|s| s.starts_with("ME")) {
                a = a.with_provider_id(media_sid);
            }
            msg.attachments.push(a);
        }
        if let Some(orig) = p.get("OriginalRepliedMessageSid") {
            msg.reply_to = Some(MessageId::new(orig).map_err(|e| e.message().to_owned())?);
        }
        EventKind::Message(msg)
    };
    let id = EventId::new(sid).map_err(|e| e.message().to_owned())?;
    let raw = serde_json::Value::Null;
    Ok(InboundEvent::new(id, conv, sender, at, kind, raw).with_attribute("twilio.to", to))
}
