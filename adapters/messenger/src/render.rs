//! Neutral message → the Send API messages that carry it.
//!
//! The core renderer does the neutral work (plain text, numbered options, splitting at 2,000
//! characters). Messenger's own rules are applied here:
//! - Quick reply and button titles are at most 20 characters: when a label is longer, those
//!   choices are rendered as numbered text options (policy `fallback`) instead of being truncated.
//! - Native buttons go in a button template, whose text is at most 640 characters: the last text
//!   part is split again at 640 and the template rides on the final piece. Buttons without any
//!   text become numbered options (the template needs text).
//! - Attachments are one message each, after the text; a generic template extension follows.
//! - Quick replies go on the last message of the send.

use serde_json::{Value, json};
use switchboard_core::model::Extension as _;
use switchboard_core::model::{Action, Attachment, AttachmentSource, QuickReply};
use switchboard_core::policy::HumanAgent;
use switchboard_core::render::{self, RenderPolicy, TextOption};
use switchboard_core::{Capabilities, Degradation, Error, LengthUnit, OutboundMessage, Result};

use crate::extension::{GenericTemplate, MessagingType, SendOptions};

/// Longest button or quick reply title.
pub(crate) const MAX_TITLE_CHARS: usize = 20;
/// Longest button template text.
pub(crate) const MAX_BUTTON_TEXT_CHARS: usize = 640;
/// Prefix of `message.metadata` on this adapter's sends (recognises own echoes).
pub(crate) const METADATA_PREFIX: &str = "switchboard:";

/// What one Send API message carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Content {
    /// `{"text": ...}`.
    Text(String),
    /// A button template.
    Buttons { text: String, buttons: Vec<Action> },
    /// An image, audio, video or file, by URL or (after an upload) by attachment id.
    Media(Attachment),
    /// A generic template.
    Generic(GenericTemplate),
}

/// One message to send, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    pub(crate) content: Content,
    pub(crate) quick_replies: Vec<QuickReply>,
}

/// Every message of one send and the degradations made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) messages: Vec<Planned>,
    pub(crate) degradations: Vec<Degradation>,
    /// Choices rendered as numbered text (for the receipt).
    pub(crate) text_options: Vec<TextOption>,
    pub(crate) options: SendOptions,
}

fn too_long(label: &str) -> bool {
    label.chars().count() > MAX_TITLE_CHARS
}

/// Plans the send of `msg` under `caps` and `policy`.
pub(crate) fn plan(
    msg: &OutboundMessage,
    caps: &Capabilities,
    policy: RenderPolicy,
) -> Result<Plan> {
    let options = send_options(msg)?;
    let generic = msg.extensions.get::<GenericTemplate>().transpose()?;
    if let Some(g) = &generic {
        g.validate()?;
    }
    let mut caps = caps.clone();
    if msg.quick_replies.iter().any(|q| too_long(&q.label)) {
        caps.max_quick_replies = 0;
    }
    if msg.actions.iter().any(|a| too_long(a.label())) {
        caps.max_buttons = 0;
        caps.link_buttons = false;
    }
    let mut rendered = render::render(msg, &caps, policy)?;
    if !rendered.actions.is_empty() && rendered.parts.is_empty() {
        caps.max_buttons = 0;
        caps.link_buttons = false;
        rendered = render::render(msg, &caps, policy)?;
    }

    let text_options = rendered.options;
    let mut texts: Vec<String> = rendered.parts.into_iter().map(|p| p.text).collect();
    let mut messages = Vec::new();
    let button_part = if rendered.actions.is_empty() {
        None
    } else {
        let last = texts.pop().unwrap_or_default();
        let mut pieces = render::split(&last, MAX_BUTTON_TEXT_CHARS, LengthUnit::Chars);
        let tail = pieces.pop().unwrap_or_default();
        texts.extend(pieces);
        Some(Content::Buttons {
            text: tail,
            buttons: rendered.actions,
        })
    };
    messages.extend(texts.into_iter().map(Content::Text));
    messages.extend(button_part);
    let text_messages = messages.len();
    messages.extend(rendered.attachments.into_iter().map(Content::Media));
    messages.extend(generic.map(Content::Generic));

    let mut degradations: Vec<Degradation> = rendered
        .degradations
        .into_iter()
        .filter(|d| !matches!(d, Degradation::Split { .. }))
        .collect();
    if text_messages > 1 {
        degradations.push(Degradation::Split {
            parts: text_messages,
        });
    }
    let count = messages.len();
    let messages = messages
        .into_iter()
        .enumerate()
        .map(|(i, content)| Planned {
            content,
            quick_replies: if i + 1 == count {
                rendered.quick_replies.clone()
            } else {
                Vec::new()
            },
        })
        .collect();
    Ok(Plan {
        messages,
        degradations,
        text_options,
        options,
    })
}

