//! A neutral message → the bodies of `chat.postMessage` calls and the files to upload.
//!
//! - Text goes through core rendering (Slack mrkdwn, split at 4,000 characters).
//! - Quick replies have no Slack form: when buttons and quick replies together fit in one
//!   `actions` block (25 elements), the quick replies become buttons after the message's own
//!   buttons (their `action_id`s start `sb_qr_`, so a click comes back as a quick-reply Action);
//!   otherwise core renders them as numbered text options.
//! - Buttons go in an `actions` block on the last message; URL images become `image` blocks on
//!   the first. When blocks are used, the text is repeated in `section` blocks (≤ 3,000
//!   characters each) and the `text` field carries it as the notification fallback.
//! - URL attachments other than images have no Slack form (Slack cannot fetch a file by URL):
//!   they become links under the policy (`AttachmentAsLink`, `Unsupported` when strict).
//! - Byte attachments are uploaded with `files.getUploadURLExternal` and
//!   `files.completeUploadExternal`, after the text.

use serde_json::{Map, Value, json};
use switchboard_core::model::{Action, Attachment, AttachmentKind, AttachmentSource};
use switchboard_core::render::{self, Degradation, RenderPolicy, TextOption, markdown};
use switchboard_core::{Capabilities, Error, LengthUnit, OutboundMessage, Result};

use crate::extension::SlackBlocks;

/// Most elements in one `actions` block.
pub(crate) const MAX_ACTIONS: usize = 25;
/// Longest button label.
pub(crate) const MAX_BUTTON_TEXT: usize = 75;
/// Longest `section` text.
pub(crate) const MAX_SECTION_TEXT: usize = 3000;
/// Longest image `alt_text`.
const MAX_ALT_TEXT: usize = 2000;

/// Prefix of the `action_id` of a button made from an application button.
pub(crate) const BUTTON_ACTION_PREFIX: &str = "sb_btn_";
/// Prefix of the `action_id` of a button made from a quick reply.
pub(crate) const QUICK_REPLY_ACTION_PREFIX: &str = "sb_qr_";
/// Prefix of the `action_id` of a link button.
pub(crate) const LINK_ACTION_PREFIX: &str = "sb_link_";

/// What one send becomes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlackPlan {
    /// `chat.postMessage` arguments other than `channel` and `thread_ts`, in order.
    pub(crate) posts: Vec<Map<String, Value>>,
    /// Byte attachments to upload after the posts.
    pub(crate) uploads: Vec<Attachment>,
    /// Choices rendered as numbered text.
    pub(crate) options: Vec<TextOption>,
    /// Everything rendering changed.
    pub(crate) degradations: Vec<Degradation>,
}

/// Renders `message` for Slack.
pub(crate) fn plan(
    message: &OutboundMessage,
    caps: &Capabilities,
    policy: RenderPolicy,
) -> Result<SlackPlan> {
    let mut msg = message.clone();
    let mut degradations = Vec::new();
    link_non_image_urls(&mut msg, policy, &mut degradations)?;
    let own_buttons = msg.actions.len();
    if !msg.quick_replies.is_empty() && own_buttons + msg.quick_replies.len() <= MAX_ACTIONS {
        for q in std::mem::take(&mut msg.quick_replies) {
            msg.actions.push(Action::Postback {
                label: q.label,
                payload: q.payload,
            });
        }
    }
    let plan = render::render(&msg, caps, policy)?;
    degradations.extend(plan.degradations);
    if policy == RenderPolicy::Strict
        && let Some(i) = plan
            .actions
            .iter()
            .position(|a| a.label().chars().count() > MAX_BUTTON_TEXT)
    {
        return Err(Error::unsupported(format!(
            "button {i}: a label over {MAX_BUTTON_TEXT} characters on Slack (render policy 'strict')"
        )));
    }

    let images: Vec<Value> = plan
        .attachments
        .iter()
        .filter_map(|a| match &a.source {
            AttachmentSource::Url(url) => Some(image_block(a, url)),
            AttachmentSource::Bytes(_) => None,
        })
        .collect();
    let uploads: Vec<Attachment> = plan
        .attachments
        .iter()
        .filter(|a| matches!(a.source, AttachmentSource::Bytes(_)))
        .cloned()
        .collect();
    let buttons = actions_block(&plan.actions, own_buttons);
    let extra: Vec<Value> = match message.extensions.get::<SlackBlocks>() {
        Some(blocks) => blocks?.0,
        None => Vec::new(),
    };

    let has_posts = !plan.parts.is_empty() || !images.is_empty() || buttons.is_some();
    let count = if has_posts || !extra.is_empty() {
        plan.parts.len().max(1)
    } else {
        0
    };
    let mut posts = Vec::with_capacity(count);
    for i in 0..count {
        let text = plan.parts.get(i).map(|p| p.text.as_str()).unwrap_or("");
        let mut blocks = Vec::new();
        if i == 0 {
            blocks.extend(images.iter().cloned());
            blocks.extend(extra.iter().cloned());
        }
        if i + 1 == count {
            blocks.extend(buttons.iter().cloned());
        }
        posts.push(post_body(text, blocks, &plan.actions, &plan.attachments));
    }
    Ok(SlackPlan {
        posts,
        uploads,
        options: plan.options,
        degradations,
    })
}

