//! Events API `event_callback` decoding and the bot-loop guard.
//!
//! | inner event | neutral kind |
//! |---|---|
//! | `message` (plain, `thread_broadcast`, `me_message`, `file_share`, other bots' messages) | Message |
//! | `app_mention` | Message with `mention` |
//! | `message` / `message_changed` | Edited |
//! | `message` / `message_deleted` | Deleted |
//! | `reaction_added`, `reaction_removed` (on messages) | Reaction |
//! | anything else (other subtypes as `message.<subtype>`) | Other, with the raw payload |
//!
//! New messages (`message`, its message subtypes, `app_mention`) are identified by
//! `msg:{channel}:{ts}`, not by the envelope's `event_id` (kept as `slack.event_id`): Slack
//! delivers one post that mentions the bot twice, as `message` and as `app_mention`, with
//! different event ids, and the engine's dedupe must see one.
//!
//! Events without a channel (`app_uninstalled`, `tokens_revoked`) use the workspace (`team_id`)
//! as their conversation, and the workspace as sender when no user is named.

use std::time::SystemTime;

use serde::Deserialize as _;
use serde_json::Value;
use switchboard_core::model::{
    AttachmentKind, DeletedEvent, EditedEvent, InboundAttachment, InboundMessage, OtherEvent,
    ReactionEvent, Sender,
};
use switchboard_core::{EventKind, InboundEvent, MessageId};

use crate::webhook::{Ctx, LoopGuard, ts_time, user_id};
use crate::wire::{Head as Envelope, SlackEvent, SlackFile, inner_event};

/// Message subtypes that carry a message from someone.
const MESSAGE_SUBTYPES: &[&str] = &[
    "thread_broadcast",
    "me_message",
    "file_share",
    "bot_message",
];

impl LoopGuard {
    /// Whether `ev` (in an envelope for app `api_app_id`) must be dropped.
    ///
    /// Own events: `user` is the bot user, `bot_id` is the bot, or the message was posted by
    /// this very app (`bot_profile.app_id`/`app_id` equals the envelope's `api_app_id`, which
    /// works before the bot's ids are known). `member_joined_channel` and `member_left_channel`
    /// always pass (the bot joining a channel is news). Other bots' messages are dropped when
    /// `ignore_other_bots` is set.
    pub(crate) fn drops(&self, ev: &SlackEvent, api_app_id: Option<&str>) -> bool {
        if matches!(
            ev.kind.as_str(),
            "member_joined_channel" | "member_left_channel"
        ) {
            return false;
        }
        let edited = match ev.subtype.as_deref() {
            Some("message_changed") => ev.message.as_deref(),
            _ => None,
        };
        let own = |e: &SlackEvent| {
            (self.bot_user_id.is_some() && e.user == self.bot_user_id)
                || (self.bot_id.is_some() && e.bot_id == self.bot_id)
                || (api_app_id.is_some() && e.posting_app() == api_app_id)
        };
        if own(ev) || edited.is_some_and(own) {
            return true;
        }
        let is_message = matches!(ev.kind.as_str(), "message" | "app_mention");
        let by_bot =
            |e: &SlackEvent| e.bot_id.is_some() || e.subtype.as_deref() == Some("bot_message");
        self.ignore_other_bots && is_message && (by_bot(ev) || edited.is_some_and(by_bot))
    }
}

