//! A neutral message → `message` records of the stream (on top of core's rendering).
//!
//! - Text stays CommonMark (the widget renders a safe subset), split at 4,096 characters.
//! - Buttons (postback and link, up to 10) and quick replies (up to 10) stay native: they go on
//!   the last record of a split text. More than the widget shows degrade as core says.
//! - Attachments of every kind are native (up to 10, on the first record): by URL as they
//!   are; bytes as files the log keeps ([`files`](crate::files)), their URLs filled in by the
//!   send.
//! - The author is the bot unless the [`WebchatAuthor`] extension says otherwise.

use switchboard_core::model::{Action, AttachmentSource};
use switchboard_core::render::{self, RenderPlan};
use switchboard_core::{Capabilities, Error, OutboundMessage, RenderPolicy, Result};

use crate::extension::WebchatAuthor;
use crate::files::PendingFile;
use crate::signature::digest;
use crate::wire::{Author, Button, MessageEvent, QuickReplyView, Role, WireAttachment};

/// What one send becomes: records in order, and the plan (degradations, numbered options).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WebchatPlan {
    pub(crate) records: Vec<MessageEvent>,
    pub(crate) plan: RenderPlan,
    /// The byte attachments of the first record, whose URLs are empty until they are kept.
    pub(crate) files: Vec<PendingFile>,
}

/// The author of an outbound message.
pub(crate) fn author(message: &OutboundMessage) -> Result<Author> {
    match message.extensions.get::<WebchatAuthor>().transpose()? {
        None => Ok(Author::new(Role::Bot)),
        Some(a) if a.role == Role::Visitor => Err(Error::invalid_message(
            "extensions.webchat.author.role",
            "a message to the visitor cannot be from the visitor",
        )),
        Some(a) => Ok(Author {
            role: a.role,
            name: a.name,
        }),
    }
}

/// The id of part `part` of a send: derived from the idempotency key when there is one (so a
/// repeated send has the same ids), random otherwise.
pub(crate) fn outbound_id(key: Option<&str>, part: usize) -> Result<String> {
    match key {
        Some(k) => {
            let d = digest(&[k.as_bytes(), &(part as u64).to_be_bytes()]);
            Ok(format!("m-{}", hex::encode(&d[..16])))
        }
        None => {
            let mut b = [0_u8; 16];
            crate::token::random_bytes(&mut b)?;
            Ok(format!("m-{}", hex::encode(b)))
        }
    }
}

/// Renders `message` for the widget at `at` (Unix ms).
pub(crate) fn plan(
    message: &OutboundMessage,
    caps: &Capabilities,
    policy: RenderPolicy,
    at: i64,
) -> Result<WebchatPlan> {
    message.validate()?;
    let from = author(message)?;
    let plan = render::render(message, caps, policy)?;
    let mut files = Vec::new();
    let mut attachments: Vec<WireAttachment> = Vec::with_capacity(plan.attachments.len());
    for a in &plan.attachments {
        let url = match &a.source {
            AttachmentSource::Url(url) => url.clone(),
            AttachmentSource::Bytes(data) => {
                files.push(PendingFile {
                    index: attachments.len(),
                    data: data.clone(),
                });
                String::new()
            }
        };
        attachments.push(WireAttachment {
            kind: a.kind,
            url,
            mime_type: a.mime_type.clone(),
            filename: a.filename.clone(),
            caption: a.caption.clone(),
        });
    }
    let buttons: Vec<Button> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::Postback { label, payload } => Button::Postback {
                label: label.clone(),
                payload: payload.clone(),
            },
            Action::Link { label, url } => Button::Link {
                label: label.clone(),
                url: url.clone(),
            },
        })
        .collect();
    let quick_replies: Vec<QuickReplyView> = plan
        .quick_replies
        .iter()
        .map(|q| QuickReplyView {
            label: q.label.clone(),
            payload: q.payload.clone(),
        })
        .collect();
    if plan.parts.is_empty() && attachments.is_empty() && buttons.is_empty() {
        return Err(Error::invalid_message(
            "message",
            "has nothing the widget can show (only other providers' extensions)",
        ));
    }
    let texts: Vec<Option<String>> = if plan.parts.is_empty() {
        vec![None]
    } else {
        plan.parts.iter().map(|p| Some(p.text.clone())).collect()
    };
    let last = texts.len() - 1;
    let key = message.idempotency_key.as_deref();
    let mut records = Vec::with_capacity(texts.len());
    for (i, text) in texts.into_iter().enumerate() {
        let mut r = MessageEvent::new(outbound_id(key, i)?, from.clone(), at);
        r.text = text;
        r.reply_to = message.reply_to.as_ref().map(ToString::to_string);
        if i == 0 {
            r.attachments = attachments.clone();
        }
        if i == last {
            r.buttons = buttons.clone();
            r.quick_replies = quick_replies.clone();
        }
        records.push(r);
    }
    Ok(WebchatPlan {
        records,
        plan,
        files,
    })
}

#[cfg(test)]
mod tests;
