//! `conversations.history` and `conversations.replies` over the workspace's messages, as Slack
//! documents them: a time window (`oldest`/`latest`, exclusive unless `inclusive`), `limit`,
//! cursor pages (`has_more`, `response_metadata.next_cursor`), and each message's `metadata`
//! in full only with `include_all_metadata` (without it, only its `event_type`).

use serde_json::{Map, Value, json};

use super::handlers::Reply;
use super::methods::str_arg;
use super::state::{EmulatedMessage, State};

/// `conversations.history`'s `limit`: 100 by default, at most 999 (Slack's method reference).
const HISTORY_LIMIT: (usize, usize) = (100, 999);
/// `conversations.replies`'s `limit`: 1000 by default and at most.
const REPLIES_LIMIT: (usize, usize) = (1000, 1000);
/// How the emulator's opaque cursors start (Slack's decode to `next_ts:…` too).
const CURSOR_PREFIX: &str = "next_ts:";

/// A `ts` (or `oldest`/`latest`) as microseconds since the epoch; `None` if it is not a number.
pub(crate) fn ts_micros(ts: &str) -> Option<u128> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(frac) {
        return None;
    }
    let secs: u128 = if secs.is_empty() {
        0
    } else {
        secs.parse().ok()?
    };
    let micros: String = frac.chars().chain("000000".chars()).take(6).collect();
    Some(secs * 1_000_000 + micros.parse::<u128>().ok()?)
}

/// The window and page asked for.
struct Query {
    channel: String,
    oldest: u128,
    latest: u128,
    inclusive: bool,
    limit: usize,
    cursor: Option<u128>,
    all_metadata: bool,
}

fn flag(a: &Map<String, Value>, name: &str) -> bool {
    matches!(str_arg(a, name).as_deref(), Some("true" | "1"))
}

fn query(s: &State, a: &Map<String, Value>, limits: (usize, usize)) -> Result<Query, Reply> {
    let channel = str_arg(a, "channel")
        .filter(|c| s.channels.contains(c))
        .ok_or_else(|| Reply::error("channel_not_found"))?;
    let bound = |name: &str, default: u128, code: &str| match str_arg(a, name) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => ts_micros(&v).ok_or_else(|| Reply::error(code)),
    };
    let oldest = bound("oldest", 0, "invalid_ts_oldest")?;
    let latest = bound("latest", u128::MAX, "invalid_ts_latest")?;
    let limit = str_arg(a, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(limits.0)
        .min(limits.1);
    let cursor = match str_arg(a, "cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(decode_cursor(&c).ok_or_else(|| Reply::error("invalid_cursor"))?),
    };
    Ok(Query {
        channel,
        oldest,
        latest,
        inclusive: flag(a, "inclusive"),
        limit,
        cursor,
        all_metadata: flag(a, "include_all_metadata"),
    })
}

fn encode_cursor(ts: &str) -> String {
    hex::encode(format!("{CURSOR_PREFIX}{ts}"))
}

fn decode_cursor(c: &str) -> Option<u128> {
    let raw = String::from_utf8(hex::decode(c).ok()?).ok()?;
    ts_micros(raw.strip_prefix(CURSOR_PREFIX)?)
}

impl Query {
    fn in_window(&self, ts: u128) -> bool {
        if self.inclusive {
            ts >= self.oldest && ts <= self.latest
        } else {
            ts > self.oldest && ts < self.latest
        }
    }
}

/// A stored message as the history methods return it.
fn render(m: &EmulatedMessage, s: &State, all_metadata: bool) -> Value {
    let mut v = json!({"type": "message", "text": m.text, "ts": m.ts});
    if let Some(u) = &m.user {
        v["user"] = Value::String(u.clone());
    }
    if let Some(b) = &m.bot_id {
        v["bot_id"] = Value::String(b.clone());
    }
    if m.reply_broadcast {
        v["subtype"] = Value::String("thread_broadcast".to_owned());
    }
    if let Some(t) = &m.thread_ts {
        v["thread_ts"] = Value::String(t.clone());
    }
    let replies = s
        .messages
        .iter()
        .filter(|r| r.channel == m.channel && !r.deleted && r.ts != m.ts)
        .filter(|r| r.thread_ts.as_deref() == Some(m.ts.as_str()))
        .count();
    if replies > 0 {
        v["thread_ts"] = Value::String(m.ts.clone());
        v["reply_count"] = json!(replies);
    }
    if !m.blocks.is_empty() {
        v["blocks"] = Value::Array(m.blocks.clone());
    }
    if !m.files.is_empty() {
        v["files"] = m.files.iter().map(|id| json!({"id": id})).collect();
    }
    if let Some(meta) = &m.metadata {
        v["metadata"] = if all_metadata {
            meta.clone()
        } else {
            json!({"event_type": meta.get("event_type").cloned().unwrap_or(Value::Null)})
        };
    }
    v
}

