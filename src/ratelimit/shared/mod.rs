//! A channel's limits shared by every instance through Redis (`[rate_limits]`).
//!
//! One check is **one round trip**: `check.lua` reads the channel's pause and runs the
//! conversation's and the channel's GCRA on Redis' `TIME`, writing the new states with TTLs (an
//! idle conversation's key expires once its limit has refilled). A provider's `Retry-After`
//! is stored as a key that expires with it (`pause.lua`), so every instance waits.
//!
//! Before asking, the local view refuses what it already knows must wait: the pause (this
//! instance's, or one an answer reported), and the waits earlier answers announced for the
//! channel and each conversation (a GCRA state only moves forward, so such a wait can only
//! be longer by now, never shorter). A refused check therefore mostly costs no round trip.
//!
//! When Redis does not answer within `rate_limits.timeout` (or fails), the link goes down and
//! a local share of each limit (1/`instances` of each rate and burst, see
//! [`LocalLimits::share`]) decides until it is back; each such check counts in
//! `switchboard_rate_limit_fallbacks_total`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use redis::Script;

use crate::config::RateConfig;
use crate::metrics::RateLimitMetrics;

use super::Pause;
use super::local::LocalLimits;

mod link;
#[cfg(test)]
mod outage_tests;
#[cfg(test)]
mod tests;

pub(crate) use link::Link;

/// The check: pause, conversation and channel in one call.
static CHECK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("check.lua")));
/// Sets (extends) the channel's pause.
static PAUSE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("pause.lua")));

/// One GCRA limit in microseconds: emission interval `t`, tolerance `tau = t·(burst−1)`, as
/// governor computes them; `t = 0` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Gcra {
    t: u64,
    tau: u64,
}

impl Gcra {
    fn new(per_second: Option<f64>, burst: Option<u32>) -> Self {
        let Some(t) = per_second
            .and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok())
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1))
        else {
            return Gcra::default();
        };
        let burst = u64::from(burst.unwrap_or(1).max(1));
        Gcra {
            t,
            tau: t.saturating_mul(burst - 1),
        }
    }
}

/// The Redis keys of one channel. The channel is a hash tag (`{…}`), so a channel's keys share
/// a cluster slot and one script may touch them together.
struct Keys {
    pause: String,
    channel: String,
    conversation_prefix: String,
}

/// A channel's shared limits, as one instance sees them.
pub(crate) struct SharedChannel {
    link: Arc<Link>,
    keys: Keys,
    conversation: Gcra,
    channel: Gcra,
    known: Known,
    share: LocalLimits,
    fallbacks: Counter,
}

impl SharedChannel {
    pub(crate) fn new(
        link: Arc<Link>,
        name: &str,
        rate: &RateConfig,
        metrics: &RateLimitMetrics,
    ) -> Self {
        let base = format!("{}:{{{name}}}", link.config.key_prefix);
        SharedChannel {
            keys: Keys {
                pause: format!("{base}:pause"),
                channel: format!("{base}:rate"),
                conversation_prefix: format!("{base}:c:"),
            },
            conversation: Gcra::new(
                rate.per_conversation_per_second,
                rate.per_conversation_burst,
            ),
            channel: Gcra::new(rate.per_second, rate.burst),
            known: Known::default(),
            share: LocalLimits::share(rate, link.config.instances),
            fallbacks: metrics.fallbacks(name),
            link,
        }
    }

    /// See [`ChannelLimits::try_acquire`](super::ChannelLimits::try_acquire); `pause` is the
    /// channel's local pause, extended when Redis reports one.
    pub(crate) async fn try_acquire(
        &self,
        conversation: &str,
        pause: &Pause,
    ) -> Result<(), Duration> {
        if let Some(wait) = self.known.wait(conversation) {
            return Err(wait);
        }
        let mut call = CHECK.prepare_invoke();
        call.key(&self.keys.pause)
            .key(format!("{}{conversation}", self.keys.conversation_prefix))
            .key(&self.keys.channel)
            .arg(self.conversation.t)
            .arg(self.conversation.tau)
            .arg(self.channel.t)
            .arg(self.channel.tau);
        let Some(answer) = self.link.run::<Vec<i64>>(&call).await else {
            return self.fallback(conversation);
        };
        let Ok([status, wait, conversation_next, channel_next]) = <[i64; 4]>::try_from(answer)
        else {
            tracing::error!("the rate limit script answered in an unexpected shape");
            return self.fallback(conversation);
        };
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let now = Instant::now();
        if status == 1 {
            pause.extend(micros(wait));
            return Err(micros(wait));
        }
        self.known.learn(
            now,
            conversation,
            micros(conversation_next),
            micros(channel_next),
        );
        match status {
            0 => Ok(()),
            // 2, 3: a limit refuses; never answer a refusal with no wait (the caller would spin).
            _ => Err(micros(wait).max(Duration::from_micros(1))),
        }
    }

    /// A check Redis did not answer: the local share decides, and it is counted.
    fn fallback(&self, conversation: &str) -> Result<(), Duration> {
        self.fallbacks.inc();
        self.share.try_acquire(conversation)
    }

    /// Stores the pause in Redis (extending, never shortening, one already there).
    pub(crate) async fn pause(&self, after: Duration) {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return;
        }
        let mut call = PAUSE.prepare_invoke();
        call.key(&self.keys.pause).arg(ms);
        // Not stored when Redis does not answer: the pause then stays with this instance.
        let _: Option<i64> = self.link.run(&call).await;
    }

    pub(crate) fn forget_idle(&self) {
        self.known.forget_past();
        self.share.forget_idle();
    }
}

/// Waits that earlier answers announced: the channel's, and each conversation's.
#[derive(Default)]
struct Known {
    channel: Mutex<Option<Instant>>,
    conversations: Mutex<Conversations>,
}

/// The conversations' waits, pruned by the pruner and whenever the map doubles.
#[derive(Default)]
struct Conversations {
    waits: HashMap<String, Instant>,
    prune_at: usize,
}

impl Conversations {
    fn forget_past(&mut self, now: Instant) {
        self.waits.retain(|_, until| *until > now);
        self.waits.shrink_to_fit();
        self.prune_at = (self.waits.len() * 2).max(4096);
    }
}

impl Known {
    /// How long `conversation` must still wait, if an earlier answer said so.
    fn wait(&self, conversation: &str) -> Option<Duration> {
        let now = Instant::now();
        let left = |until: Instant| until.checked_duration_since(now).filter(|d| !d.is_zero());
        let channel = (*lock(&self.channel)).and_then(left);
        let conversation = lock(&self.conversations)
            .waits
            .get(conversation)
            .copied()
            .and_then(left);
        channel.max(conversation)
    }

    /// Remembers what an answer at `now` said about the next sends.
    fn learn(
        &self,
        now: Instant,
        conversation: &str,
        conversation_next: Duration,
        channel_next: Duration,
    ) {
        if !channel_next.is_zero() {
            let until = now + channel_next;
            let mut c = lock(&self.channel);
            if c.is_none_or(|old| old < until) {
                *c = Some(until);
            }
        }
        let mut c = lock(&self.conversations);
        if conversation_next.is_zero() {
            c.waits.remove(conversation);
        } else {
            c.waits
                .insert(conversation.to_owned(), now + conversation_next);
            if c.waits.len() > c.prune_at {
                c.forget_past(now);
            }
        }
    }

    fn forget_past(&self) {
        lock(&self.conversations).forget_past(Instant::now());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
