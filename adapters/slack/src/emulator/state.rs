//! What the emulated workspace holds: channels, users, messages, files, the call log, staged
//! faults and the per-channel rate limiter.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Map, Value};

/// A fault the emulator gives to the next Web API call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status (a 5xx) and a short text body.
    Status(u16),
    /// Wait this long, then handle the call normally.
    Delay(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// Answer HTTP 200 `{"ok":false,"error":"<code>"}`.
    SlackError(String),
    /// Answer HTTP 429 with `Retry-After` and `{"ok":false,"error":"ratelimited"}`.
    RateLimited {
        /// The `Retry-After` value (whole seconds, rounded up).
        retry_after: Duration,
    },
    /// Handle the call normally (the workspace keeps its effect, e.g. the posted message), then
    /// close the connection before the answer is written: the caller cannot know it worked.
    LostAnswer,
}

/// The per-channel `chat.postMessage` limit: `per_second` messages with bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained messages per second per channel (Slack: about 1).
    pub per_second: f64,
    /// Messages allowed at once before the limit applies.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 1.0,
            burst: 3,
        }
    }
}

/// One Web API call as the emulator received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method (`chat.postMessage`).
    pub method: String,
    /// The arguments, decoded from JSON or form encoding (form values are strings).
    pub args: Map<String, Value>,
    /// The request's `Content-Type`.
    pub content_type: String,
    /// Whether the bot token was presented (header or `token` argument) and right.
    pub authorized: bool,
    /// The workspace whose token the call carried (the default bot token's is
    /// [`EmulatorOptions::team_id`](super::EmulatorOptions::team_id)); `None` for no or an
    /// unknown token.
    pub team: Option<String>,
    /// The HTTP status answered (0 when the connection was dropped).
    pub status: u16,
    /// The JSON answered, when there was one.
    pub response: Option<Value>,
}

/// A message the emulated workspace holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulatedMessage {
    /// The channel id.
    pub channel: String,
    /// The message `ts`.
    pub ts: String,
    /// The thread parent, for replies.
    pub thread_ts: Option<String>,
    /// A thread reply also shown in the channel (`reply_broadcast`).
    pub reply_broadcast: bool,
    /// The author: the bot user for messages the bot posted, else the user.
    pub user: Option<String>,
    /// The bot's id, for messages the bot posted.
    pub bot_id: Option<String>,
    /// The message metadata (`{"event_type":…,"event_payload":{…}}`) given when posting.
    pub metadata: Option<Value>,
    /// The text (after truncation at 40,000 characters).
    pub text: String,
    /// The blocks, as sent.
    pub blocks: Vec<Value>,
    /// Shared file ids.
    pub files: Vec<String>,
    /// For ephemeral messages: the only user who sees it.
    pub ephemeral_to: Option<String>,
    /// Reaction names on the message.
    pub reactions: Vec<String>,
    /// Edited with `chat.update`.
    pub edited: bool,
    /// Deleted with `chat.delete`.
    pub deleted: bool,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulatedFile {
    /// `F…`.
    pub id: String,
    /// The `filename` given to `files.getUploadURLExternal`.
    pub filename: String,
    /// The announced `length`.
    pub length: usize,
    /// The bytes, once POSTed to the upload URL.
    pub bytes: Option<Bytes>,
    /// The title given on completion.
    pub title: Option<String>,
    /// Whether `files.completeUploadExternal` ran.
    pub completed: bool,
    /// The workspace the file belongs to: only a token of that workspace downloads it.
    pub team: String,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) channels: BTreeSet<String>,
    pub(crate) users: BTreeSet<String>,
    pub(crate) dms: BTreeMap<String, String>,
    pub(crate) messages: Vec<EmulatedMessage>,
    pub(crate) files: Vec<EmulatedFile>,
    pub(crate) calls: Vec<Call>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) buckets: HashMap<String, (f64, Instant)>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) last_ts: u128,
    pub(crate) next_id: u64,
}

impl State {
    /// A fresh `ts`: the current time in microseconds, strictly increasing.
    pub(crate) fn new_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        self.last_ts = now.max(self.last_ts + 1);
        format!(
            "{}.{:06}",
            self.last_ts / 1_000_000,
            self.last_ts % 1_000_000
        )
    }

    /// A fresh id with `prefix` (`F`, `D`, `Ev`): uppercase alphanumerics like Slack's.
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}0EMU{:06}", self.next_id)
    }

    /// Takes a token from `channel`'s bucket; `Err(wait)` when it is empty.
    pub(crate) fn take_token(&mut self, channel: &str) -> Result<(), Duration> {
        let Some(limit) = self.rate_limit else {
            return Ok(());
        };
        let now = Instant::now();
        let burst = f64::from(limit.burst.max(1));
        let (tokens, at) = self.buckets.get(channel).copied().unwrap_or((burst, now));
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * limit.per_second).min(burst);
        if tokens >= 1.0 {
            self.buckets.insert(channel.to_owned(), (tokens - 1.0, now));
            Ok(())
        } else {
            self.buckets.insert(channel.to_owned(), (tokens, now));
            let wait = (1.0 - tokens) / limit.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.max(0.0)))
        }
    }

    /// The channel a post to `id` lands in: a known channel, or a user's DM.
    pub(crate) fn resolve(&mut self, id: &str) -> Option<String> {
        if self.channels.contains(id) {
            return Some(id.to_owned());
        }
        if self.users.contains(id) {
            return Some(self.dm_for(id));
        }
        None
    }

    /// The DM channel with `user` (opened on first use).
    pub(crate) fn dm_for(&mut self, user: &str) -> String {
        if let Some(d) = self.dms.get(user) {
            return d.clone();
        }
        let d = self.new_id("D");
        self.dms.insert(user.to_owned(), d.clone());
        self.channels.insert(d.clone());
        d
    }

    /// The live message `ts` in `channel`.
    pub(crate) fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut EmulatedMessage> {
        self.messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts && !m.deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_values_increase_and_look_like_slack() {
        let mut s = State::default();
        let a = s.new_ts();
        let b = s.new_ts();
        assert!(b > a);
        let (secs, micros) = a.split_once('.').unwrap();
        assert_eq!((secs.len(), micros.len()), (10, 6));
    }

    #[test]
    fn bucket_allows_a_burst_then_limits() {
        let mut s = State {
            rate_limit: Some(RateLimit {
                per_second: 1.0,
                burst: 2,
            }),
            ..State::default()
        };
        assert!(s.take_token("C1").is_ok());
        assert!(s.take_token("C1").is_ok());
        let wait = s.take_token("C1").unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(s.take_token("C2").is_ok());
    }
}
