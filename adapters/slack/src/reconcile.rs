//! Reconciliation: every message part posted with an outbox key carries it as Slack message
//! `metadata` (`event_type` [`OUTBOX_EVENT_TYPE`], `event_payload` `{outbox_key, part,
//! parts}`), and `reconcile` looks for it with `conversations.history` (or
//! `conversations.replies` for a thread) and `include_all_metadata=true`, over a window starting
//! [`RECONCILE_LOOKBACK`] before the first attempt.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchboard_core::{
    ConversationRef, OutboxKey, PendingSend, Reconciled, Result, Retry, SentMessage,
};

use crate::adapter::SlackAdapter;
use crate::extension::SlackEphemeral;
use crate::outbound::{located, sent_message, thread_of};
use crate::render;
use crate::wire::HistoryMessage;

/// The `event_type` of the metadata that carries the outbox key.
pub const OUTBOX_EVENT_TYPE: &str = "switchboard_outbox";

/// How long before the first attempt the search window starts (room for clock differences
/// between this host and Slack).
pub const RECONCILE_LOOKBACK: Duration = Duration::from_secs(60);

/// Messages asked for per page.
const PAGE_LIMIT: usize = 200;
/// Pages read at most before the answer is `Unknown` (a very busy window).
const MAX_PAGES: usize = 10;

/// The `metadata` argument of part `part` (of `parts`) of the send keyed `key`.
pub(crate) fn outbox_metadata(key: &str, part: usize, parts: usize) -> Value {
    json!({
        "event_type": OUTBOX_EVENT_TYPE,
        "event_payload": {"outbox_key": key, "part": part, "parts": parts},
    })
}

