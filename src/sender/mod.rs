//! The outbox sender: claims the head message of each conversation, waits for the rate
//! limiters (briefly; a longer wait releases the row until it may go), sends through the
//! adapter and records the outcome. Retries use exponential backoff with jitter and honour
//! `retry_after` (a 429 with a `Retry-After` uses up no attempt); permanent failures are
//! dead-lettered with the error.
//!
//! A send that may have reached the provider (the process died after it began, it failed
//! `Ambiguous`, or it failed after some of its parts) is *settled* before anything is sent
//! again ([`settle`]): keyed proofs that webhooks brought first, then the adapter's
//! `reconcile`, then the channel's [`DeliveryPolicy`] (see [`crate::docs`] and
//! [`DeliveryPolicy`] for the table).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard_core::{Capabilities, Error, ErrorKind, Retry, SendReceipt};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::backoff;
use crate::config::{DeliveryPolicy, UncertainSends};
use crate::store::{OutboxItem, conversation_key};
use crate::switchboard::{ChannelEntry, Inner};
use crate::worker::{Table, with_renewal};

mod settle;

use settle::{settle, settle_later};

pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let capacity = inner.config.engine.senders.max(1);
    let mut running = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let free = capacity - running.len();
        let mut claimed = 0;
        if free > 0 {
            match inner
                .store
                .claim_outbox(SystemTime::now(), inner.config.engine.lease, free)
                .await
            {
                Ok(items) => {
                    claimed = items.len();
                    for item in items {
                        running.spawn(process(inner.clone(), item));
                    }
                }
                Err(e) => tracing::error!(error = %e, "claiming outbox rows failed"),
            }
        }
        if claimed > 0 && claimed == free {
            tokio::select! {
                _ = running.join_next() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        if claimed > 0 {
            continue;
        }
        tokio::select! {
            () = inner.outbox_ready.notified() => {}
            () = tokio::time::sleep(inner.config.engine.poll_interval) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = stop.changed() => {}
        }
    }
    crate::worker::drain(running, inner.config.server.shutdown_grace).await;
}

async fn dead(inner: &Inner, item: &OutboxItem, error: &str) {
    tracing::error!(%error, "giving up on the message");
    match inner.store.dead_letter_outbox(item.lease, error).await {
        Ok(true) => inner.metrics.dead_lettered("outbound"),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "dead-lettering failed"),
    }
}

