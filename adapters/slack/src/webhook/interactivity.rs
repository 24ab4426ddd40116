//! Interactivity (`payload=<json>` forms) and slash commands (flat forms).
//!
//! - `block_actions` → one Action per clicked element: the button's `value` (a link button's
//!   `url`), `action_id`, the message that carried it, and `slack.response_url`. Buttons this
//!   adapter made from quick replies come back with source `QuickReply`. A button in a view
//!   (App Home tab, modal) has no channel or message: its conversation is the user's id (their
//!   DM, opened on reply) and `slack.view_id` names the view.
//! - Slash commands → a Message whose `command` holds the command and its text; `text` is the
//!   whole line as typed (`/weather London`).
//! - `view_submission`, `view_closed`, `shortcut`, `message_action`, … → Other, raw kept.
//!
//! Interactions have no `event_id`; the dedupe key is the `trigger_id` Slack mints per
//! interaction (with `#n` for the n-th action of a multi-action payload).
//!
//! Both are checked against the channel's `team_id` and `app_id` like Events API envelopes
//! (issue 15, item 11): a button click or slash command of another workspace or app is refused
//! as `ForeignTenant` (acknowledged, nothing stored), never decoded as this channel's.

use serde_json::{Map, Value};
use switchboard_core::model::{
    ActionEvent, ActionSource, Command, InboundMessage, OtherEvent, Sender,
};
use switchboard_core::{EventKind, InboundEvent, MessageId};

use crate::render::QUICK_REPLY_ACTION_PREFIX;
use crate::webhook::{Ctx, Decoded, Inbound, foreign, ts_time, user_id};
use crate::wire::{Interaction, SlashCommand, id_of, text_of};

/// Decodes the JSON of an interactivity request's `payload` field (`Foreign` for another
/// workspace's or app's).
pub(crate) fn decode_payload(
    ctx: &Ctx<'_>,
    inbound: &Inbound<'_>,
    payload: &str,
) -> Result<Decoded, String> {
    let raw: Value =
        serde_json::from_str(payload).map_err(|e| format!("invalid payload JSON: {e}"))?;
    let it: Interaction =
        serde_json::from_value(raw.clone()).map_err(|e| format!("invalid payload: {e}"))?;
    if let Some(why) = foreign(inbound, id_of(it.team.as_ref()), it.api_app_id.as_deref()) {
        return Ok(Decoded::Foreign(why));
    }
    interaction_events(ctx, &it, raw).map(Decoded::Events)
}

