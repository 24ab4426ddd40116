//! `POST messages`, `typing` and `read`: a visitor's request → core inbound events, and the
//! records to echo on the stream (PROTOCOL.md, section 5).

use std::time::SystemTime;

use http::StatusCode;
use switchboard_core::model::{
    ActionEvent, ActionSource, AttachmentKind, DeliveryEvent, DeliveryStatus, EventId,
    InboundAttachment, InboundMessage, MAX_PAYLOAD_BYTES, Sender, UserId,
};
use switchboard_core::{
    ConversationId, ConversationRef, EventKind, InboundEvent, MessageId, WebhookRequest,
};

use super::{Endpoint, Route, millis};
use crate::MAX_ATTACHMENTS;
use crate::error::{Reason, WebchatError};
use crate::reply::{Handled, Reply};
use crate::signature::digest;
use crate::token::{SessionClaims, verify_upload};
use crate::wire::{
    ActionOrigin, Author, Event, MessageAccepted, MessageEvent, PostMessage, ReadRequest,
    ReceiptEvent, ReceiptStatus, Role, TypingRequest, WireAttachment,
};

/// Longest `client_id`, in bytes.
pub const MAX_CLIENT_ID: usize = 64;

/// Attribute of every event: the visitor's `client_id` (messages and actions).
pub const CLIENT_ID_ATTRIBUTE: &str = "webchat.client_id";
/// Attribute of every event: `"true"` when the visitor is a verified user.
pub const VERIFIED_ATTRIBUTE: &str = "webchat.verified";
/// Attribute of a read receipt: the highest sequence number the visitor has seen.
pub const READ_SEQ_ATTRIBUTE: &str = "webchat.read_seq";

/// The server's id of a visitor message: the same for every retry of one `client_id`.
pub fn visitor_message_id(conversation: &str, client_id: &str) -> String {
    let d = digest(&[conversation.as_bytes(), client_id.as_bytes()]);
    format!("v-{}", hex::encode(&d[..16]))
}

fn invalid(message: impl Into<String>) -> WebchatError {
    WebchatError::new(Reason::InvalidRequest, message)
}

/// An id of the model from request data (`invalid_request` when it is not one).
fn model_id<T>(
    what: &str,
    value: String,
    new: fn(String) -> switchboard_core::Result<T>,
) -> Result<T, WebchatError> {
    new(value).map_err(|_| invalid(format!("'{what}' is not a valid id")))
}

