//! The behaviour of each emulated method, as Slack documents it, over the workspace state.

use serde_json::{Map, Value, json};

use super::methods::{json_arg, str_arg};
use super::state::{EmulatedFile, EmulatedMessage, State};

/// Longest `text` kept by `chat.postMessage` (longer text is truncated).
pub const MAX_POST_TEXT: usize = 40_000;
/// Longest `text` `chat.update` accepts.
pub const MAX_UPDATE_TEXT: usize = 4_000;
/// Most blocks in one message.
pub const MAX_BLOCKS: usize = 50;

/// An answer: HTTP status, optional `Retry-After` seconds, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) fn ok(mut body: Value) -> Self {
        body["ok"] = Value::Bool(true);
        Reply {
            status: 200,
            retry_after: None,
            body,
        }
    }

    pub(crate) fn error(code: &str) -> Self {
        Reply {
            status: 200,
            retry_after: None,
            body: json!({"ok": false, "error": code}),
        }
    }

    pub(crate) fn rate_limited(secs: u64) -> Self {
        Reply {
            status: 429,
            retry_after: Some(secs.max(1)),
            body: json!({"ok": false, "error": "ratelimited"}),
        }
    }
}

/// Who the emulated bot is.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) team_id: String,
    pub(crate) bot_user_id: String,
    pub(crate) bot_id: String,
}

/// Runs `method` (already authorized and checked against the reference).
pub(crate) fn run(
    s: &mut State,
    me: &Identity,
    base_url: &str,
    method: &str,
    a: &Map<String, Value>,
) -> Reply {
    let arg = |n: &str| str_arg(a, n);
    match method {
        "auth.test" => Reply::ok(json!({
            "url": "https://emulated.slack.com/", "team": "Emulated Workspace", "user": "switchboard",
            "team_id": me.team_id, "user_id": me.bot_user_id, "bot_id": me.bot_id,
            "is_enterprise_install": false
        })),
        "chat.postMessage" | "chat.postEphemeral" => post(s, me, method, a),
        "chat.update" => {
            let (Some(ch), Some(ts)) = (arg("channel"), arg("ts")) else {
                return Reply::error("invalid_arguments");
            };
            let Some(channel) = s.resolve(&ch) else {
                return Reply::error("channel_not_found");
            };
            let text = arg("text").unwrap_or_default();
            if text.chars().count() > MAX_UPDATE_TEXT {
                return Reply::error("msg_too_long");
            }
            let blocks = match blocks_of(a) {
                Ok(b) => b,
                Err(code) => return Reply::error(code),
            };
            if text.is_empty() && blocks.as_ref().is_none_or(Vec::is_empty) {
                return Reply::error("no_text");
            }
            let Some(m) = s.message_mut(&channel, &ts) else {
                return Reply::error("message_not_found");
            };
            m.text = text.clone();
            if let Some(b) = blocks {
                m.blocks = b;
            }
            m.edited = true;
            Reply::ok(json!({"channel": channel, "ts": ts, "text": text,
                "message": {"text": text, "user": me.bot_user_id}}))
        }
        "chat.delete" => {
            let (Some(ch), Some(ts)) = (arg("channel"), arg("ts")) else {
                return Reply::error("invalid_arguments");
            };
            let Some(channel) = s.resolve(&ch) else {
                return Reply::error("channel_not_found");
            };
            match s.message_mut(&channel, &ts) {
                Some(m) => {
                    m.deleted = true;
                    Reply::ok(json!({"channel": channel, "ts": ts}))
                }
                None => Reply::error("message_not_found"),
            }
        }
        "reactions.add" | "reactions.remove" => {
            let (Some(ch), Some(ts), Some(name)) = (arg("channel"), arg("timestamp"), arg("name"))
            else {
                return Reply::error("no_item_specified");
            };
            let Some(channel) = s.resolve(&ch) else {
                return Reply::error("channel_not_found");
            };
            let Some(m) = s.message_mut(&channel, &ts) else {
                return Reply::error("message_not_found");
            };
            let has = m.reactions.contains(&name);
            match (method == "reactions.add", has) {
                (true, true) => Reply::error("already_reacted"),
                (false, false) => Reply::error("no_reaction"),
                (true, false) => {
                    m.reactions.push(name);
                    Reply::ok(json!({}))
                }
                (false, true) => {
                    m.reactions.retain(|r| r != &name);
                    Reply::ok(json!({}))
                }
            }
        }
        "conversations.open" => {
            if let Some(ch) = arg("channel") {
                return match s.resolve(&ch) {
                    Some(id) => Reply::ok(json!({"channel": {"id": id}})),
                    None => Reply::error("channel_not_found"),
                };
            }
            let Some(users) = arg("users") else {
                return Reply::error("users_list_not_supplied");
            };
            let list: Vec<&str> = users.split(',').map(str::trim).collect();
            if let Some(bad) = list.iter().find(|u| !s.users.contains(**u)) {
                tracing::debug!(user = bad, "slack emulator: unknown user");
                return Reply::error("user_not_found");
            }
            match list.as_slice() {
                [one] => {
                    let id = s.dm_for(one);
                    Reply::ok(json!({"channel": {"id": id}}))
                }
                _ => Reply::error("too_many_users"),
            }
        }
        "files.getUploadURLExternal" => {
            let length = arg("length").and_then(|l| l.parse::<usize>().ok());
            let (Some(filename), Some(length)) = (arg("filename"), length.filter(|l| *l >= 1))
            else {
                return Reply::error("invalid_arguments");
            };
            if arg("alt_txt").is_some_and(|t| t.chars().count() > 1000) {
                return Reply::error("alt_txt_too_large");
            }
            let id = s.new_id("F");
            s.files.push(EmulatedFile {
                id: id.clone(),
                filename,
                length,
                bytes: None,
                title: None,
                completed: false,
                team: me.team_id.clone(),
            });
            Reply::ok(json!({"upload_url": format!("{base_url}/upload/v1/{id}"), "file_id": id}))
        }
        "files.completeUploadExternal" => complete_upload(s, me, a),
        "conversations.history" => super::history::history(s, a),
        "conversations.replies" => super::history::replies(s, a),
        _ => Reply::error("unknown_method"),
    }
}

