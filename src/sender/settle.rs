//! Settling a send that may have reached the provider, before anything is sent again: keyed
//! proofs, then `idempotent_sends`, the adapter's `reconcile`, then the channel's policy
//! ([`UncertainSends`]).

use std::time::{Duration, SystemTime};

use switchboard_core::model::OutboxKey;
use switchboard_core::reconcile::{PendingSend, Reconciled};
use switchboard_core::render::{self, RenderPolicy};
use switchboard_core::{Capabilities, Retry, SentMessage};

use crate::config::{DeliveryPolicy, UncertainSends};
use crate::store::{OutboxItem, proven_ids};
use crate::switchboard::{ChannelEntry, Inner};
use crate::worker::{Table, with_renewal};

use super::{Next, dead, delay};

/// Releases the row to be settled again later (it stays uncertain).
pub(super) async fn settle_later(inner: &Inner, item: &OutboxItem, why: &str, after: Duration) {
    tracing::info!(%why, ?after, "send outcome still unknown; will ask again");
    if let Err(e) = inner
        .store
        .retry_outbox_uncertain(item.lease, why, SystemTime::now() + after)
        .await
    {
        tracing::error!(error = %e, "scheduling the reconciliation failed");
    }
}

/// The numbered options `message` renders to in this conversation (what a send would have
/// reported), for a row found delivered without a receipt of our own.
fn options_of(item: &OutboxItem, caps: &Capabilities) -> Vec<render::TextOption> {
    render::render(&item.message, caps, RenderPolicy::Fallback)
        .map(|plan| plan.options)
        .unwrap_or_default()
}

/// Marks the row sent with `messages` (found at the provider, or proven by webhooks).
async fn mark_found(
    inner: &Inner,
    item: &OutboxItem,
    caps: &Capabilities,
    messages: &[SentMessage],
) {
    let expire = SystemTime::now() + inner.config.engine.options_ttl;
    match inner
        .store
        .outbox_sent(item.lease, messages, &options_of(item, caps), expire)
        .await
    {
        Ok(true) => tracing::info!(
            parts = messages.len(),
            "the provider already had the message; marked sent without sending"
        ),
        Ok(false) => tracing::warn!("lease lost while settling"),
        Err(e) => tracing::error!(error = %e, "recording the settled send failed"),
    }
}

/// Settles a row whose last attempt may have reached the provider: keyed proofs, then the
/// adapter's `reconcile`, then the channel's delivery policy.
pub(super) async fn settle(
    inner: &Inner,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
) -> Next {
    let channel = item.to.channel.as_str();
    match inner.store.proofs(&item.key).await {
        Ok(proofs) => {
            if let Some(ids) = proven_ids(&proofs) {
                inner.metrics.reconciled(channel, "proven");
                let messages: Vec<SentMessage> = ids
                    .into_iter()
                    .map(|id| SentMessage::new(id, item.to.clone()))
                    .collect();
                mark_found(inner, item, caps, &messages).await;
                return Next::Done;
            }
        }
        Err(e) => {
            settle_later(
                inner,
                item,
                &format!("reading send proofs: {e}"),
                delay(inner, item, None),
            )
            .await;
            return Next::Done;
        }
    }
    match UncertainSends::of(caps, entry.delivery) {
        // The provider drops a repeat of the key: resending is the cheapest way to know.
        UncertainSends::Deduplicated => Next::Send,
        UncertainSends::Reconciled(_) => reconcile(inner, entry, item, caps).await,
        UncertainSends::Policy(DeliveryPolicy::AtLeastOnce) => {
            tracing::info!(
                "a previous attempt may have been delivered; resending (at_least_once; the adapter cannot reconcile)"
            );
            Next::Send
        }
        UncertainSends::Policy(DeliveryPolicy::AtMostOnce) => {
            dead(
                inner,
                item,
                "a previous attempt may have been delivered; not resent (at_most_once; the adapter cannot reconcile)",
            )
            .await;
            Next::Done
        }
        UncertainSends::DeadLettered => {
            dead(
                inner,
                item,
                "a previous attempt may have been delivered; not resent (the adapter can neither reconcile nor deduplicate sends; set the channel's delivery = \"at_least_once\" to resend)",
            )
            .await;
            Next::Done
        }
    }
}

