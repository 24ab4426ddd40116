//! Twilio-only content, carried as typed extensions of an
//! [`OutboundMessage`](switchboard_core::OutboundMessage); other adapters ignore them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_core::model::Extension;

/// A WhatsApp (or other) Content Template, sent with `ContentSid` and `ContentVariables`.
///
/// The template carries its own text: when present, Twilio sends the template and the
/// message's text and attachments are not sent by this adapter (other adapters still use them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioContent {
    /// `HX…`: the approved template.
    pub content_sid: String,
    /// Values of the template's placeholders (`{"1": "Ada"}`), sent as a JSON string.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
}

impl Extension for TwilioContent {
    const KEY: &'static str = "twilio.content";
}
