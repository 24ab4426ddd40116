//! What an application sends: a channel-neutral message, built and validated by a builder.

use serde::{Deserialize, Serialize};

use super::attachment::Attachment;
use super::extension::{Extension, Extensions};
use super::ids::{MessageId, ThreadId};
use crate::error::Error;

/// Longest action or quick-reply payload accepted, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 1000;

/// A channel-neutral outbound message. Build it with [`OutboundMessage::builder`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboundMessage {
    /// The text, in CommonMark; adapters convert it to the channel's dialect.
    pub text: Option<String>,
    /// Media to send with the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Quick replies (suggestions the recipient can tap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReply>,
    /// The message this one replies to, where the provider supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// The thread to post into; overrides the conversation reference's thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadId>,
    /// A key that identifies this send across retries (the engine sets it from the outbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Typed per-provider extensions.
    #[serde(default, skip_serializing_if = "Extensions::is_empty")]
    pub extensions: Extensions,
}

impl OutboundMessage {
    /// Starts a builder.
    pub fn builder() -> OutboundMessageBuilder {
        OutboundMessageBuilder::default()
    }

    /// A message with just this text.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when `text` is empty.
    pub fn text(text: impl Into<String>) -> crate::Result<Self> {
        Self::builder().text(text).build()
    }

    /// Checks the rules [`OutboundMessageBuilder::build`] applies; for messages that were
    /// deserialized or edited after building.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` naming the field, as [`OutboundMessageBuilder::build`].
    pub fn validate(&self) -> crate::Result<()> {
        let has_text = self.text.as_deref().is_some_and(|t| !t.trim().is_empty());
        if !has_text && self.attachments.is_empty() && self.extensions.is_empty() {
            return Err(Error::invalid_message(
                "message",
                "is empty: give it text, an attachment or an extension",
            ));
        }
        for (i, a) in self.attachments.iter().enumerate() {
            a.validate(&format!("attachments[{i}]"))?;
        }
        for (i, a) in self.actions.iter().enumerate() {
            a.validate(&format!("actions[{i}]"))?;
        }
        for (i, q) in self.quick_replies.iter().enumerate() {
            let field = format!("quick_replies[{i}]");
            check_label(&field, &q.label)?;
            check_payload(&field, &q.payload)?;
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > 200)
        {
            return Err(Error::invalid_message(
                "idempotency_key",
                "must be 1-200 bytes",
            ));
        }
        Ok(())
    }
}

/// Builds and validates an [`OutboundMessage`].
#[derive(Debug, Default)]
pub struct OutboundMessageBuilder {
    msg: OutboundMessage,
    errors: Vec<Error>,
}

impl OutboundMessageBuilder {
    /// Sets the markdown text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.msg.text = Some(text.into());
        self
    }

    /// Adds an attachment.
    pub fn attachment(mut self, attachment: Attachment) -> Self {
        self.msg.attachments.push(attachment);
        self
    }

    /// Adds a postback button: tapping it sends `payload` back as an Action event.
    pub fn button(mut self, label: impl Into<String>, payload: impl Into<String>) -> Self {
        self.msg.actions.push(Action::Postback {
            label: label.into(),
            payload: payload.into(),
        });
        self
    }

    /// Adds a link button that opens `url`.
    pub fn link_button(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.msg.actions.push(Action::Link {
            label: label.into(),
            url: url.into(),
        });
        self
    }

    /// Adds a quick reply.
    pub fn quick_reply(mut self, label: impl Into<String>, payload: impl Into<String>) -> Self {
        self.msg.quick_replies.push(QuickReply {
            label: label.into(),
            payload: payload.into(),
        });
        self
    }

    /// Replies to a message.
    pub fn reply_to(mut self, id: MessageId) -> Self {
        self.msg.reply_to = Some(id);
        self
    }

    /// Posts into a thread.
    pub fn thread(mut self, thread: ThreadId) -> Self {
        self.msg.thread = Some(thread);
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.msg.idempotency_key = Some(key.into());
        self
    }

    /// Adds a typed provider extension.
    pub fn extension<E: Extension>(mut self, ext: &E) -> Self {
        if let Err(e) = self.msg.extensions.insert(ext) {
            self.errors.push(e);
        }
        self
    }

    /// Validates and returns the message: an empty message, a relative or non-http(s) attachment
    /// URL, an empty label or a payload over 1000 bytes is an `InvalidMessage` naming the field.
    ///
    /// # Errors
    ///
    /// The first `InvalidMessage` found, naming the field.
    pub fn build(mut self) -> crate::Result<OutboundMessage> {
        if !self.errors.is_empty() {
            return Err(self.errors.remove(0));
        }
        self.msg.validate()?;
        Ok(self.msg)
    }
}

