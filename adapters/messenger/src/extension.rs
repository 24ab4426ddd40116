//! Messenger-only content, carried as typed extensions of an
//! [`OutboundMessage`](switchboard_core::OutboundMessage); other adapters ignore them.

use serde::{Deserialize, Serialize};
use switchboard_core::model::Extension;
use switchboard_core::{Error, Result};

/// `messaging_type` of a send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessagingType {
    /// A reply inside the standard 24 h messaging window (the default).
    #[default]
    Response,
    /// A proactive, non-promotional update inside the window.
    Update,
    /// A tagged message, allowed outside the window for the tag's purpose.
    MessageTag,
}

impl MessagingType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessagingType::Response => "RESPONSE",
            MessagingType::Update => "UPDATE",
            MessagingType::MessageTag => "MESSAGE_TAG",
        }
    }
}

/// `notification_type` of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationType {
    /// Sound or vibration and a notification.
    Regular,
    /// An on-screen notification only.
    SilentPush,
    /// No notification.
    NoPush,
}

/// How a message is sent: `messaging_type`, `tag`, `notification_type`
/// (extension key `messenger.send_options`).
///
/// ```
/// use switchboard_core::OutboundMessage;
/// use switchboard_messenger::SendOptions;
///
/// // A human agent answering after the 24 h window.
/// let msg = OutboundMessage::builder()
///     .text("Sorry for the wait: your refund went out today.")
///     .extension(&SendOptions::tag("HUMAN_AGENT"))
///     .build()?;
/// # Ok::<(), switchboard_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOptions {
    /// `RESPONSE` (default), `UPDATE` or `MESSAGE_TAG`.
    #[serde(default)]
    pub messaging_type: MessagingType,
    /// The message tag (`HUMAN_AGENT`, `ACCOUNT_UPDATE`, `CONFIRMED_EVENT_UPDATE`,
    /// `POST_PURCHASE_UPDATE`); required with `MESSAGE_TAG`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The push notification behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<NotificationType>,
}

impl SendOptions {
    /// `MESSAGE_TAG` with `tag`.
    pub fn tag(tag: impl Into<String>) -> Self {
        SendOptions {
            messaging_type: MessagingType::MessageTag,
            tag: Some(tag.into()),
            notification_type: None,
        }
    }

    /// `UPDATE`.
    pub fn update() -> Self {
        SendOptions {
            messaging_type: MessagingType::Update,
            ..SendOptions::default()
        }
    }

    /// Sets the notification type.
    pub fn with_notification(mut self, n: NotificationType) -> Self {
        self.notification_type = Some(n);
        self
    }
}

impl Extension for SendOptions {
    const KEY: &'static str = "messenger.send_options";
}

/// A template button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateButton {
    /// Opens `url`.
    WebUrl {
        /// The URL.
        url: String,
        /// The label (at most 20 characters).
        title: String,
    },
    /// Sends `payload` back as a postback (an Action event).
    Postback {
        /// The label (at most 20 characters).
        title: String,
        /// At most 1,000 characters.
        payload: String,
    },
}

/// What tapping a generic template element opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultAction {
    /// Always `web_url`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL.
    pub url: String,
    /// `compact`, `tall` or `full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webview_height_ratio: Option<String>,
}

/// One card of a generic template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenericElement {
    /// At most 80 characters.
    pub title: String,
    /// An image shown on the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// At most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// What tapping the card opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<DefaultAction>,
    /// Up to 3 buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButton>,
}

/// A generic template: up to 10 cards in a carousel (extension key `messenger.generic_template`).
/// It is sent as its own message after the text and attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenericTemplate {
    /// The cards.
    pub elements: Vec<GenericElement>,
}

impl Extension for GenericTemplate {
    const KEY: &'static str = "messenger.generic_template";
}

impl GenericTemplate {
    /// Checks Meta's documented limits before anything is sent: 1–10 elements, each with a
    /// title and a subtitle of at most 80 characters and at most 3 buttons, button titles of at
    /// most 20 characters and postback payloads of at most 1,000.
    pub(crate) fn validate(&self) -> Result<()> {
        const FIELD: &str = "extensions.messenger.generic_template";
        let fail = |field: String, what: &str| Err(Error::invalid_message(&field, what));
        if self.elements.is_empty() || self.elements.len() > 10 {
            return fail(format!("{FIELD}.elements"), "must have 1 to 10 elements");
        }
        for (i, e) in self.elements.iter().enumerate() {
            let at = format!("{FIELD}.elements[{i}]");
            if e.title.is_empty() || e.title.chars().count() > 80 {
                return fail(format!("{at}.title"), "must be 1 to 80 characters");
            }
            if e.subtitle.as_ref().is_some_and(|s| s.chars().count() > 80) {
                return fail(format!("{at}.subtitle"), "must be at most 80 characters");
            }
            if e.buttons.len() > 3 {
                return fail(format!("{at}.buttons"), "must have at most 3 buttons");
            }
            for (j, b) in e.buttons.iter().enumerate() {
                let (title, payload) = match b {
                    TemplateButton::WebUrl { title, .. } => (title, None),
                    TemplateButton::Postback { title, payload } => (title, Some(payload)),
                };
                if title.is_empty() || title.chars().count() > 20 {
                    return fail(
                        format!("{at}.buttons[{j}].title"),
                        "must be 1 to 20 characters",
                    );
                }
                if payload.is_some_and(|p| p.is_empty() || p.chars().count() > 1000) {
                    return fail(
                        format!("{at}.buttons[{j}].payload"),
                        "must be 1 to 1,000 characters",
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::{ErrorKind, OutboundMessage, RenderPolicy};

    use super::*;
    use crate::adapter::capabilities;

    #[test]
    fn generic_templates_are_checked_before_sending() {
        let card = |title: &str, buttons: usize| GenericElement {
            title: title.into(),
            image_url: None,
            subtitle: None,
            default_action: None,
            buttons: (0..buttons)
                .map(|i| TemplateButton::Postback {
                    title: format!("B{i}"),
                    payload: "P".into(),
                })
                .collect(),
        };
        let planned = |elements: Vec<GenericElement>| {
            let msg = OutboundMessage::builder()
                .extension(&GenericTemplate { elements })
                .build()
                .unwrap();
            crate::render::plan(&msg, &capabilities(), RenderPolicy::Fallback)
        };
        assert!(planned(vec![card("ok", 3); 10]).is_ok());
        for (elements, field) in [
            (vec![], "generic_template.elements"),
            (vec![card("ok", 0); 11], "generic_template.elements"),
            (vec![card(&"t".repeat(81), 0)], "elements[0].title"),
            (vec![card("ok", 0), card("ok", 4)], "elements[1].buttons"),
        ] {
            let err = planned(elements).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidMessage);
            assert!(err.to_string().contains(field), "{err} lacks {field}");
        }
    }
}