fn blocks_of(a: &Map<String, Value>) -> Result<Option<Vec<Value>>, &'static str> {
    match json_arg(a, "blocks") {
        None => Ok(None),
        Some(Err(())) => Err("invalid_blocks_format"),
        Some(Ok(Value::Array(b))) if b.len() > MAX_BLOCKS => Err("invalid_blocks"),
        Some(Ok(Value::Array(b))) if b.iter().all(|x| x.get("type").is_some()) => Ok(Some(b)),
        Some(Ok(_)) => Err("invalid_blocks"),
    }
}

/// The `metadata` argument: a JSON object (or a JSON string of one, form-encoded) with a string
/// `event_type` and an object `event_payload`; Slack's `invalid_metadata_format` /
/// `invalid_metadata_schema` otherwise.
fn metadata_of(a: &Map<String, Value>) -> Result<Option<Value>, &'static str> {
    let m = match json_arg(a, "metadata") {
        None => return Ok(None),
        Some(Err(())) => return Err("invalid_metadata_format"),
        Some(Ok(Value::Object(m))) => m,
        Some(Ok(_)) => return Err("invalid_metadata_format"),
    };
    let typed = m
        .get("event_type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !typed || !m.get("event_payload").is_some_and(Value::is_object) {
        return Err("invalid_metadata_schema");
    }
    Ok(Some(Value::Object(m)))
}