impl Endpoint<'_> {
    fn conversation(&self, claims: &SessionClaims) -> Result<ConversationRef, WebchatError> {
        let conversation = model_id(
            "conversation",
            claims.conversation.clone(),
            ConversationId::new,
        )?;
        Ok(ConversationRef::new(self.channel.clone(), conversation))
    }

    fn sender(&self, claims: &SessionClaims) -> Result<(Sender, Author), WebchatError> {
        let id = claims
            .user_id
            .clone()
            .unwrap_or_else(|| claims.conversation.clone());
        let mut sender = Sender::user(model_id("user_id", id, UserId::new)?);
        sender.name = claims.name.clone();
        let author = Author {
            role: Role::Visitor,
            name: claims.name.clone(),
        };
        Ok((sender, author))
    }

    fn event(
        &self,
        claims: &SessionClaims,
        id: String,
        at: SystemTime,
        kind: EventKind,
        raw: serde_json::Value,
    ) -> Result<InboundEvent, WebchatError> {
        let (sender, _) = self.sender(claims)?;
        let id = model_id("client_id", id, EventId::new)?;
        Ok(
            InboundEvent::new(id, self.conversation(claims)?, sender, at, kind, raw)
                .with_attribute(VERIFIED_ATTRIBUTE, claims.user_id.is_some().to_string()),
        )
    }

    /// `POST messages`.
    pub(super) fn message(
        &self,
        claims: &SessionClaims,
        body: PostMessage,
        route: &Route,
        request: &WebhookRequest,
    ) -> Result<Handled, WebchatError> {
        let client_id = body.client_id.as_str();
        if client_id.is_empty()
            || client_id.len() > MAX_CLIENT_ID
            || !client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid("'client_id' must be 1-64 of A-Z a-z 0-9 - _"));
        }
        // The body as the visitor sent it (it parsed as a PostMessage, so it is JSON).
        let raw = serde_json::from_slice(&request.body).unwrap_or_default();
        let id = visitor_message_id(&claims.conversation, client_id);
        let at = request.received_at;
        let (_, author) = self.sender(claims)?;
        let mut echo = MessageEvent::new(id.clone(), author, millis(at));
        echo.client_id = Some(client_id.to_owned());

        let kind = if let Some(action) = body.action {
            if body.text.is_some() || !body.attachments.is_empty() {
                return Err(invalid(
                    "an 'action' comes alone, without text or attachments",
                ));
            }
            if action.payload.is_empty() || action.payload.len() > MAX_PAYLOAD_BYTES {
                return Err(invalid("'action.payload' must be 1-1000 bytes"));
            }
            let source = match action.source {
                ActionOrigin::Button => ActionSource::Button,
                ActionOrigin::QuickReply => ActionSource::QuickReply,
            };
            echo.text = Some(
                action
                    .label
                    .clone()
                    .unwrap_or_else(|| action.payload.clone()),
            );
            let mut ev = ActionEvent::new(action.payload, source);
            if let Some(label) = action.label {
                ev = ev.with_label(label);
            }
            if let Some(m) = action.message_id {
                ev = ev.with_message(model_id("action.message_id", m, MessageId::new)?);
            }
            EventKind::Action(ev)
        } else {
            let text = body.text.filter(|t| !t.trim().is_empty());
            if let Some(t) = &text
                && t.len() > self.config.max_message_bytes
            {
                return Err(WebchatError::new(
                    Reason::MessageTooLarge,
                    format!("'text' is over {} bytes", self.config.max_message_bytes),
                ));
            }
            if body.attachments.len() > MAX_ATTACHMENTS {
                return Err(invalid("at most 10 attachments"));
            }
            if text.is_none() && body.attachments.is_empty() {
                return Err(invalid("a message needs 'text', 'attachments' or 'action'"));
            }
            let mut attachments = Vec::with_capacity(body.attachments.len());
            for r in &body.attachments {
                let up = verify_upload(
                    self.key,
                    self.channel.as_str(),
                    &claims.conversation,
                    &r.upload,
                )?;
                let kind = AttachmentKind::from_mime(&up.mime_type);
                let url = format!("{}uploads/{}", route.base, up.id);
                echo.attachments.push(WireAttachment {
                    kind,
                    url: url.clone(),
                    mime_type: Some(up.mime_type.clone()),
                    filename: Some(up.filename.clone()),
                    caption: None,
                });
                attachments.push(
                    InboundAttachment::new(kind, Some(url))
                        .with_mime_type(up.mime_type)
                        .with_filename(up.filename)
                        .with_provider_id(up.id),
                );
            }
            echo.text = text.clone();
            let mut msg = InboundMessage::default();
            msg.id = Some(model_id("id", id.clone(), MessageId::new)?);
            msg.text = text;
            msg.attachments = attachments;
            EventKind::Message(msg)
        };
        let event = self
            .event(
                claims,
                format!("{}/{client_id}", claims.conversation),
                at,
                kind,
                raw,
            )?
            .with_attribute(CLIENT_ID_ATTRIBUTE, client_id);
        Ok(Handled {
            reply: Reply::json(StatusCode::ACCEPTED, &MessageAccepted { id }),
            events: vec![event],
            echo: Some(Event::Message(echo)),
            error: None,
        })
    }

    /// `POST typing`.
    pub(super) fn typing(
        &self,
        claims: &SessionClaims,
        body: TypingRequest,
        at: SystemTime,
    ) -> Result<Handled, WebchatError> {
        let id = format!("{}/typing/{}", claims.conversation, millis(at));
        let raw = serde_json::to_value(body).unwrap_or_default();
        let events = if body.active {
            vec![self.event(claims, id, at, EventKind::Typing, raw)?]
        } else {
            Vec::new()
        };
        let mut h = Handled::reply(Reply::empty(StatusCode::NO_CONTENT));
        h.events = events;
        Ok(h)
    }

    /// `POST read`.
    pub(super) fn read(
        &self,
        claims: &SessionClaims,
        body: ReadRequest,
        at: SystemTime,
    ) -> Result<Handled, WebchatError> {
        let id = format!("{}/read/{}", claims.conversation, body.seq);
        let raw = serde_json::to_value(body).unwrap_or_default();
        let kind = EventKind::Delivery(DeliveryEvent::new(DeliveryStatus::Read, Vec::new()));
        let event = self
            .event(claims, id, at, kind, raw)?
            .with_attribute(READ_SEQ_ATTRIBUTE, body.seq.to_string());
        let mut h = Handled::reply(Reply::empty(StatusCode::NO_CONTENT));
        h.events = vec![event];
        h.echo = Some(Event::Receipt(ReceiptEvent {
            status: ReceiptStatus::Read,
            up_to: body.seq,
            by: Role::Visitor,
            at: millis(at),
        }));
        Ok(h)
    }
}