/// The retry delay after this claim, never sooner than `retry_after`.
fn delay(inner: &Inner, item: &OutboxItem, retry_after: Option<Duration>) -> Duration {
    let cfg = &inner.config.engine;
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

async fn process(inner: Arc<Inner>, item: OutboxItem) {
    let span = tracing::info_span!(
        "send",
        channel = %item.to.channel,
        conversation = %crate::worker::redacted(item.to.conversation.as_str()),
        key = %item.key,
        attempt = item.attempts,
    );
    async move {
        let channel = item.to.channel.as_str();
        let Some(entry) = inner.channels.get(channel) else {
            dead(&inner, &item, &format!("no channel named '{channel}'")).await;
            return;
        };
        let caps = entry.adapter.capabilities_for(&item.to.conversation);
        if item.uncertain {
            match settle(&inner, entry, &item, &caps).await {
                Next::Done => return,
                Next::Send if item.attempts > inner.config.engine.send_attempts => {
                    dead(
                        &inner,
                        &item,
                        "no send attempts left to send the message again (the provider may not have it)",
                    )
                    .await;
                    return;
                }
                Next::Send => {}
            }
        }
        send(&inner, entry, &item, &caps).await;
    }
    .instrument(span)
    .await;
}

/// The longest a sender waits for the rate limiters while holding its slot. A longer wait (a
/// provider's `Retry-After` pause, a channel-wide limit with a queue of conversations behind
/// it) releases the row to the time it may go instead, so one slow channel cannot hold every
/// sender slot while other channels wait.
const HOLD_FOR_LIMITS: Duration = Duration::from_millis(100);

/// Releases the row until `after` from now without counting the claim as a send attempt (see
/// [`Store::defer_outbox`](crate::store::Store::defer_outbox)), and wakes the sender then.
async fn defer(inner: &Arc<Inner>, item: &OutboxItem, why: &str, after: Duration) {
    tracing::debug!(%why, ?after, "send deferred");
    match inner
        .store
        .defer_outbox(item.lease, why, SystemTime::now() + after)
        .await
    {
        Ok(true) => {
            let inner = inner.clone();
            tokio::spawn(async move {
                // A little after the row is due, so the claim finds it available.
                tokio::time::sleep(after + Duration::from_millis(5)).await;
                inner.outbox_ready.notify_one();
            });
        }
        Ok(false) => tracing::warn!("lease lost before deferring"),
        Err(e) => tracing::error!(error = %e, "deferring the send failed"),
    }
}

async fn send(inner: &Arc<Inner>, entry: &ChannelEntry, item: &OutboxItem, caps: &Capabilities) {
    let channel = item.to.channel.as_str();
    // The lease is renewed while waiting (briefly) for the rate limiters and while sending, so
    // the row is never claimed twice.
    let attempt = with_renewal(inner, Table::Outbox, item.lease, async {
        let conversation = conversation_key(&item.to);
        loop {
            match entry.limits.try_acquire(&conversation).await {
                Ok(()) => break,
                Err(wait) if wait <= HOLD_FOR_LIMITS => tokio::time::sleep(wait).await,
                Err(wait) => return Attempt::Deferred(wait),
            }
        }
        // Durable before the request goes out: a crash from here on leaves the row uncertain.
        match inner
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
        let result = entry.adapter.send(&item.to, &item.message).await;
        Attempt::Sent(result, start.elapsed())
    })
    .await;
    let (result, took) = match attempt {
        Attempt::Sent(result, took) => (result, took),
        Attempt::NotStarted => return,
        Attempt::Deferred(wait) => {
            let why = format!("waiting {wait:?} for the channel's rate limit or pause");
            defer(inner, item, &why, wait).await;
            return;
        }
    };
    match result {
        Ok(receipt) => {
            inner.metrics.sent(channel, took);
            for d in &receipt.degradations {
                tracing::debug!(degradation = %d, "rendered with degradation");
            }
            let expire = SystemTime::now() + inner.config.engine.options_ttl;
            match inner
                .store
                .outbox_sent(item.lease, &receipt.messages, &receipt.options, expire)
                .await
            {
                Ok(true) => tracing::debug!(parts = receipt.messages.len(), "sent"),
                Ok(false) => tracing::warn!("lease lost after sending"),
                Err(e) => tracing::error!(error = %e, "recording the send failed"),
            }
        }
        Err(e) => failed(inner, entry, item, caps, &e, took).await,
    }
}

/// Whether a send that may have reached the provider is settled later (keyed proofs, the
/// adapter's `reconcile`, an explicit `at_least_once`) rather than given up at once. The bridge
/// reads the same rule to know when a failure is final.
pub(crate) fn settles_uncertain(caps: &Capabilities, delivery: Option<DeliveryPolicy>) -> bool {
    UncertainSends::of(caps, delivery).settles_later()
}

async fn failed(
    inner: &Arc<Inner>,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
    e: &Error,
    took: Duration,
) {
    let channel = item.to.channel.as_str();
    inner.metrics.send_failed(channel, took);
    if let Some(after) = e.retry_after() {
        entry.limits.pause(after).await;
    }
    let cfg = &inner.config.engine;
    let partial = e.partial();
    if !partial.is_empty()
        && let Err(err) = inner.store.outbox_partial(item.lease, partial).await
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
        let delay = delay(inner, item, Some(after));
        tracing::warn!(error = %e, ?delay, "rate limited by the provider; will send again");
        inner.metrics.retried(channel);
        defer(inner, item, &e.to_string(), delay).await;
        return;
    }
    let maybe_delivered = e.retry() == Retry::Ambiguous || !partial.is_empty();
    let retryable = match e.retry() {
        Retry::Safe => true,
        Retry::Ambiguous => caps.idempotent_sends,
        Retry::Never => false,
    };
    if maybe_delivered && !caps.idempotent_sends {
        if settles_uncertain(caps, entry.delivery) {
            // Settled (proofs, reconcile, policy) at the next claim, after the backoff: a
            // create still in flight at the provider, or a late proof, has time to land. One
            // settling claim is allowed even when the send attempts are used up, so a message
            // that did arrive is recorded as sent rather than dead.
            inner.metrics.retried(channel);
            settle_later(
                inner,
                item,
                &e.to_string(),
                delay(inner, item, e.retry_after()),
            )
            .await;
        } else if partial.is_empty() {
            dead(
                inner,
                item,
                &format!("{e} (may have been delivered; not resent to avoid a duplicate)"),
            )
            .await;
        } else {
            let msg = format!(
                "{e} (after {} of the message's parts were sent; not resent)",
                partial.len()
            );
            dead(inner, item, &msg).await;
        }
    } else if retryable && item.attempts < cfg.send_attempts {
        let delay = delay(inner, item, e.retry_after());
        tracing::warn!(error = %e, ?delay, "send failed; will retry");
        inner.metrics.retried(channel);
        if let Err(err) = inner
            .store
            .retry_outbox(item.lease, &e.to_string(), SystemTime::now() + delay)
            .await
        {
            tracing::error!(error = %err, "scheduling the retry failed");
        }
    } else {
        dead(inner, item, &e.to_string()).await;
    }
}
