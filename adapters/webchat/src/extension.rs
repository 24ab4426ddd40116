//! The typed web chat extension of an [`OutboundMessage`](switchboard_core::OutboundMessage):
//! who the message is from, as the widget shows it.

use serde::{Deserialize, Serialize};
use switchboard_core::model::Extension;

use crate::wire::Role;

/// Shows the message as written by an agent (or the bot, the default) with a name. The
/// support bridge sets it for agents' replies. `Role::Visitor` is refused: nothing sent to the
/// visitor can appear as the visitor's own message.
///
/// ```
/// //! Mark a reply as an agent's. Run with: cargo test -p switchboard-webchat --doc
/// use switchboard_core::OutboundMessage;
/// use switchboard_webchat::{Role, WebchatAuthor};
///
/// let msg = OutboundMessage::builder()
///     .text("It ships today.")
///     .extension(&WebchatAuthor { role: Role::Agent, name: Some("Sam".into()) })
///     .build()?;
/// assert!(msg.extensions.contains_key("webchat.author"));
/// # Ok::<(), switchboard_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebchatAuthor {
    /// Agent or bot.
    pub role: Role,
    /// The name shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Extension for WebchatAuthor {
    const KEY: &'static str = "webchat.author";
}
