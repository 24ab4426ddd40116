//! The outbox sender: claims the head message of each conversation, waits for the rate
//! limiters, sends through the adapter and records the outcome. Retries use exponential
//! backoff with jitter and honour `retry_after`; an `Ambiguous` failure (or a send interrupted by
//! a crash) is never resent unless the adapter declares `idempotent_sends`; permanent failures
//! are dead-lettered with the error.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use switchboard_core::Retry;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::backoff;
use crate::store::{OutboxItem, conversation_key};
use crate::switchboard::Inner;
use crate::worker::{Table, with_renewal};

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

async fn process(inner: Arc<Inner>, item: OutboxItem) {
    let span = tracing::info_span!(
        "send",
        channel = %item.to.channel,
        conversation = %item.to.conversation,
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
        if item.interrupted && !caps.idempotent_sends {
            dead(
                &inner,
                &item,
                "a previous send was interrupted and may have been delivered; not resent (the adapter's sends are not idempotent)",
            )
            .await;
            return;
        }
        // The lease is renewed while waiting for the rate limiters (a provider pause can be
        // longer than the lease) and while sending, so the row is never claimed twice.
        let (result, took) = with_renewal(&inner, Table::Outbox, item.lease, async {
            entry.limits.acquire(&conversation_key(&item.to)).await;
            let start = Instant::now();
            let result = entry.adapter.send(&item.to, &item.message).await;
            (result, start.elapsed())
        })
        .await;
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
            Err(e) => {
                inner.metrics.send_failed(channel, took);
                if let Some(after) = e.retry_after() {
                    entry.limits.pause(after);
                }
                let cfg = &inner.config.engine;
                let retryable = match e.retry() {
                    Retry::Safe => true,
                    Retry::Ambiguous => caps.idempotent_sends,
                    Retry::Never => false,
                };
                if !e.partial().is_empty() && !caps.idempotent_sends {
                    let msg = format!(
                        "{e} (after {} of the message's parts were sent; not resent)",
                        e.partial().len()
                    );
                    dead(&inner, &item, &msg).await;
                } else if retryable && item.attempts < cfg.send_attempts {
                    let delay = backoff::delay_after(
                        item.attempts,
                        cfg.backoff_base,
                        cfg.backoff_max,
                        e.retry_after(),
                    );
                    tracing::warn!(error = %e, ?delay, "send failed; will retry");
                    inner.metrics.retried(channel);
                    if let Err(err) = inner
                        .store
                        .retry_outbox(item.lease, &e.to_string(), SystemTime::now() + delay)
                        .await
                    {
                        tracing::error!(error = %err, "scheduling the retry failed");
                    }
                } else if e.retry() == Retry::Ambiguous && !caps.idempotent_sends {
                    dead(
                        &inner,
                        &item,
                        &format!("{e} (may have been delivered; not resent to avoid a duplicate)"),
                    )
                    .await;
                } else {
                    dead(&inner, &item, &e.to_string()).await;
                }
            }
        }
    }
    .instrument(span)
    .await;
}
