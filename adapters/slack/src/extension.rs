//! Typed Slack extensions of an [`OutboundMessage`](switchboard_core::OutboundMessage): content
//! only the Slack adapter reads; other adapters ignore them.

use serde::{Deserialize, Serialize};
use switchboard_core::model::Extension;

/// Raw Block Kit blocks appended to the first message of a send (after the blocks the adapter
/// renders itself). The adapter does not validate them; Slack does (`invalid_blocks`).
///
/// ```
/// //! Attach a Block Kit divider to a message. Run with: cargo test -p switchboard-slack --doc
/// use switchboard_core::OutboundMessage;
/// use switchboard_slack::SlackBlocks;
///
/// let msg = OutboundMessage::builder()
///     .text("Report ready")
///     .extension(&SlackBlocks(vec![serde_json::json!({"type": "divider"})]))
///     .build()?;
/// assert!(msg.extensions.contains_key("slack.blocks"));
/// # Ok::<(), switchboard_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SlackBlocks(pub Vec<serde_json::Value>);

impl Extension for SlackBlocks {
    const KEY: &'static str = "slack.blocks";
}

/// Sends the message with `chat.postEphemeral`: only `user` sees it, in the conversation.
///
/// Ephemeral messages cannot be edited, deleted or reacted to; the receipt's ids are the
/// `message_ts` Slack returns. Byte attachments cannot be ephemeral and are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackEphemeral {
    /// The user (`U…`) who sees the message.
    pub user: String,
}

impl Extension for SlackEphemeral {
    const KEY: &'static str = "slack.ephemeral";
}

/// Options of `chat.postMessage` that have no neutral form (ignored with [`SlackEphemeral`]:
/// `chat.postEphemeral` takes none of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackPostOptions {
    /// Also show a thread reply in the channel (`reply_broadcast`).
    #[serde(default)]
    pub reply_broadcast: bool,
    /// `unfurl_links`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfurl_links: Option<bool>,
    /// `unfurl_media`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfurl_media: Option<bool>,
}

impl Extension for SlackPostOptions {
    const KEY: &'static str = "slack.post_options";
}

impl SlackPostOptions {
    /// Adds the options to a `chat.postMessage` body (`reply_broadcast` only in a thread).
    pub(crate) fn apply(
        &self,
        body: &mut serde_json::Map<String, serde_json::Value>,
        in_thread: bool,
    ) {
        if self.reply_broadcast && in_thread {
            body.insert("reply_broadcast".into(), true.into());
        }
        for (k, v) in [
            ("unfurl_links", self.unfurl_links),
            ("unfurl_media", self.unfurl_media),
        ] {
            if let Some(v) = v {
                body.insert(k.into(), v.into());
            }
        }
    }
}
