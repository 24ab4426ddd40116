//! Rendering and degradation: from a neutral message and a channel's capabilities to a plan the
//! adapter sends as is.
//!
//! Markdown is converted to the channel's dialect; text is split to the limit; what the channel
//! cannot carry natively is degraded according to the [`RenderPolicy`]:
//!
//! | content | `fallback` (default) | `strict` | `drop` |
//! |---|---|---|---|
//! | more buttons / quick replies than the channel takes, or none | numbered text options | `Unsupported` | dropped, warned |
//! | link buttons the channel cannot show | text links | `Unsupported` | dropped, warned |
//! | URL attachments of a kind or count the channel refuses | text links | `Unsupported` | dropped, warned |
//! | byte attachments the channel cannot upload | `Unsupported` (no link exists) | `Unsupported` | dropped, warned |
//!
//! Dialect conversion and splitting are not degradations: they change form, not content. The
//! plan lists every degradation it made (also splits, as [`Degradation::Split`]) so the engine
//! and applications can log and remember them.

pub mod markdown;
mod options;
pub mod sms;
mod split;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use options::{TextOption, match_option, options_block};
pub use split::{split, split_ranges};

use crate::capabilities::{Capabilities, LengthUnit, MarkdownDialect};
use crate::error::{Error, ErrorKind};
use crate::model::{
    Action, ActionSource, Attachment, AttachmentKind, AttachmentSource, OutboundMessage, QuickReply,
};

/// What to do with content a channel cannot carry natively.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderPolicy {
    /// Degrade to text (numbered options, links). The default.
    #[default]
    Fallback,
    /// Fail with `Unsupported` instead of any degradation; nothing is sent.
    Strict,
    /// Leave it out, with a warning in the log and in the plan.
    Drop,
}

impl FromStr for RenderPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "fallback" => Ok(RenderPolicy::Fallback),
            "strict" => Ok(RenderPolicy::Strict),
            "drop" => Ok(RenderPolicy::Drop),
            other => Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("unknown render policy '{other}' (expected fallback, strict or drop)"),
            )),
        }
    }
}

/// One change rendering made to fit the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Degradation {
    /// Postback buttons became numbered text options.
    ButtonsAsText {
        /// How many.
        count: usize,
    },
    /// Quick replies became numbered text options.
    QuickRepliesAsText {
        /// How many.
        count: usize,
    },
    /// Link buttons became text links.
    LinksAsText {
        /// How many.
        count: usize,
    },
    /// A URL attachment became a text link.
    AttachmentAsLink {
        /// Its kind.
        kind: AttachmentKind,
    },
    /// Content was left out (policy `drop`).
    Dropped {
        /// What, e.g. `"3 buttons"`.
        what: String,
    },
    /// The text was split into several messages.
    Split {
        /// Into how many.
        parts: usize,
    },
}

impl Degradation {
    /// Whether content changed form or was lost (everything but a split).
    pub fn is_lossy(&self) -> bool {
        !matches!(self, Degradation::Split { .. })
    }
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Degradation::ButtonsAsText { count } => {
                write!(f, "{count} buttons rendered as numbered text")
            }
            Degradation::QuickRepliesAsText { count } => {
                write!(f, "{count} quick replies rendered as numbered text")
            }
            Degradation::LinksAsText { count } => {
                write!(f, "{count} link buttons rendered as text links")
            }
            Degradation::AttachmentAsLink { kind } => {
                write!(f, "{} attachment rendered as a link", kind.as_str())
            }
            Degradation::Dropped { what } => write!(f, "dropped {what}"),
            Degradation::Split { parts } => write!(f, "text split into {parts} messages"),
        }
    }
}

/// One text message of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextPart {
    /// The text in the channel's dialect.
    pub text: String,
    /// Its length in the channel's unit.
    pub length: usize,
    /// Its SMS encoding and segments, when the channel counts segments or is plain text.
    pub sms: Option<sms::SmsInfo>,
}

/// What the adapter sends: text parts in order, native content, and what was degraded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RenderPlan {
    /// The text messages, in order, each within the channel's limit (may be empty).
    pub parts: Vec<TextPart>,
    /// Attachments the channel carries natively.
    pub attachments: Vec<Attachment>,
    /// Buttons the channel shows natively.
    pub actions: Vec<Action>,
    /// Quick replies the channel shows natively.
    pub quick_replies: Vec<QuickReply>,
    /// Choices rendered as numbered text (remembered by the engine to map answers back).
    pub options: Vec<TextOption>,
    /// Every change made to fit the channel.
    pub degradations: Vec<Degradation>,
}

impl RenderPlan {
    /// Total SMS segments over all parts, when known.
    pub fn sms_segments(&self) -> Option<u32> {
        self.parts.iter().map(|p| p.sms.map(|s| s.segments)).sum()
    }
}

/// Renders `message` for a channel with `caps` under `policy`.
///
/// # Errors
///
/// `Unsupported` when `policy` is `strict` and the message would be degraded, or when an
/// attachment cannot be carried at all (bytes where the channel cannot upload).
pub fn render(
    message: &OutboundMessage,
    caps: &Capabilities,
    policy: RenderPolicy,
) -> crate::Result<RenderPlan> {
    let mut r = Renderer {
        caps,
        policy,
        extra_text: Vec::new(),
        degradations: Vec::new(),
    };
    let attachments = r.attachments(&message.attachments)?;
    let (actions, quick_replies, options) = r.choices(&message.actions, &message.quick_replies)?;

    let mut text = message
        .text
        .as_deref()
        .map(|t| markdown::convert(t, caps.markdown))
        .unwrap_or_default();
    for extra in r.extra_text.drain(..) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&extra);
    }
    if !options.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&options_block(&options, caps.markdown));
    }
    let parts: Vec<TextPart> = split(&text, caps.text.max, caps.text.unit)
        .into_iter()
        .map(|t| part(t, caps))
        .collect();
    if parts.len() > 1 {
        r.degradations
            .push(Degradation::Split { parts: parts.len() });
    }
    Ok(RenderPlan {
        parts,
        attachments,
        actions,
        quick_replies,
        options,
        degradations: r.degradations,
    })
}

