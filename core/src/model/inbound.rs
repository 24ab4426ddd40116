//! What arrives from a provider: channel-neutral events that keep the provider's raw payload.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::attachment::AttachmentKind;
use super::conversation::ConversationRef;
use super::delivery::DeliveryEvent;
use super::ids::{EventId, MessageId, UserId};
use crate::policy::ConsentChange;

/// One inbound event, decoded by an adapter's `handle_webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundEvent {
    /// The provider's event id: the deduplication key (with the channel).
    pub id: EventId,
    /// Where it happened; replies go here.
    pub conversation: ConversationRef,
    /// Who caused it.
    pub sender: Sender,
    /// When the provider says it happened (the receive time when it does not say).
    #[serde(with = "super::time")]
    pub at: SystemTime,
    /// What happened.
    pub kind: EventKind,
    /// Provider-specific facts that have no neutral field (`slack.retry_num`, `twilio.latitude`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The provider's payload for this event, as received.
    pub raw: serde_json::Value,
    /// A keyword message's effect on the customer's consent (an SMS `STOP`, `START`, `HELP`),
    /// as the adapter decoded it; the store keeps opt-outs from it (see [`crate::policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentChange>,
}

impl InboundEvent {
    /// A new event; attributes start empty.
    pub fn new(
        id: EventId,
        conversation: ConversationRef,
        sender: Sender,
        at: SystemTime,
        kind: EventKind,
        raw: serde_json::Value,
    ) -> Self {
        InboundEvent {
            id,
            conversation,
            sender,
            at,
            kind,
            attributes: BTreeMap::new(),
            raw,
            consent: None,
        }
    }

    /// Marks the event as a keyword message that changes (or asks about) consent.
    pub fn with_consent(mut self, consent: ConsentChange) -> Self {
        self.consent = Some(consent);
        self
    }

    /// Adds a provider-specific attribute.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// The text of a Message (or of an Edited message), if any.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Message(m) => m.text.as_deref(),
            EventKind::Edited(e) => e.text.as_deref(),
            _ => None,
        }
    }

    /// The payload of an Action.
    pub fn action_payload(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Action(a) => Some(&a.payload),
            _ => None,
        }
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The provider's id of the sender.
    pub id: UserId,
    /// A display name, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The sender is a bot or the business side itself (a Page, our own number).
    #[serde(default)]
    pub is_bot: bool,
}

impl Sender {
    /// A person with this id.
    pub fn user(id: UserId) -> Self {
        Sender {
            id,
            name: None,
            is_bot: false,
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A message.
    Message(InboundMessage),
    /// A button, postback or quick reply was tapped.
    Action(ActionEvent),
    /// A reaction was added or removed.
    Reaction(ReactionEvent),
    /// A message was edited.
    Edited(EditedEvent),
    /// A message was deleted.
    Deleted(DeletedEvent),
    /// A delivery status changed for messages we sent.
    Delivery(DeliveryEvent),
    /// The other side is typing.
    Typing,
    /// Anything else; the event's `raw` holds the whole payload.
    Other(OtherEvent),
}

impl EventKind {
    /// A short name: `message`, `action`, `reaction`, …
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Message(_) => "message",
            EventKind::Action(_) => "action",
            EventKind::Reaction(_) => "reaction",
            EventKind::Edited(_) => "edited",
            EventKind::Deleted(_) => "deleted",
            EventKind::Delivery(_) => "delivery",
            EventKind::Typing => "typing",
            EventKind::Other(_) => "other",
        }
    }
}

/// A message from a person (or, when `from_business`, sent by the business side by other means).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The provider's id of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<MessageId>,
    /// The text as received (in the provider's own markup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media and files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<InboundAttachment>,
    /// The message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// The bot was mentioned (Slack `app_mention`).
    #[serde(default)]
    pub mention: bool,
    /// A slash command and its argument text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Sent by the business side (a person in the Page inbox, another app), not by the customer.
    #[serde(default)]
    pub from_business: bool,
}

impl InboundMessage {
    /// A plain text message.
    pub fn text(text: impl Into<String>) -> Self {
        InboundMessage {
            text: Some(text.into()),
            ..Default::default()
        }
    }
}

/// A slash command (`/weather London`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The command, with its slash.
    pub name: String,
    /// Everything after it.
    pub text: String,
}

/// An inbound attachment. Download it with `Adapter::fetch_attachment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InboundAttachment {
    /// Image, audio, video or file.
    pub kind: AttachmentKind,
    /// Where the provider serves it (may need the adapter's credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The mime type, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A title or caption, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The provider's id of the file, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
}

impl InboundAttachment {
    /// An attachment of `kind` served at `url`.
    pub fn new(kind: AttachmentKind, url: Option<String>) -> Self {
        InboundAttachment {
            kind,
            url,
            mime_type: None,
            filename: None,
            title: None,
            provider_id: None,
        }
    }

    /// Sets the mime type.
    pub fn with_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.mime_type = Some(mime.into());
        self
    }

    /// Sets the file name.
    pub fn with_filename(mut self, name: impl Into<String>) -> Self {
        self.filename = Some(name.into());
        self
    }

    /// Sets the title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the provider's id.
    pub fn with_provider_id(mut self, id: impl Into<String>) -> Self {
        self.provider_id = Some(id.into());
        self
    }
}

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSource {
    /// A button or postback.
    Button,
    /// A quick reply.
    QuickReply,
    /// A text answer to options the engine rendered as numbered text.
    TextOption,
}

/// A button, postback or quick reply was tapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActionEvent {
    /// The payload the application gave the button.
    pub payload: String,
    /// The label, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Button, quick reply or numbered text option.
    pub source: ActionSource,
    /// The message that carried the button, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    /// The provider's action id (Slack `action_id`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
}

impl ActionEvent {
    /// An action with `payload` from `source`.
    pub fn new(payload: impl Into<String>, source: ActionSource) -> Self {
        ActionEvent {
            payload: payload.into(),
            label: None,
            source,
            message: None,
            action_id: None,
        }
    }

    /// Sets the label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the message that carried the button.
    pub fn with_message(mut self, id: MessageId) -> Self {
        self.message = Some(id);
        self
    }

    /// Sets the provider's action id.
    pub fn with_action_id(mut self, id: impl Into<String>) -> Self {
        self.action_id = Some(id.into());
        self
    }
}

/// A reaction was added or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionEvent {
    /// The message reacted to.
    pub message: MessageId,
    /// The reaction as the provider names it (`thumbsup`, `love`, an emoji).
    pub reaction: String,
    /// Added (true) or removed (false).
    pub added: bool,
}

/// A message was edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditedEvent {
    /// The edited message.
    pub message: MessageId,
    /// Its new text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A message was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedEvent {
    /// The deleted message.
    pub message: MessageId,
}

/// An event with no neutral form; the event's `raw` holds everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherEvent {
    /// The provider's name for the event type (`member_joined_channel`, `view_submission`).
    pub event_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let ev = InboundEvent::new(
            EventId::new("Ev1").unwrap_or_else(|e| panic!("{e}")),
            ConversationRef::parse("team", "C1").unwrap_or_else(|e| panic!("{e}")),
            Sender::user(UserId::new("U1").unwrap_or_else(|e| panic!("{e}"))),
            SystemTime::UNIX_EPOCH,
            EventKind::Message(InboundMessage::text("hello")),
            serde_json::json!({"text": "hello"}),
        )
        .with_attribute("slack.retry_num", "1");
        let json = serde_json::to_string(&ev).unwrap_or_default();
        let back: InboundEvent =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(back, ev);
        assert_eq!(back.text(), Some("hello"));
    }
}
