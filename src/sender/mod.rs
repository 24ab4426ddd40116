//! The sender sends one claimed outbox row (the claim loop, [`claim_loop`](crate::claim_loop),
//! runs up to `engine.senders` at once and renews their leases): it waits for the rate
//! limiters (briefly; a longer wait releases the row until it may go), records the attempt,
//! sends through the adapter and records the outcome. Retries use exponential backoff with jitter and honour
//! `retry_after` (a 429 with a `Retry-After` uses up no attempt); permanent failures are
//! dead-lettered with the error.
//!
//! A send that may have reached the provider (the process died after it began, it failed
//! `Ambiguous`, or it failed after some of its parts) is *settled* before anything is sent
//! again ([`settle`]): keyed proofs that webhooks brought first, then the adapter's
//! `reconcile`, then the channel's [`DeliveryPolicy`] (see [`crate::docs`] and
//! [`DeliveryPolicy`] for the table).
//!
//! Before anything else, the send is checked against the channel's policy (messaging windows,
//! opt-outs: [`policy`]); a refused send is dead-lettered at once, with no request made.
//!
//! Every way of giving up goes through one function, `dead`: once the store has committed the
//! dead letter, it tells the plugins ([`Plugin::on_dead_letter`](crate::plugin::Plugin::on_dead_letter)
//! with a [`FailedSend`]), at most once (see [`crate::plugin`]).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard_core::{Capabilities, Error, ErrorKind, Retry, SendReceipt};
use tracing::Instrument;

use crate::backoff;
use crate::claim_loop::Slot;
use crate::config::{DeliveryPolicy, UncertainSends};
use crate::engine::{ChannelEntry, Engine};
use crate::outbox::release;
use crate::plugin::FailedSend;
use crate::redact::redacted;
use crate::store::{OutboxChange, OutboxItem, StoreExt, conversation_key};

pub(crate) mod ops;
mod policy;
mod settle;

use settle::{settle, settle_later};

/// Why the sender gives up on a row: what its dead letter records and what the plugins'
/// dead-letter hook is told ([`FailedSend`]).
pub(crate) struct GiveUp {
    kind: ErrorKind,
    error: String,
    reason: String,
    provider_code: Option<String>,
    before_request: bool,
    maybe_delivered: bool,
}

impl GiveUp {
    /// For the adapter's (or the policy check's) error.
    fn error(e: &Error) -> Self {
        GiveUp {
            kind: e.kind(),
            error: e.to_string(),
            reason: e.message().to_owned(),
            provider_code: e.provider_code().map(str::to_owned),
            before_request: false,
            maybe_delivered: false,
        }
    }

    /// For the engine's own reason.
    fn engine(kind: ErrorKind, why: impl Into<String>) -> Self {
        let why = why.into();
        GiveUp {
            kind,
            error: why.clone(),
            reason: why,
            provider_code: None,
            before_request: false,
            maybe_delivered: false,
        }
    }

    /// The send may have reached the provider (settling gave up on it): `Timeout`, since the
    /// engine never learned the outcome.
    fn unsettled(why: impl Into<String>) -> Self {
        GiveUp::engine(ErrorKind::Timeout, why).maybe_delivered()
    }

    /// With the engine's note on why it stops, after the error: `{error} ({note})`.
    fn note(mut self, note: &str) -> Self {
        self.error = format!("{} ({note})", self.error);
        self
    }

    fn before_request(mut self) -> Self {
        self.before_request = true;
        self
    }

    fn maybe_delivered(mut self) -> Self {
        self.maybe_delivered = true;
        self
    }
}

/// Dead-letters the row; once that is committed, tells the plugins
/// ([`on_dead_letter`](crate::plugin::Plugin::on_dead_letter), at most once: see
/// [`crate::plugin`]).
async fn dead(engine: &Arc<Engine>, item: &OutboxItem, why: GiveUp) {
    tracing::error!(error = %why.error, "giving up on the message");
    match engine
        .store
        .dead_letter_outbox(item.lease, &why.error)
        .await
    {
        Ok(true) => {
            engine.metrics.dead_lettered("outbound");
            let mut failed = FailedSend::new(
                item.key.clone(),
                item.to.clone(),
                item.message.clone(),
                &Error::new(why.kind, why.reason),
            );
            failed.attempts = item.attempts;
            failed.error = why.error;
            failed.provider_code = why.provider_code;
            failed.before_request = why.before_request;
            failed.maybe_delivered = why.maybe_delivered;
            crate::plugin::on_dead_letter(engine, &failed).await;
        }
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "dead-lettering failed"),
    }
}

/// The retry delay after this claim, never sooner than `retry_after`.
fn delay(engine: &Engine, item: &OutboxItem, retry_after: Option<Duration>) -> Duration {
    let cfg = &engine.config.engine;
    backoff::delay_after(
        item.attempts,
        cfg.backoff_base,
        cfg.backoff_max,
        retry_after,
    )
}