fn part(text: String, caps: &Capabilities) -> TextPart {
    let counts_sms =
        caps.text.unit == LengthUnit::SmsSegments || caps.markdown == MarkdownDialect::Plain;
    TextPart {
        length: caps.text.unit.measure(&text),
        sms: counts_sms.then(|| sms::analyze(&text)),
        text,
    }
}

struct Renderer<'a> {
    caps: &'a Capabilities,
    policy: RenderPolicy,
    extra_text: Vec<String>,
    degradations: Vec<Degradation>,
}

impl Renderer<'_> {
    /// Applies the policy to content that cannot go natively: `fallback` runs `degrade`.
    fn degrade(
        &mut self,
        what: String,
        fallback: impl FnOnce(&mut Self) -> crate::Result<()>,
    ) -> crate::Result<()> {
        match self.policy {
            RenderPolicy::Fallback => fallback(self),
            RenderPolicy::Strict => Err(Error::unsupported(format!(
                "{what} on this channel (render policy 'strict')"
            ))),
            RenderPolicy::Drop => {
                tracing::warn!(what = %what, "render policy 'drop': content left out");
                self.degradations.push(Degradation::Dropped { what });
                Ok(())
            }
        }
    }

    fn attachments(&mut self, all: &[Attachment]) -> crate::Result<Vec<Attachment>> {
        let caps = &self.caps.attachments;
        let mut native = Vec::new();
        for a in all {
            let source_ok = match a.source {
                AttachmentSource::Url(_) => caps.by_url,
                AttachmentSource::Bytes(_) => caps.by_bytes,
            };
            if source_ok && caps.accepts(a.kind) && native.len() < caps.max_per_message {
                native.push(a.clone());
                continue;
            }
            let what = format!("{} attachment", a.kind.as_str());
            let dialect = self.caps.markdown;
            match a.as_url() {
                Some(url) => self.degrade(what, |r| {
                    let label = a.caption.clone().or_else(|| a.filename.clone()).unwrap_or_default();
                    // The caption is the sender's text: escaped like any text before it becomes a label.
                    let label = markdown::escape(&label, dialect);
                    r.extra_text.push(markdown::link(&label, url, dialect));
                    r.degradations.push(Degradation::AttachmentAsLink { kind: a.kind });
                    Ok(())
                })?,
                None => self.degrade(what.clone(), |_| {
                    Err(Error::unsupported(format!(
                        "{what} given as bytes: this channel cannot upload it and has no URL to link"
                    )))
                })?,
            }
        }
        Ok(native)
    }

    fn choices(
        &mut self,
        actions: &[Action],
        quick_replies: &[QuickReply],
    ) -> crate::Result<(Vec<Action>, Vec<QuickReply>, Vec<TextOption>)> {
        let caps = self.caps;
        let links: Vec<&Action> = actions
            .iter()
            .filter(|a| matches!(a, Action::Link { .. }))
            .collect();
        let postbacks = actions.len() - links.len();
        let mut native_actions = Vec::new();
        let mut options = Vec::new();

        if caps.link_buttons && actions.len() <= caps.max_buttons {
            native_actions = actions.to_vec();
        } else {
            if postbacks <= caps.max_buttons {
                native_actions.extend(
                    actions
                        .iter()
                        .filter(|a| matches!(a, Action::Postback { .. }))
                        .cloned(),
                );
            } else {
                self.degrade(format!("{postbacks} buttons"), |r| {
                    r.degradations
                        .push(Degradation::ButtonsAsText { count: postbacks });
                    for a in actions {
                        if let Action::Postback { label, payload } = a {
                            options.push(TextOption {
                                number: options.len() + 1,
                                label: label.clone(),
                                payload: payload.clone(),
                                source: ActionSource::Button,
                            });
                        }
                    }
                    Ok(())
                })?;
            }
            if !links.is_empty() {
                let count = links.len();
                self.degrade(format!("{count} link buttons"), |r| {
                    let lines: Vec<String> = links
                        .iter()
                        .filter_map(|a| match a {
                            Action::Link { label, url } => Some(markdown::link(
                                &markdown::escape(label, caps.markdown),
                                url,
                                caps.markdown,
                            )),
                            Action::Postback { .. } => None,
                        })
                        .collect();
                    r.extra_text.push(lines.join("\n"));
                    r.degradations.push(Degradation::LinksAsText { count });
                    Ok(())
                })?;
            }
        }

        let mut native_qr = Vec::new();
        if quick_replies.len() <= caps.max_quick_replies {
            native_qr = quick_replies.to_vec();
        } else if !quick_replies.is_empty() {
            let count = quick_replies.len();
            self.degrade(format!("{count} quick replies"), |r| {
                r.degradations
                    .push(Degradation::QuickRepliesAsText { count });
                for q in quick_replies {
                    options.push(TextOption {
                        number: options.len() + 1,
                        label: q.label.clone(),
                        payload: q.payload.clone(),
                        source: ActionSource::QuickReply,
                    });
                }
                Ok(())
            })?;
        }
        Ok((native_actions, native_qr, options))
    }
}

#[cfg(test)]
mod tests;