/// Asks the adapter whether the provider has the row's message.
async fn reconcile(
    inner: &Inner,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
) -> Next {
    let channel = item.to.channel.as_str();
    let cfg = &inner.config.engine;
    let policy = entry.delivery.unwrap_or_default();
    let now = SystemTime::now();
    let first = item.first_attempt_at.unwrap_or(now);
    let last = item.last_attempt_at.unwrap_or(first);
    let can_ask_again = item.attempts < cfg.send_attempts;
    let young = now < last + cfg.reconcile_window;
    let answer = match OutboxKey::new(item.key.clone()) {
        Ok(key) => {
            let pending = PendingSend::new(item.to.clone(), item.message.clone(), first)
                .with_last_attempt_at(last);
            with_renewal(
                inner,
                Table::Outbox,
                item.lease,
                entry.adapter.reconcile(&key, &pending),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let unknown = match answer {
        Ok(Reconciled::Delivered(messages)) => {
            inner.metrics.reconciled(channel, "delivered");
            mark_found(inner, item, caps, &messages).await;
            return Next::Done;
        }
        Ok(Reconciled::NotDelivered) => {
            inner.metrics.reconciled(channel, "not_delivered");
            tracing::info!("the provider does not have the message; sending it again");
            return Next::Send;
        }
        Ok(Reconciled::Partial(messages)) => {
            inner.metrics.reconciled(channel, "partial");
            if let Err(e) = inner.store.outbox_partial(item.lease, &messages).await {
                tracing::warn!(error = %e, "recording the parts found failed");
            }
            return match policy {
                DeliveryPolicy::AtLeastOnce => {
                    tracing::warn!(
                        found = messages.len(),
                        "the provider has only the first parts; resending the whole message (at_least_once: they will appear twice)"
                    );
                    Next::Send
                }
                DeliveryPolicy::AtMostOnce => {
                    let error = format!(
                        "only {} part(s) of the message reached the provider; the rest not resent (at_most_once)",
                        messages.len()
                    );
                    dead(inner, item, &error).await;
                    Next::Done
                }
            };
        }
        Ok(Reconciled::Unknown(reason)) => {
            inner.metrics.reconciled(channel, "unknown");
            if young {
                // Asked again (without using up send attempts) until the window is over: a
                // few times across it, never sooner than the retry backoff.
                let after = delay(inner, item, None)
                    .max(cfg.reconcile_window / 8)
                    .min(cfg.backoff_max.max(cfg.reconcile_window / 8));
                let why = format!("reconcile: unknown: {reason}");
                tracing::info!(%why, ?after, "send outcome still unknown; will ask again");
                if let Err(e) = inner
                    .store
                    .reconcile_outbox_later(item.lease, &why, SystemTime::now() + after)
                    .await
                {
                    tracing::error!(error = %e, "scheduling the reconciliation failed");
                }
                return Next::Done;
            }
            reason
        }
        Ok(other) => {
            inner.metrics.reconciled(channel, "unknown");
            format!("an answer this engine does not know: {other:?}")
        }
        Err(e) => {
            inner.metrics.reconciled(channel, "error");
            if e.retry() != Retry::Never && can_ask_again {
                settle_later(
                    inner,
                    item,
                    &format!("reconcile failed: {e}"),
                    delay(inner, item, e.retry_after()),
                )
                .await;
                return Next::Done;
            }
            format!("reconcile failed: {e}")
        }
    };
    match policy {
        DeliveryPolicy::AtLeastOnce => {
            tracing::warn!(%unknown, "the provider cannot tell whether it has the message; resending (at_least_once)");
            Next::Send
        }
        DeliveryPolicy::AtMostOnce => {
            let error = format!(
                "may have been delivered and the provider cannot tell ({unknown}); not resent (at_most_once)"
            );
            dead(inner, item, &error).await;
            Next::Done
        }
    }
}