fn post(s: &mut State, me: &Identity, method: &str, a: &Map<String, Value>) -> Reply {
    let Some(channel) = str_arg(a, "channel").and_then(|c| s.resolve(&c)) else {
        return Reply::error("channel_not_found");
    };
    let blocks = match blocks_of(a) {
        Ok(b) => b,
        Err(code) => return Reply::error(code),
    };
    let text = str_arg(a, "text").unwrap_or_default();
    let has_attachments = a.get("attachments").is_some_and(|v| !v.is_null());
    if text.is_empty() && blocks.as_ref().is_none_or(Vec::is_empty) && !has_attachments {
        return Reply::error("no_text");
    }
    let ephemeral_to = if method == "chat.postEphemeral" {
        match str_arg(a, "user") {
            Some(u) if s.users.contains(&u) => Some(u),
            _ => return Reply::error("user_not_in_channel"),
        }
    } else {
        None
    };
    let metadata = match metadata_of(a) {
        Ok(m) => m,
        Err(code) => return Reply::error(code),
    };
    if ephemeral_to.is_none()
        && let Err(wait) = s.take_token(&channel)
    {
        return Reply::rate_limited(wait.as_secs_f64().ceil() as u64);
    }
    let text: String = text.chars().take(MAX_POST_TEXT).collect();
    let ts = s.new_ts();
    let thread_ts = str_arg(a, "thread_ts");
    s.messages.push(EmulatedMessage {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts: thread_ts.clone(),
        reply_broadcast: thread_ts.is_some()
            && a.get("reply_broadcast")
                .is_some_and(|v| v == true || v == "true"),
        user: Some(me.bot_user_id.clone()),
        bot_id: Some(me.bot_id.clone()),
        metadata,
        text: text.clone(),
        blocks: blocks.clone().unwrap_or_default(),
        files: Vec::new(),
        ephemeral_to: ephemeral_to.clone(),
        reactions: Vec::new(),
        edited: false,
        deleted: false,
    });
    if ephemeral_to.is_some() {
        return Reply::ok(json!({"message_ts": ts}));
    }
    let mut message = json!({"type": "message", "text": text, "user": me.bot_user_id,
        "bot_id": me.bot_id, "ts": ts, "team": me.team_id});
    if let Some(b) = blocks {
        message["blocks"] = Value::Array(b);
    }
    if let Some(t) = thread_ts {
        message["thread_ts"] = Value::String(t);
    }
    Reply::ok(json!({"channel": channel, "ts": ts, "message": message}))
}

fn complete_upload(s: &mut State, me: &Identity, a: &Map<String, Value>) -> Reply {
    let Some(Ok(Value::Array(files))) = json_arg(a, "files") else {
        return Reply::error("invalid_arguments");
    };
    let mut done = Vec::new();
    for f in &files {
        let id = f.get("id").and_then(Value::as_str).unwrap_or_default();
        let title = f.get("title").and_then(Value::as_str).map(str::to_owned);
        let Some(file) = s.files.iter_mut().find(|x| x.id == id && x.bytes.is_some()) else {
            return Reply::error("file_not_found");
        };
        file.completed = true;
        file.title = title.clone();
        done.push((
            id.to_owned(),
            title.unwrap_or_else(|| file.filename.clone()),
        ));
    }
    if let Some(ch) = str_arg(a, "channel_id") {
        let Some(channel) = s.resolve(&ch) else {
            return Reply::error("channel_not_found");
        };
        let ts = s.new_ts();
        s.messages.push(EmulatedMessage {
            channel,
            ts,
            thread_ts: str_arg(a, "thread_ts"),
            reply_broadcast: false,
            user: Some(me.bot_user_id.clone()),
            bot_id: Some(me.bot_id.clone()),
            metadata: None,
            text: str_arg(a, "initial_comment").unwrap_or_default(),
            blocks: Vec::new(),
            files: done.iter().map(|(id, _)| id.clone()).collect(),
            ephemeral_to: None,
            reactions: Vec::new(),
            edited: false,
            deleted: false,
        });
    }
    let files: Vec<Value> = done
        .into_iter()
        .map(|(id, title)| json!({"id": id, "title": title}))
        .collect();
    Reply::ok(json!({"files": files}))
}

#[cfg(test)]
mod tests;