/// Decodes one `event_callback`; `None` when the loop guard drops it.
pub(crate) fn decode(
    ctx: &Ctx<'_>,
    guard: &LoopGuard,
    env: &Envelope,
    raw: Value,
) -> Result<Option<InboundEvent>, String> {
    let event_id = env
        .event_id
        .as_deref()
        .ok_or("event_callback without event_id")?;
    let inner = env
        .event
        .and(inner_event(&raw))
        .ok_or("event_callback without event")?;
    let ev = SlackEvent::deserialize(inner).map_err(|e| format!("invalid event: {e}"))?;
    if guard.drops(&ev, env.api_app_id.as_deref()) {
        tracing::debug!(event_id, "slack: dropped by the loop guard");
        return Ok(None);
    }
    let workspace = env.team_id.as_deref().unwrap_or("slack");
    let at = ts_time(ev.ts.as_deref())
        .or_else(|| ts_time(ev.event_ts.as_deref()))
        .or_else(|| env.event_time.and_then(epoch))
        .unwrap_or(ctx.request.received_at);
    let bot = guard.bot_user_id.as_deref();
    let message_like = is_message_like(&ev);
    let decoded = match (ev.kind.as_str(), ev.subtype.as_deref()) {
        _ if message_like => message(ctx, &ev, bot),
        ("message", Some("message_changed")) => edited(ctx, &ev),
        ("message", Some("message_deleted")) => deleted(ctx, &ev),
        ("reaction_added" | "reaction_removed", _) => reaction(ctx, &ev),
        _ => None,
    };
    let (conversation, sender, kind) = match decoded {
        Some(d) => d?,
        None => {
            let name = match ev.subtype.as_deref() {
                Some(s) if ev.kind == "message" => format!("message.{s}"),
                _ => ev.kind.clone(),
            };
            let channel = ev
                .channel_id()
                .or(ev.item.as_ref().and_then(|i| i.channel.as_deref()))
                .unwrap_or(workspace);
            let sender = ev
                .user
                .as_deref()
                .or(ev.bot_id.as_deref())
                .unwrap_or(workspace);
            let conv = ctx.conversation(channel, ev.thread_ts.as_deref())?;
            (
                conv,
                Sender::user(user_id(sender)?),
                EventKind::Other(OtherEvent { event_type: name }),
            )
        }
    };
    // One posted message is one event, however many subscriptions deliver it (issue 15, item
    // 8): `message` and `app_mention` for the same post carry different `event_id`s, so
    // message-like events are keyed by where the message is and its `ts` instead.
    let key = match (message_like, ev.channel_id(), ev.ts.as_deref()) {
        (true, Some(channel), Some(ts)) => Some(message_key(channel, ts)),
        _ => None,
    };
    let id = key.as_deref().unwrap_or(event_id);
    let mut event = ctx.event(id, conversation, sender, at, kind, raw)?;
    event
        .attributes
        .insert("slack.event_id".into(), event_id.to_owned());
    // Inserted in place: the builder would move the whole event for each attribute.
    event
        .attributes
        .insert("slack.event_type".into(), ev.kind.clone());
    let optional = [
        ("slack.subtype", ev.subtype.as_deref()),
        ("slack.team_id", env.team_id.as_deref()),
        ("slack.api_app_id", env.api_app_id.as_deref()),
        ("slack.channel_type", ev.channel_type.as_deref()),
        ("slack.event_ts", ev.event_ts.as_deref()),
        ("slack.client_msg_id", ev.client_msg_id.as_deref()),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            event.attributes.insert(k.into(), v.into());
        }
    }
    Ok(Some(event))
}

type Decoded = Result<(switchboard_core::ConversationRef, Sender, EventKind), String>;

fn epoch(secs: i64) -> Option<SystemTime> {
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
}

fn message_id(ts: Option<&str>, what: &str) -> Result<MessageId, String> {
    MessageId::new(ts.ok_or_else(|| format!("{what} without ts"))?).map_err(|e| e.to_string())
}

fn sender_of(ev: &SlackEvent) -> Result<Sender, String> {
    let (id, is_bot) = match (ev.user.as_deref(), ev.bot_id.as_deref()) {
        (Some(u), b) => (u, b.is_some()),
        (None, Some(b)) => (b, true),
        (None, None) => return Err(format!("{} event without user", ev.kind)),
    };
    let mut s = Sender::user(user_id(id)?);
    s.is_bot = is_bot;
    s.name = ev.username.clone();
    Ok(s)
}

fn channel(ev: &SlackEvent) -> Result<&str, String> {
    ev.channel_id()
        .ok_or_else(|| format!("{} event without channel", ev.kind))
}

/// Whether `ev` is a new message from someone (`message` without subtype or with one of
/// [`MESSAGE_SUBTYPES`], or `app_mention`): the events deduplicated by [`message_key`].
fn is_message_like(ev: &SlackEvent) -> bool {
    match (ev.kind.as_str(), ev.subtype.as_deref()) {
        ("message", None) | ("app_mention", _) => true,
        ("message", Some(s)) => MESSAGE_SUBTYPES.contains(&s),
        _ => false,
    }
}

/// The dedupe id of the message `ts` in `channel`: the same for its `message` and its
/// `app_mention` delivery.
pub(crate) fn message_key(channel: &str, ts: &str) -> String {
    format!("msg:{channel}:{ts}")
}