/// One page of `candidates` (already in answer order, filtered by window), from the cursor on.
fn page(q: &Query, s: &State, candidates: Vec<&EmulatedMessage>, newest_first: bool) -> Value {
    let from_cursor = candidates.into_iter().filter(|m| {
        let ts = ts_micros(&m.ts).unwrap_or(0);
        match q.cursor {
            None => true,
            Some(c) if newest_first => ts <= c,
            Some(c) => ts >= c,
        }
    });
    let mut rest = from_cursor.peekable();
    let mut messages = Vec::new();
    while messages.len() < q.limit {
        let Some(m) = rest.next() else { break };
        messages.push(render(m, s, q.all_metadata));
    }
    let next = rest.peek().map(|m| encode_cursor(&m.ts));
    let mut body = json!({"messages": messages, "has_more": next.is_some()});
    if let Some(c) = next {
        body["response_metadata"] = json!({"next_cursor": c});
    }
    body
}

fn visible<'a>(s: &'a State, q: &Query) -> impl Iterator<Item = &'a EmulatedMessage> {
    let channel = q.channel.clone();
    s.messages.iter().filter(move |m| {
        m.channel == channel
            && !m.deleted
            && m.ephemeral_to.is_none()
            && ts_micros(&m.ts).is_some_and(|ts| q.in_window(ts))
    })
}

/// `conversations.history`: the channel's top-level messages (and thread replies broadcast to
/// it), newest first.
pub(crate) fn history(s: &State, a: &Map<String, Value>) -> Reply {
    let q = match query(s, a, HISTORY_LIMIT) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let mut found: Vec<&EmulatedMessage> = visible(s, &q)
        .filter(|m| m.reply_broadcast || m.thread_ts.as_deref().is_none_or(|t| t == m.ts))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(ts_micros(&m.ts)));
    let mut body = page(&q, s, found, true);
    body["pin_count"] = json!(0);
    body["channel_actions_ts"] = Value::Null;
    body["channel_actions_count"] = json!(0);
    Reply::ok(body)
}

/// `conversations.replies`: the thread whose parent is `ts` (the parent, then its replies),
/// oldest first; `thread_not_found` when there is no such message.
pub(crate) fn replies(s: &State, a: &Map<String, Value>) -> Reply {
    let q = match query(s, a, REPLIES_LIMIT) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(parent) = str_arg(a, "ts") else {
        return Reply::error("invalid_arguments");
    };
    let exists = s
        .messages
        .iter()
        .any(|m| m.channel == q.channel && m.ts == parent && !m.deleted);
    if !exists {
        return Reply::error("thread_not_found");
    }
    let mut found: Vec<&EmulatedMessage> = visible(s, &q)
        .filter(|m| m.ts == parent || m.thread_ts.as_deref() == Some(parent.as_str()))
        .collect();
    found.sort_by_key(|m| ts_micros(&m.ts));
    Reply::ok(page(&q, s, found, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_values_parse_to_micros() {
        assert_eq!(ts_micros("1700000000.000100"), Some(1_700_000_000_000_100));
        assert_eq!(ts_micros("1700000000.5"), Some(1_700_000_000_500_000));
        assert_eq!(ts_micros("1700000000"), Some(1_700_000_000_000_000));
        assert_eq!(ts_micros("abc"), None);
        assert_eq!(ts_micros("."), None);
        assert_eq!(decode_cursor(&encode_cursor("1.000002")), Some(1_000_002));
        assert_eq!(decode_cursor("zz"), None);
    }
}