/// What the sender does after settling an uncertain row.
enum Next {
    /// Send (again).
    Send,
    /// Nothing more this claim: the row was marked sent, dead-lettered or rescheduled.
    Done,
}

/// What one send attempt came to.
enum Attempt {
    /// The adapter answered.
    Sent(switchboard_core::Result<SendReceipt>, Duration),
    /// The attempt could not be recorded, so nothing was sent.
    NotStarted,
    /// The rate limiters (or the provider's pause) ask for a wait longer than
    /// [`HOLD_FOR_LIMITS`]: nothing was sent, the row is to be released until then.
    Deferred(Duration),
}

/// Sends one claimed row to its end (sent, released, settled or dead-lettered).
pub(crate) async fn send_item(engine: Arc<Engine>, item: OutboxItem, mut slot: Slot) {
    let span = tracing::info_span!(
        "send",
        channel = %item.to.channel,
        conversation = %redacted(item.to.conversation.as_str()),
        key = %item.key,
        attempt = item.attempts,
    );
    async {
        let channel = item.to.channel.as_str();
        let Some(entry) = engine.channels.get(channel) else {
            let why = GiveUp::engine(ErrorKind::NotFound, format!("no channel named '{channel}'"));
            dead(&engine, &item, why.before_request()).await;
            return;
        };
        let caps = entry.adapter.capabilities_for(&item.to.conversation);
        // Edits and deletes are made again rather than settled (see `ops`).
        if item.uncertain && ops::of(&item).is_none() {
            match settle(&engine, entry, &item, &caps).await {
                Next::Done => return,
                Next::Send if item.attempts > engine.config.engine.send_attempts => {
                    let why = GiveUp::unsettled(
                        "no send attempts left to send the message again (the provider may not have it)",
                    );
                    dead(&engine, &item, why).await;
                    return;
                }
                Next::Send => {}
            }
        }
        send(&engine, entry, &item, &caps, &mut slot).await;
    }
    .instrument(span)
    .await;
    // Its first claim is over, whatever came of it: out of the backlog (`crate::backlog`).
    engine.backlog.claimed(&item.key);
}

/// The longest a sender waits for the rate limiters while holding its slot. A longer wait (a
/// provider's `Retry-After` pause, a channel-wide limit with a queue of conversations behind
/// it) releases the row to the time it may go instead, so one slow channel cannot hold every
/// sender slot while other channels wait.
const HOLD_FOR_LIMITS: Duration = Duration::from_millis(100);

/// Releases the row until `after` from now without counting the claim as a send attempt (see
/// [`OutboxChange::Defer`]); the sender wakes then.
async fn defer(engine: &Engine, item: &OutboxItem, why: &str, after: Duration) {
    tracing::debug!(%why, ?after, "send deferred");
    let at = SystemTime::now() + after;
    let change = OutboxChange::Defer {
        at,
        why: why.to_owned(),
    };
    match release(engine, item.lease, at, change).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!("lease lost before deferring"),
        Err(e) => tracing::error!(error = %e, "deferring the send failed"),
    }
}

async fn send(
    engine: &Arc<Engine>,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
    slot: &mut Slot,
) {
    let channel = item.to.channel.as_str();
    // Before the rate limiters and any request: a send the channel's policy forbids (a closed
    // window, an opted-out recipient) is given up now (see `policy`).
    match policy::check(engine, entry, item, SystemTime::now()).await {
        policy::Verdict::Allowed => {}
        policy::Verdict::Refused(e) => {
            engine.metrics.policy_refused(channel, e.kind());
            dead(engine, item, GiveUp::error(&e).before_request()).await;
            return;
        }
        policy::Verdict::Unknown(e) => {
            let delay = delay(engine, item, None);
            tracing::warn!(error = %e, ?delay, "policy facts unavailable; not sending yet");
            defer(engine, item, &format!("policy check: {e}"), delay).await;
            return;
        }
    }
    // The claim loop renews the lease while this waits (briefly) for the rate limiters and
    // while it sends, so the row is never claimed twice.
    let attempt = async {
        let conversation = conversation_key(&item.to);
        loop {
            match entry.limits.try_acquire(&conversation).await {
                Ok(()) => break,
                Err(wait) if wait <= HOLD_FOR_LIMITS => tokio::time::sleep(wait).await,
                Err(wait) => return Attempt::Deferred(wait),
            }
        }
        // Durable before the request goes out: a crash from here on leaves the row uncertain.
        match engine
            .store
            .outbox_attempt(item.lease, SystemTime::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("lease lost before sending");
                return Attempt::NotStarted;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording the attempt failed; not sending");
                return Attempt::NotStarted;
            }
        }
        let start = Instant::now();
        let result = ops::perform(engine, entry, item).await;
        Attempt::Sent(result, start.elapsed())
    }
    .await;
    let (result, took) = match attempt {
        Attempt::Sent(result, took) => (result, took),
        Attempt::NotStarted => return,
        Attempt::Deferred(wait) => {
            let why = format!("waiting {wait:?} for the channel's rate limit or pause");
            defer(engine, item, &why, wait).await;
            return;
        }
    };
    match result {
        Ok(receipt) => {
            engine.metrics.sent(channel, took);
            for d in &receipt.degradations {
                tracing::debug!(degradation = %d, "rendered with degradation");
            }
            let expire = SystemTime::now() + engine.config.engine.options_ttl;
            // Only the outcome is left: the next claim may share its commit.
            slot.free();
            match engine
                .store
                .outbox_sent(item.lease, &receipt.messages, &receipt.options, expire)
                .await
            {
                Ok(true) => tracing::debug!(parts = receipt.messages.len(), "sent"),
                Ok(false) => tracing::warn!("lease lost after sending"),
                Err(e) => tracing::error!(error = %e, "recording the send failed"),
            }
        }
        Err(e) => failed(engine, entry, item, caps, &e, took).await,
    }
}