/// The message's [`SendOptions`]; without any, a message marked [`HumanAgent`] is sent with
/// the `HUMAN_AGENT` tag (see [`crate::policy`]), any other as `RESPONSE`.
pub(crate) fn send_options(msg: &OutboundMessage) -> Result<SendOptions> {
    let options = match msg.extensions.get::<SendOptions>().transpose()? {
        Some(o) => o,
        None if msg.extensions.contains_key(HumanAgent::KEY) => {
            SendOptions::tag(crate::policy::HUMAN_AGENT_TAG)
        }
        None => SendOptions::default(),
    };
    match (options.messaging_type, options.tag.as_deref()) {
        (MessagingType::MessageTag, None | Some("")) => Err(Error::invalid_message(
            "extensions.messenger.send_options.tag",
            "MESSAGE_TAG needs a tag (e.g. HUMAN_AGENT)",
        )),
        (MessagingType::Response | MessagingType::Update, Some(_)) => Err(Error::invalid_message(
            "extensions.messenger.send_options.tag",
            "a tag needs messaging_type MESSAGE_TAG",
        )),
        _ => Ok(options),
    }
}

/// The `recipient` object: a PSID, or `user_ref:<ref>` for a user ref.
pub(crate) fn recipient(conversation: &str) -> Value {
    match conversation.strip_prefix("user_ref:") {
        Some(r) => json!({ "user_ref": r }),
        None => json!({ "id": conversation }),
    }
}

/// The Send API request body for one message.
pub(crate) fn request(conversation: &str, options: &SendOptions, message: Value) -> Value {
    let mut body = json!({
        "recipient": recipient(conversation),
        "messaging_type": options.messaging_type.as_str(),
        "message": message,
    });
    if let Some(tag) = &options.tag {
        body["tag"] = json!(tag);
    }
    if let Some(n) = options.notification_type {
        body["notification_type"] = json!(n);
    }
    body
}

/// A sender action body (`typing_on`, `typing_off`, `mark_seen`): no `message`.
pub(crate) fn sender_action(conversation: &str, action: &str) -> Value {
    json!({ "recipient": recipient(conversation), "sender_action": action })
}

fn button(a: &Action) -> Value {
    match a {
        Action::Postback { label, payload } => {
            json!({ "type": "postback", "title": label, "payload": payload })
        }
        Action::Link { label, url } => json!({ "type": "web_url", "url": url, "title": label }),
    }
}

/// The `message` object of a planned message. `attachment_id` is the upload result for a byte
/// attachment; `metadata` is echoed back by Meta.
pub(crate) fn message(p: &Planned, attachment_id: Option<&str>, metadata: Option<&str>) -> Value {
    let mut m = match &p.content {
        Content::Text(t) => json!({ "text": t }),
        Content::Buttons { text, buttons } => json!({ "attachment": {
            "type": "template",
            "payload": {
                "template_type": "button",
                "text": text,
                "buttons": buttons.iter().map(button).collect::<Vec<_>>(),
            }
        }}),
        Content::Media(a) => {
            let payload = match (&a.source, attachment_id) {
                (_, Some(id)) => json!({ "attachment_id": id }),
                (AttachmentSource::Url(u), None) => json!({ "url": u, "is_reusable": true }),
                (AttachmentSource::Bytes(_), None) => json!({}),
            };
            json!({ "attachment": { "type": a.kind.as_str(), "payload": payload } })
        }
        Content::Generic(g) => json!({ "attachment": {
            "type": "template",
            "payload": { "template_type": "generic", "elements": g.elements },
        }}),
    };
    if !p.quick_replies.is_empty() {
        m["quick_replies"] = p
            .quick_replies
            .iter()
            .map(|q| json!({ "content_type": "text", "title": q.label, "payload": q.payload }))
            .collect();
    }
    if let Some(md) = metadata {
        m["metadata"] = json!(md);
    }
    m
}

#[cfg(test)]
mod tests;