/// The part (and part count) a history message carries for `key`, if it is one of ours.
fn part_of(m: &HistoryMessage, key: &str, bot_id: Option<&str>) -> Option<(usize, usize)> {
    if let (Some(ours), Some(theirs)) = (bot_id, m.bot_id.as_deref())
        && ours != theirs
    {
        return None;
    }
    let meta = m.metadata.as_ref()?;
    if meta.get("event_type").and_then(Value::as_str) != Some(OUTBOX_EVENT_TYPE) {
        return None;
    }
    let payload = meta.get("event_payload")?;
    if payload.get("outbox_key").and_then(Value::as_str) != Some(key) {
        return None;
    }
    let number = |name: &str| {
        payload
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    Some((number("part")?, number("parts")?))
}

/// `at` minus the lookback, as a Slack timestamp (`seconds.micros`).
fn oldest_ts(at: SystemTime) -> String {
    let from = at.checked_sub(RECONCILE_LOOKBACK).unwrap_or(UNIX_EPOCH);
    let d = from.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

/// The parts found so far: part index → the earliest `ts` carrying it; and the part count the
/// sender recorded.
#[derive(Debug, Default)]
struct Found {
    parts: BTreeMap<usize, String>,
    expected: Option<usize>,
}

impl Found {
    fn add(&mut self, part: usize, parts: usize, ts: &str) {
        self.expected = Some(self.expected.unwrap_or(0).max(parts));
        let slot = self.parts.entry(part).or_insert_with(|| ts.to_owned());
        // Same width (`seconds.micros`): the string order is the time order.
        if (ts.len(), ts) < (slot.len(), slot.as_str()) {
            *slot = ts.to_owned();
        }
    }

    fn complete(&self, expected: usize) -> bool {
        (0..expected).all(|p| self.parts.contains_key(&p))
    }
}

/// The answer from what was found, `expected` text parts and whether files followed them.
fn outcome(
    found: &Found,
    expected: usize,
    uploads: bool,
    where_to: &ConversationRef,
) -> Result<Reconciled> {
    let messages = found
        .parts
        .values()
        .map(|ts| sent_message(ts, where_to))
        .collect::<Result<Vec<SentMessage>>>()?;
    Ok(if messages.is_empty() {
        Reconciled::NotDelivered
    } else if !found.complete(expected) {
        Reconciled::Partial(messages)
    } else if uploads {
        Reconciled::Unknown(
            "every text part is in Slack, but uploaded files carry no metadata: whether they \
             were shared cannot be told"
                .to_owned(),
        )
    } else {
        Reconciled::Delivered(messages)
    })
}

impl SlackAdapter {
    /// [`Adapter::reconcile`](switchboard_core::Adapter::reconcile) for Slack. Lookups Slack
    /// refuses for good (missing scope, not in the channel, unknown thread) are `Unknown`;
    /// passing failures (rate limit, 5xx, network) are errors to retry.
    pub(crate) async fn reconcile_send(
        &self,
        key: &OutboxKey,
        pending: &PendingSend,
    ) -> Result<Reconciled> {
        match self.look_up(key, pending).await {
            Err(e) if e.retry() == Retry::Never => {
                Ok(Reconciled::Unknown(format!("the Slack lookup failed: {e}")))
            }
            other => other,
        }
    }

    async fn look_up(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        let message = &pending.message;
        if message
            .extensions
            .get::<SlackEphemeral>()
            .transpose()?
            .is_some()
        {
            return Ok(Reconciled::Unknown(
                "ephemeral Slack messages are not kept in the conversation history".to_owned(),
            ));
        }
        let plan = render::plan(message, &self.info.capabilities, self.config.render)?;
        if plan.posts.is_empty() {
            return Ok(Reconciled::Unknown(
                "a message of files only: uploaded files carry no metadata to look up".to_owned(),
            ));
        }
        self.learn_identity().await;
        let target = self
            .resolve_channel(pending.to.conversation.as_str())
            .await?;
        let (bot_id, channel) = (target.bot_id.clone(), target.native.clone());
        let thread = thread_of(&pending.to, message);
        let where_to = located(&pending.to, thread.as_deref())?;
        let (method, mut form) = match &thread {
            Some(t) => (
                "conversations.replies",
                vec![("channel", channel), ("ts", t.clone())],
            ),
            None => ("conversations.history", vec![("channel", channel)]),
        };
        form.extend([
            ("oldest", oldest_ts(pending.first_attempt_at)),
            ("include_all_metadata", "true".to_owned()),
            ("limit", PAGE_LIMIT.to_string()),
        ]);

        let mut found = Found::default();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut args = form.clone();
            if let Some(c) = &cursor {
                args.push(("cursor", c.clone()));
            }
            let page = target.api.call_form(method, &args).await?;
            for m in &page.messages {
                if let (Some(ts), Some((part, parts))) =
                    (m.ts.as_deref(), part_of(m, key.as_str(), bot_id.as_deref()))
                {
                    found.add(part, parts, ts);
                }
            }
            let expected = found.expected.unwrap_or(plan.posts.len());
            if found.complete(expected) {
                return outcome(&found, expected, !plan.uploads.is_empty(), &where_to);
            }
            cursor = page
                .response_metadata
                .and_then(|r| r.next_cursor)
                .filter(|c| page.has_more && !c.is_empty());
            if cursor.is_none() {
                return outcome(&found, expected, !plan.uploads.is_empty(), &where_to);
            }
        }
        Ok(Reconciled::Unknown(format!(
            "more than {} messages in the window: the lookup stopped before its end",
            PAGE_LIMIT * MAX_PAGES
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ts: &str, bot: Option<&str>, meta: Value) -> HistoryMessage {
        HistoryMessage {
            ts: Some(ts.to_owned()),
            thread_ts: None,
            bot_id: bot.map(str::to_owned),
            metadata: Some(meta),
        }
    }

    #[test]
    fn parts_are_read_from_our_metadata_only() {
        let ours = outbox_metadata("team:Ev1:0", 1, 2);
        assert_eq!(
            part_of(
                &msg("1.000001", Some("B1"), ours.clone()),
                "team:Ev1:0",
                Some("B1")
            ),
            Some((1, 2))
        );
        // Another key, another bot, another event type, or no payload: not ours.
        assert_eq!(
            part_of(&msg("1.1", None, ours.clone()), "team:Ev2:0", None),
            None
        );
        assert_eq!(
            part_of(&msg("1.1", Some("B2"), ours), "team:Ev1:0", Some("B1")),
            None
        );
        let other = json!({"event_type": "task_created", "event_payload": {"outbox_key": "team:Ev1:0", "part": 0, "parts": 1}});
        assert_eq!(part_of(&msg("1.1", None, other), "team:Ev1:0", None), None);
        let bare = json!({"event_type": OUTBOX_EVENT_TYPE});
        assert_eq!(part_of(&msg("1.1", None, bare), "team:Ev1:0", None), None);
    }

    #[test]
    fn window_starts_a_minute_before_the_first_attempt() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_100_000_250);
        assert_eq!(oldest_ts(at), "1700000040.000250");
        assert_eq!(oldest_ts(UNIX_EPOCH), "0.000000");
    }

    #[test]
    fn outcomes_follow_the_parts_found() {
        let to = ConversationRef::parse("team", "C1").unwrap();
        let mut found = Found::default();
        assert_eq!(
            outcome(&found, 2, false, &to).unwrap(),
            Reconciled::NotDelivered
        );
        found.add(1, 2, "1700000000.000200");
        let Reconciled::Partial(p) = outcome(&found, 2, false, &to).unwrap() else {
            panic!("one of two parts is partial");
        };
        assert_eq!(p[0].id.as_str(), "1700000000.000200");
        found.add(0, 2, "1700000000.000100");
        found.add(0, 2, "1700000000.000300"); // a later duplicate: the first one counts
        let Reconciled::Delivered(d) = outcome(&found, 2, false, &to).unwrap() else {
            panic!("both parts are delivered");
        };
        let ids: Vec<_> = d.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["1700000000.000100", "1700000000.000200"]);
        assert!(matches!(
            outcome(&found, 2, true, &to).unwrap(),
            Reconciled::Unknown(_)
        ));
    }
}