/// The events of one interaction: one Action per clicked element of a `block_actions`, else
/// one Other.
fn interaction_events(
    ctx: &Ctx<'_>,
    it: &Interaction,
    raw: Value,
) -> Result<Vec<InboundEvent>, String> {
    let user = it.user.as_ref().ok_or("interaction without user")?;
    let mut sender = Sender::user(user_id(&user.id)?);
    sender.name = user.username.clone().or(user.name.clone());
    let container = it.container.as_ref();
    let workspace = id_of(it.team.as_ref()).unwrap_or("slack");
    let channel = container
        .and_then(|c| c.channel_id.as_deref())
        .or(id_of(it.channel.as_ref()));
    let thread = container
        .and_then(|c| c.thread_ts.as_deref())
        .or(it.message.as_ref().and_then(|m| m.thread_ts.as_deref()));
    let message_ts = container
        .and_then(|c| c.message_ts.as_deref())
        .or(it.message.as_ref().and_then(|m| m.ts.as_deref()));
    let base_id = it
        .trigger_id
        .clone()
        .or(it.action_ts.clone())
        .or(it.actions.first().and_then(|a| a.action_ts.clone()))
        .ok_or("interaction without trigger_id")?;
    let at = ts_time(it.action_ts.as_deref())
        .or(it
            .actions
            .first()
            .and_then(|a| ts_time(a.action_ts.as_deref())))
        .unwrap_or(ctx.request.received_at);
    let decorate = |mut ev: InboundEvent| {
        ev = ev
            .with_attribute("slack.interaction_type", it.kind.clone())
            .with_attribute("slack.team_id", workspace);
        for (k, v) in [
            ("slack.response_url", it.response_url.as_deref()),
            ("slack.trigger_id", it.trigger_id.as_deref()),
            ("slack.callback_id", it.callback_id.as_deref()),
            ("slack.api_app_id", it.api_app_id.as_deref()),
        ] {
            if let Some(v) = v {
                ev = ev.with_attribute(k, v);
            }
        }
        ev
    };

    if it.kind != "block_actions" || it.actions.is_empty() {
        let conv = ctx.conversation(channel.unwrap_or(workspace), thread)?;
        let kind = EventKind::Other(OtherEvent {
            event_type: it.kind.clone(),
        });
        let ev = ctx.event(&base_id, conv, sender, at, kind, raw)?;
        return Ok(vec![decorate(ev)]);
    }
    // A button in a view (App Home tab, modal) has no channel: the user's DM is where a reply
    // can go (a conversation given as a user id).
    let channel = channel.unwrap_or(user.id.as_str());
    let view_id = container
        .and_then(|c| c.view_id.as_deref())
        .or(id_of(it.view.as_ref()));
    let many = it.actions.len() > 1;
    let mut out = Vec::with_capacity(it.actions.len());
    for (i, a) in it.actions.iter().enumerate() {
        let payload = a.value.clone().or(a.url.clone()).unwrap_or_default();
        let action_id = a.action_id.clone().unwrap_or_default();
        let source = if action_id.starts_with(QUICK_REPLY_ACTION_PREFIX) {
            ActionSource::QuickReply
        } else {
            ActionSource::Button
        };
        let mut action = ActionEvent::new(payload, source).with_action_id(action_id);
        action.label = text_of(a.text.as_ref()).map(str::to_owned);
        if let Some(ts) = message_ts {
            action = action.with_message(MessageId::new(ts).map_err(|e| e.to_string())?);
        }
        let id = if many {
            format!("{base_id}#{i}")
        } else {
            base_id.clone()
        };
        let conv = ctx.conversation(channel, thread)?;
        let mut ev = ctx.event(
            &id,
            conv,
            sender.clone(),
            at,
            EventKind::Action(action),
            raw.clone(),
        )?;
        if let Some(b) = &a.block_id {
            ev = ev.with_attribute("slack.block_id", b.clone());
        }
        if let Some(t) = &a.kind {
            ev = ev.with_attribute("slack.action_type", t.clone());
        }
        if let Some(v) = view_id {
            ev = ev.with_attribute("slack.view_id", v);
        }
        out.push(decorate(ev));
    }
    Ok(out)
}

/// Decodes a slash command's form fields (`Foreign` for another workspace's or app's).
pub(crate) fn decode_command(
    ctx: &Ctx<'_>,
    inbound: &Inbound<'_>,
    form: &[(String, String)],
) -> Result<Decoded, String> {
    let raw = Value::Object(
        form.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    );
    let cmd: SlashCommand =
        serde_json::from_value(raw.clone()).map_err(|e| format!("invalid slash command: {e}"))?;
    if let Some(why) = foreign(inbound, cmd.team_id.as_deref(), cmd.api_app_id.as_deref()) {
        return Ok(Decoded::Foreign(why));
    }
    let channel = cmd
        .channel_id
        .as_deref()
        .ok_or("slash command without channel_id")?;
    let user = cmd
        .user_id
        .as_deref()
        .ok_or("slash command without user_id")?;
    let mut sender = Sender::user(user_id(user)?);
    sender.name = cmd.user_name.clone();
    let line = if cmd.text.is_empty() {
        cmd.command.clone()
    } else {
        format!("{} {}", cmd.command, cmd.text)
    };
    let mut m = InboundMessage::text(line);
    m.command = Some(Command {
        name: cmd.command.clone(),
        text: cmd.text.clone(),
    });
    let timestamp = ctx
        .request
        .header(crate::signature::TIMESTAMP_HEADER)
        .unwrap_or("0");
    let id = cmd
        .trigger_id
        .clone()
        .unwrap_or_else(|| format!("command:{channel}:{user}:{timestamp}"));
    let conv = ctx.conversation(channel, None)?;
    let mut ev = ctx
        .event(
            &id,
            conv,
            sender,
            ctx.request.received_at,
            EventKind::Message(m),
            raw,
        )?
        .with_attribute("slack.interaction_type", "slash_command");
    for (k, v) in [
        ("slack.response_url", cmd.response_url.as_deref()),
        ("slack.trigger_id", cmd.trigger_id.as_deref()),
        ("slack.team_id", cmd.team_id.as_deref()),
        ("slack.api_app_id", cmd.api_app_id.as_deref()),
    ] {
        if let Some(v) = v {
            ev = ev.with_attribute(k, v);
        }
    }
    Ok(Decoded::Events(vec![ev]))
}