/// One `chat.postMessage` body: `text` alone, or `text` as fallback plus blocks that repeat it.
fn post_body(
    text: &str,
    blocks: Vec<Value>,
    actions: &[Action],
    attachments: &[Attachment],
) -> Map<String, Value> {
    let mut body = Map::new();
    if blocks.is_empty() {
        body.insert("text".into(), Value::String(text.to_owned()));
        return body;
    }
    let mut all: Vec<Value> = render::split(text, MAX_SECTION_TEXT, LengthUnit::Chars)
        .into_iter()
        .map(|t| json!({"type": "section", "text": {"type": "mrkdwn", "text": t}}))
        .collect();
    all.extend(blocks);
    let fallback = if text.trim().is_empty() {
        fallback_text(actions, attachments)
    } else {
        text.to_owned()
    };
    body.insert("text".into(), Value::String(fallback));
    body.insert("blocks".into(), Value::Array(all));
    body
}

/// A notification text for a message that has only blocks: the buttons' labels, else the
/// attachments' captions, escaped (Slack reads `text` as mrkdwn, so a label such as
/// `<!everyone>` would otherwise notify a whole channel) and cut to the `text` limit.
fn fallback_text(actions: &[Action], attachments: &[Attachment]) -> String {
    let (pieces, separator): (Vec<&str>, &str) = if actions.is_empty() {
        let captions = attachments.iter().map(|a| {
            a.caption
                .as_deref()
                .or(a.filename.as_deref())
                .unwrap_or("image")
        });
        (captions.collect(), ", ")
    } else {
        (actions.iter().map(Action::label).collect(), " | ")
    };
    let mut out = String::new();
    let mut length = 0;
    for (i, piece) in pieces.iter().enumerate() {
        let escaped = markdown::escape(piece, switchboard_core::MarkdownDialect::SlackMrkdwn);
        let sep = if i == 0 { "" } else { separator };
        let added = sep.chars().count() + escaped.chars().count();
        // Whole escaped pieces only, so an entity such as `&lt;` is never cut in two; one
        // character is kept for the `…`.
        if length + added >= crate::adapter::MAX_TEXT_CHARS {
            out.push('…');
            break;
        }
        out.push_str(sep);
        out.push_str(&escaped);
        length += added;
    }
    out
}

fn image_block(a: &Attachment, url: &str) -> Value {
    let alt = a
        .caption
        .as_deref()
        .or(a.filename.as_deref())
        .unwrap_or("image");
    json!({"type": "image", "image_url": url, "alt_text": truncate(alt, MAX_ALT_TEXT)})
}

/// The `actions` block; the first `own_buttons` postbacks are the application's buttons, the
/// rest were quick replies.
fn actions_block(actions: &[Action], own_buttons: usize) -> Option<Value> {
    if actions.is_empty() {
        return None;
    }
    let elements: Vec<Value> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let text = json!({"type": "plain_text", "text": truncate(a.label(), MAX_BUTTON_TEXT), "emoji": true});
            match a {
                Action::Postback { payload, .. } => {
                    let prefix = if i < own_buttons {
                        BUTTON_ACTION_PREFIX
                    } else {
                        QUICK_REPLY_ACTION_PREFIX
                    };
                    json!({"type": "button", "text": text, "action_id": format!("{prefix}{i}"), "value": payload})
                }
                Action::Link { url, .. } => {
                    json!({"type": "button", "text": text, "action_id": format!("{LINK_ACTION_PREFIX}{i}"), "url": url})
                }
            }
        })
        .collect();
    Some(json!({"type": "actions", "block_id": "sb_actions", "elements": elements}))
}

/// At most `max` characters; a cut label ends with `…` (policy `strict` refuses long button
/// labels instead, see [`plan`]).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// URL attachments other than images: Slack has no way to attach a file by URL.
fn link_non_image_urls(
    msg: &mut OutboundMessage,
    policy: RenderPolicy,
    degradations: &mut Vec<Degradation>,
) -> Result<()> {
    let (keep, linked): (Vec<Attachment>, Vec<Attachment>) = std::mem::take(&mut msg.attachments)
        .into_iter()
        .partition(|a| a.kind == AttachmentKind::Image || a.as_url().is_none());
    msg.attachments = keep;
    for a in linked {
        let url = a.as_url().unwrap_or_default().to_owned();
        match policy {
            RenderPolicy::Strict => {
                return Err(Error::unsupported(format!(
                    "{} attachment by URL on Slack (render policy 'strict'); send the bytes instead",
                    a.kind.as_str()
                )));
            }
            RenderPolicy::Drop => degradations.push(Degradation::Dropped {
                what: format!("{} attachment", a.kind.as_str()),
            }),
            _ => {
                let label = a
                    .caption
                    .clone()
                    .or(a.filename.clone())
                    .unwrap_or(url.clone());
                let link =
                    markdown::link(&label, &url, switchboard_core::MarkdownDialect::CommonMark);
                let text = msg.text.take().unwrap_or_default();
                msg.text = Some(if text.trim().is_empty() {
                    link
                } else {
                    format!("{text}\n\n{link}")
                });
                degradations.push(Degradation::AttachmentAsLink { kind: a.kind });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