/// A button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Tapping it sends `payload` back to the application as an Action event.
    Postback {
        /// What the button says.
        label: String,
        /// What comes back (at most 1000 bytes).
        payload: String,
    },
    /// Tapping it opens `url`.
    Link {
        /// What the button says.
        label: String,
        /// An absolute http(s) URL.
        url: String,
    },
}

impl Action {
    /// What the button says.
    pub fn label(&self) -> &str {
        match self {
            Action::Postback { label, .. } | Action::Link { label, .. } => label,
        }
    }

    fn validate(&self, field: &str) -> crate::Result<()> {
        check_label(field, self.label())?;
        match self {
            Action::Postback { payload, .. } => check_payload(field, payload),
            Action::Link { url, .. } => check_http_url(&format!("{field}.url"), url),
        }
    }
}

/// A quick reply: a suggested answer shown under the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    /// What the suggestion says.
    pub label: String,
    /// What comes back when it is tapped (at most 1000 bytes).
    pub payload: String,
}

fn check_label(field: &str, label: &str) -> crate::Result<()> {
    if label.trim().is_empty() {
        return Err(Error::invalid_message(
            &format!("{field}.label"),
            "must not be empty",
        ));
    }
    Ok(())
}

fn check_payload(field: &str, payload: &str) -> crate::Result<()> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::invalid_message(
            &format!("{field}.payload"),
            format!("is {} bytes, more than {MAX_PAYLOAD_BYTES}", payload.len()),
        ));
    }
    Ok(())
}

pub(super) fn check_http_url(field: &str, raw: &str) -> crate::Result<()> {
    match url::Url::parse(raw) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(Error::invalid_message(
            field,
            format!("scheme '{}' is not http or https", u.scheme()),
        )),
        Err(e) => Err(Error::invalid_message(
            field,
            format!("not an absolute URL ({e})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::model::AttachmentKind;

    fn err_of(r: crate::Result<OutboundMessage>) -> String {
        match r {
            Ok(m) => panic!("expected an error, built {m:?}"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidMessage);
                e.to_string()
            }
        }
    }

    #[test]
    fn empty_message_is_rejected() {
        assert!(err_of(OutboundMessage::builder().build()).contains("message"));
        assert!(err_of(OutboundMessage::builder().text("  \n").build()).contains("empty"));
    }

    #[test]
    fn attachment_urls_must_be_absolute_http() {
        let rel = OutboundMessage::builder()
            .attachment(Attachment::url(AttachmentKind::Image, "/cat.png"))
            .build();
        assert!(err_of(rel).contains("attachments[0].url"));
        let ftp = OutboundMessage::builder()
            .text("x")
            .attachment(Attachment::url(AttachmentKind::File, "ftp://example.com/a"))
            .build();
        assert!(err_of(ftp).contains("scheme 'ftp'"));
        let ok = OutboundMessage::builder()
            .attachment(Attachment::url(
                AttachmentKind::Image,
                "https://example.com/cat.png",
            ))
            .build();
        assert!(ok.is_ok());
    }

    #[test]
    fn actions_are_checked_by_field() {
        let empty = OutboundMessage::builder()
            .text("pick")
            .button("ok", "1")
            .button(" ", "2")
            .build();
        assert!(err_of(empty).contains("actions[1].label"));
        let big = OutboundMessage::builder()
            .text("pick")
            .button("ok", "x".repeat(1001))
            .build();
        assert!(err_of(big).contains("actions[0].payload"));
        let qr = OutboundMessage::builder()
            .text("pick")
            .quick_reply("", "p")
            .build();
        assert!(err_of(qr).contains("quick_replies[0].label"));
        let link = OutboundMessage::builder()
            .text("go")
            .link_button("Docs", "docs")
            .build();
        assert!(err_of(link).contains("actions[0].url"));
        let max = OutboundMessage::builder()
            .text("pick")
            .button("ok", "x".repeat(1000))
            .build();
        assert!(max.is_ok());
    }

    #[test]
    fn messages_round_trip_through_json_with_bytes() {
        let msg = OutboundMessage::builder()
            .text("**hi**")
            .attachment(Attachment::bytes(vec![1_u8, 2, 3], "image/png", "a.png"))
            .button("Yes", "yes")
            .idempotency_key("ev1:0")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&msg).unwrap_or_default();
        assert!(json.contains("\"AQID\""), "{json}");
        let back: OutboundMessage = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, msg);
        assert_eq!(back.attachments[0].kind, AttachmentKind::Image);
    }
}