/// A message decoded; `mention` is set for `app_mention` and for a `message` whose text
/// mentions `bot` (`<@U…>`), so both deliveries of one post decode alike.
fn message(ctx: &Ctx<'_>, ev: &SlackEvent, bot: Option<&str>) -> Option<Decoded> {
    Some((|| {
        let conv = ctx.conversation(channel(ev)?, ev.thread_ts.as_deref())?;
        let sender = sender_of(ev)?;
        let mut m = InboundMessage::default();
        m.id = Some(message_id(ev.ts.as_deref(), "message")?);
        m.text = ev.text.clone().filter(|t| !t.is_empty());
        m.attachments = ev.files.iter().map(attachment).collect();
        let text = m.text.as_deref().unwrap_or("");
        m.mention = ev.kind == "app_mention"
            || bot.is_some_and(|b| {
                text.contains(&format!("<@{b}>")) || text.contains(&format!("<@{b}|"))
            });
        m.from_business = sender.is_bot;
        Ok((conv, sender, EventKind::Message(m)))
    })())
}

fn edited(ctx: &Ctx<'_>, ev: &SlackEvent) -> Option<Decoded> {
    Some((|| {
        let new = ev
            .message
            .as_deref()
            .ok_or("message_changed without message")?;
        let old = ev.previous_message.as_deref();
        let ts = new.ts.as_deref().or(old.and_then(|o| o.ts.as_deref()));
        let thread = new.thread_ts.as_deref();
        let conv = ctx.conversation(channel(ev)?, thread)?;
        let sender = sender_of(new)?;
        let kind = EventKind::Edited(EditedEvent {
            message: message_id(ts, "message_changed")?,
            text: new.text.clone(),
        });
        Ok((conv, sender, kind))
    })())
}

fn deleted(ctx: &Ctx<'_>, ev: &SlackEvent) -> Option<Decoded> {
    Some((|| {
        let old = ev.previous_message.as_deref();
        let ts = ev
            .deleted_ts
            .as_deref()
            .or(old.and_then(|o| o.ts.as_deref()));
        let thread = old.and_then(|o| o.thread_ts.as_deref());
        let conv = ctx.conversation(channel(ev)?, thread)?;
        let sender = match old {
            Some(o) if o.user.is_some() || o.bot_id.is_some() => sender_of(o)?,
            _ => sender_of(ev).or_else(|_| user_id("USLACKBOT").map(Sender::user))?,
        };
        let kind = EventKind::Deleted(DeletedEvent {
            message: message_id(ts, "message_deleted")?,
        });
        Ok((conv, sender, kind))
    })())
}

fn reaction(ctx: &Ctx<'_>, ev: &SlackEvent) -> Option<Decoded> {
    let item = ev.item.as_ref().filter(|i| i.kind == "message")?;
    Some((|| {
        let chan = item
            .channel
            .as_deref()
            .ok_or("reaction without item.channel")?;
        let conv = ctx.conversation(chan, None)?;
        let kind = EventKind::Reaction(ReactionEvent {
            message: message_id(item.ts.as_deref(), "reaction item")?,
            reaction: ev.reaction.clone().ok_or("reaction without name")?,
            added: ev.kind == "reaction_added",
        });
        Ok((conv, sender_of(ev)?, kind))
    })())
}

fn attachment(f: &SlackFile) -> InboundAttachment {
    let kind = f
        .mimetype
        .as_deref()
        .map(AttachmentKind::from_mime)
        .unwrap_or(AttachmentKind::File);
    let url = f.url_private_download.clone().or(f.url_private.clone());
    let mut a = InboundAttachment::new(kind, url);
    a.mime_type = f.mimetype.clone();
    a.filename = f.name.clone();
    a.title = f.title.clone();
    a.provider_id = f.id.clone();
    a
}

/// A well-signed body that is not an `event_callback` (`app_rate_limited`, future types): Other.
pub(crate) fn envelope_other(
    ctx: &Ctx<'_>,
    env: &Envelope,
    raw: Value,
) -> Result<InboundEvent, String> {
    let workspace = env.team_id.as_deref().unwrap_or("slack");
    let ts = ctx
        .request
        .header(crate::signature::TIMESTAMP_HEADER)
        .unwrap_or("0");
    let id = env
        .event_id
        .clone()
        .unwrap_or_else(|| format!("{}:{workspace}:{ts}", env.kind));
    let conv = ctx.conversation(workspace, None)?;
    let kind = EventKind::Other(OtherEvent {
        event_type: env.kind.clone(),
    });
    let at = env
        .event_time
        .and_then(epoch)
        .unwrap_or(ctx.request.received_at);
    Ok(ctx
        .event(&id, conv, Sender::user(user_id(workspace)?), at, kind, raw)?
        .with_attribute("slack.event_type", env.kind.clone()))
}
