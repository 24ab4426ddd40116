//! What an adapter (or one conversation of it) can do, as plain data.
//!
//! Every "can this provider do X" question is answered here, never by matching on a provider's
//! name. The renderer and the conformance kit read it; so can applications.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::AttachmentKind;

/// How a channel measures text length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    /// Unicode scalar values (Rust `char`s).
    Chars,
    /// UTF-16 code units (what JavaScript's `length` counts).
    Utf16,
    /// UTF-8 bytes.
    Bytes,
    /// SMS segments: GSM-7 (160/153 septets) or UCS-2 (70/67 units); see [`crate::render::sms`].
    SmsSegments,
}

impl LengthUnit {
    /// The length of `text` in this unit.
    pub fn measure(self, text: &str) -> usize {
        match self {
            LengthUnit::Chars => text.chars().count(),
            LengthUnit::Utf16 => text.encode_utf16().count(),
            LengthUnit::Bytes => text.len(),
            LengthUnit::SmsSegments => crate::render::sms::analyze(text).segments as usize,
        }
    }
}

/// The markup a channel renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkdownDialect {
    /// No markup: markdown is turned into readable plain text; links read `label (url)`.
    Plain,
    /// Slack mrkdwn: `*bold*`, `_italic_`, `~strike~`, `<url|label>`, `&<>` escaped.
    SlackMrkdwn,
    /// WhatsApp: `*bold*`, `_italic_`, `~strike~`, ```` ```mono``` ````.
    WhatsApp,
    /// CommonMark passes through unchanged.
    CommonMark,
}

/// The longest text a single message may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextLimit {
    /// The limit, in `unit`.
    pub max: usize,
    /// How length is counted.
    pub unit: LengthUnit,
}

/// What attachments a channel accepts natively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentCapabilities {
    /// The kinds it accepts (empty: none).
    pub kinds: Vec<AttachmentKind>,
    /// At most this many per message.
    pub max_per_message: usize,
    /// Attachments given by URL are accepted.
    pub by_url: bool,
    /// Attachments given as bytes are uploaded.
    pub by_bytes: bool,
}

impl AttachmentCapabilities {
    /// No attachments at all.
    pub fn none() -> Self {
        AttachmentCapabilities {
            kinds: Vec::new(),
            max_per_message: 0,
            by_url: false,
            by_bytes: false,
        }
    }

    /// Every kind, by URL and bytes, up to `max` per message.
    pub fn all(max: usize) -> Self {
        AttachmentCapabilities {
            kinds: vec![
                AttachmentKind::Image,
                AttachmentKind::Audio,
                AttachmentKind::Video,
                AttachmentKind::File,
            ],
            max_per_message: max,
            by_url: true,
            by_bytes: true,
        }
    }

    /// Whether `kind` is accepted.
    pub fn accepts(&self, kind: AttachmentKind) -> bool {
        self.kinds.contains(&kind)
    }
}

impl Default for AttachmentCapabilities {
    fn default() -> Self {
        Self::none()
    }
}

/// What an adapter, or one conversation of it, can do.
///
/// Construct with struct update syntax so new fields keep compiling:
/// `Capabilities { threads: true, ..Capabilities::default() }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The text limit per message and how it is counted.
    pub text: TextLimit,
    /// The markup the channel renders.
    pub markdown: MarkdownDialect,
    /// Postback buttons per message (0: none).
    pub max_buttons: usize,
    /// Link buttons are rendered natively (otherwise they become text links).
    pub link_buttons: bool,
    /// Quick replies per message (0: none).
    pub max_quick_replies: usize,
    /// Attachments.
    pub attachments: AttachmentCapabilities,
    /// Replies can go into threads.
    pub threads: bool,
    /// Sent messages can be edited.
    pub edit: bool,
    /// Sent messages can be deleted.
    pub delete: bool,
    /// Reactions can be sent.
    pub reactions: bool,
    /// A typing indicator can be shown.
    pub typing: bool,
    /// Delivery or read receipts arrive as events.
    pub receipts: bool,
    /// Free-form messages are allowed only this long after the user's last message.
    pub messaging_window: Option<Duration>,
    /// A send that may or may not have reached the provider can be looked up there.
    pub reconcile: bool,
    /// Sends are idempotent at the provider (the idempotency key deduplicates), so an ambiguous
    /// failure may be retried blindly.
    pub idempotent_sends: bool,
}

impl Default for Capabilities {
    /// Plain text of up to 4096 characters and nothing else.
    fn default() -> Self {
        Capabilities {
            text: TextLimit {
                max: 4096,
                unit: LengthUnit::Chars,
            },
            markdown: MarkdownDialect::Plain,
            max_buttons: 0,
            link_buttons: false,
            max_quick_replies: 0,
            attachments: AttachmentCapabilities::none(),
            threads: false,
            edit: false,
            delete: false,
            reactions: false,
            typing: false,
            receipts: false,
            messaging_window: None,
            reconcile: false,
            idempotent_sends: false,
        }
    }
}

/// Outbound pacing an adapter suggests for its provider. The engine applies it unless the
/// channel's `[channels.NAME.rate]` table says otherwise; `None` means no limit at that level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RateHint {
    /// Messages per second on the whole channel.
    pub per_second: Option<f64>,
    /// Burst on the whole channel.
    pub burst: Option<u32>,
    /// Messages per second to one conversation.
    pub per_conversation_per_second: Option<f64>,
    /// Burst to one conversation.
    pub per_conversation_burst: Option<u32>,
}

impl RateHint {
    /// Whether the hint says nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == RateHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_measure_differently() {
        let s = "héllo 😀";
        assert_eq!(LengthUnit::Chars.measure(s), 7);
        assert_eq!(LengthUnit::Utf16.measure(s), 8);
        assert_eq!(LengthUnit::Bytes.measure(s), 11);
        assert_eq!(LengthUnit::SmsSegments.measure(s), 1);
    }
}