/// Whether a send that may have reached the provider is settled later (keyed proofs, the
/// adapter's `reconcile`, an explicit `at_least_once`) rather than given up at once.
fn settles_uncertain(caps: &Capabilities, delivery: Option<DeliveryPolicy>) -> bool {
    UncertainSends::of(caps, delivery).settles_later()
}

async fn failed(
    engine: &Arc<Engine>,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
    e: &Error,
    took: Duration,
) {
    let channel = item.to.channel.as_str();
    engine.metrics.send_failed(channel, took);
    if let Some(after) = e.retry_after() {
        entry.limits.pause(after).await;
    }
    let cfg = &engine.config.engine;
    let partial = e.partial();
    if !partial.is_empty()
        && let Err(err) = engine.store.outbox_partial(item.lease, partial).await
    {
        tracing::warn!(error = %err, "recording the parts sent failed");
    }
    if let Some(after) = e.retry_after()
        && e.kind() == ErrorKind::RateLimited
        && e.retry() == Retry::Safe
        && partial.is_empty()
    {
        // Not a failure of the message: the provider said when to come back (and the channel
        // is paused until then). Not counted against `send_attempts`, so a 429 storm of any
        // length ends with everything sent. A `RateLimited` answer without a `Retry-After`
        // gives no such schedule and counts like any safe failure, so a provider that keeps
        // refusing without one ends in a dead letter.
        let delay = delay(engine, item, Some(after));
        tracing::warn!(error = %e, ?delay, "rate limited by the provider; will send again");
        engine.metrics.retried(channel);
        defer(engine, item, &e.to_string(), delay).await;
        return;
    }
    // An edit or delete is idempotent: made again after any failure that may pass (`ops`).
    let op = ops::of(item).is_some();
    let maybe_delivered = !op && (e.retry() == Retry::Ambiguous || !partial.is_empty());
    let retryable = match e.retry() {
        Retry::Safe => true,
        Retry::Ambiguous => op || caps.idempotent_sends,
        Retry::Never => false,
    };
    if maybe_delivered && !caps.idempotent_sends {
        if settles_uncertain(caps, entry.delivery) {
            // Settled (proofs, reconcile, policy) at the next claim, after the backoff: a
            // create still in flight at the provider, or a late proof, has time to land. One
            // settling claim is allowed even when the send attempts are used up, so a message
            // that did arrive is recorded as sent rather than dead.
            engine.metrics.retried(channel);
            settle_later(
                engine,
                item,
                &e.to_string(),
                delay(engine, item, e.retry_after()),
            )
            .await;
        } else if partial.is_empty() {
            let why = GiveUp::error(e)
                .note("may have been delivered; not resent to avoid a duplicate")
                .maybe_delivered();
            dead(engine, item, why).await;
        } else {
            let note = format!(
                "after {} of the message's parts were sent; not resent",
                partial.len()
            );
            dead(engine, item, GiveUp::error(e).note(&note).maybe_delivered()).await;
        }
    } else if retryable && item.attempts < cfg.send_attempts {
        let delay = delay(engine, item, e.retry_after());
        tracing::warn!(error = %e, ?delay, "send failed; will retry");
        engine.metrics.retried(channel);
        let at = SystemTime::now() + delay;
        let error = e.to_string();
        if let Err(err) = release(engine, item.lease, at, OutboxChange::Retry { at, error }).await {
            tracing::error!(error = %err, "scheduling the retry failed");
        }
    } else {
        dead(engine, item, GiveUp::error(e)).await;
    }
}
