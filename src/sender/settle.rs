//! Settling a send that may have reached the provider, before anything is sent again: keyed
//! proofs, then `idempotent_sends`, the adapter's `reconcile`, then the channel's policy
//! ([`UncertainSends`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchboard_core::model::OutboxKey;
use switchboard_core::reconcile::{PendingSend, Reconciled};
use switchboard_core::render::{self, RenderPolicy};
use switchboard_core::{Capabilities, Retry, SentMessage};

use crate::config::{DeliveryPolicy, UncertainSends};
use crate::engine::{ChannelEntry, Engine};
use crate::outbox::release;
use crate::store::{OutboxChange, OutboxItem, StoreExt, proven_ids};

use super::{GiveUp, Next, dead, delay};

/// Asked again this long after the send timeout has passed, so the provider has surely
/// listed a send that finished just in time.
const IN_FLIGHT_MARGIN: Duration = Duration::from_millis(100);

/// Releases the row to be settled again later (it stays uncertain).
pub(super) async fn settle_later(engine: &Engine, item: &OutboxItem, why: &str, after: Duration) {
    tracing::info!(%why, ?after, "send outcome still unknown; will ask again");
    let at = SystemTime::now() + after;
    let error = why.to_owned();
    if let Err(e) = release(
        engine,
        item.lease,
        at,
        OutboxChange::RetryUncertain { at, error },
    )
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
    engine: &Engine,
    item: &OutboxItem,
    caps: &Capabilities,
    messages: &[SentMessage],
) {
    let expire = SystemTime::now() + engine.config.engine.options_ttl;
    match engine
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
    engine: &Arc<Engine>,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
) -> Next {
    let channel = item.to.channel.as_str();
    match engine.store.proofs(&item.key).await {
        Ok(proofs) => {
            if let Some(ids) = proven_ids(&proofs) {
                engine.metrics.reconciled(channel, "proven");
                let messages: Vec<SentMessage> = ids
                    .into_iter()
                    .map(|id| SentMessage::new(id, item.to.clone()))
                    .collect();
                mark_found(engine, item, caps, &messages).await;
                return Next::Done;
            }
        }
        Err(e) => {
            settle_later(
                engine,
                item,
                &format!("reading send proofs: {e}"),
                delay(engine, item, None),
            )
            .await;
            return Next::Done;
        }
    }
    match UncertainSends::of(caps, entry.delivery) {
        // The provider drops a repeat of the key: resending is the cheapest way to know.
        UncertainSends::Deduplicated => Next::Send,
        UncertainSends::Reconciled(_) => reconcile(engine, entry, item, caps).await,
        UncertainSends::Policy(DeliveryPolicy::AtLeastOnce) => {
            tracing::info!(
                "a previous attempt may have been delivered; resending (at_least_once; the adapter cannot reconcile)"
            );
            Next::Send
        }
        UncertainSends::Policy(DeliveryPolicy::AtMostOnce) => {
            dead(
                engine,
                item,
                GiveUp::unsettled(
                    "a previous attempt may have been delivered; not resent (at_most_once; the adapter cannot reconcile)",
                ),
            )
            .await;
            Next::Done
        }
        UncertainSends::DeadLettered => {
            dead(
                engine,
                item,
                GiveUp::unsettled(
                    "a previous attempt may have been delivered; not resent (the adapter can neither reconcile nor deduplicate sends; set the channel's delivery = \"at_least_once\" to resend)",
                ),
            )
            .await;
            Next::Done
        }
    }
}

/// Asks the adapter whether the provider has the row's message.
async fn reconcile(
    engine: &Arc<Engine>,
    entry: &ChannelEntry,
    item: &OutboxItem,
    caps: &Capabilities,
) -> Next {
    let channel = item.to.channel.as_str();
    let cfg = &engine.config.engine;
    let policy = entry.delivery.unwrap_or_default();
    let now = SystemTime::now();
    let first = item.first_attempt_at.unwrap_or(now);
    let last = item.last_attempt_at.unwrap_or(first);
    let can_ask_again = item.attempts < cfg.send_attempts;
    let young = now < last + cfg.reconcile_window;
    let pending =
        PendingSend::new(item.to.clone(), item.message.clone(), first).with_last_attempt_at(last);
    let answer = match OutboxKey::new(item.key.clone()) {
        Ok(key) => entry.adapter.reconcile(&key, &pending).await,
        Err(e) => Err(e),
    };
    let in_flight = &pending;
    let unknown = match answer {
        Ok(Reconciled::Delivered(messages)) => {
            engine.metrics.reconciled(channel, "delivered");
            mark_found(engine, item, caps, &messages).await;
            return Next::Done;
        }
        // The in-flight rule (core's `hold_in_flight`, issue 15 item 10): the provider may not
        // have a send yet whose request is still running (a killed process's, say); ask again
        // once the adapter's send timeout has passed since the attempt began, never resend now.
        Ok(Reconciled::NotDelivered | Reconciled::Partial(_))
            if let Some(left) = in_flight.in_flight_for(entry.adapter.send_timeout(), now) =>
        {
            engine.metrics.reconciled(channel, "in_flight");
            let at = SystemTime::now() + left + IN_FLIGHT_MARGIN;
            let why = format!(
                "reconcile: the last attempt may still be in flight ({} ms of the send timeout left)",
                left.as_millis()
            );
            tracing::info!(%why, "not found yet; will ask again");
            let change = OutboxChange::ReconcileLater { at, why };
            if let Err(e) = release(engine, item.lease, at, change).await {
                tracing::error!(error = %e, "scheduling the reconciliation failed");
            }
            return Next::Done;
        }
        Ok(Reconciled::NotDelivered) => {
            engine.metrics.reconciled(channel, "not_delivered");
            tracing::info!("the provider does not have the message; sending it again");
            return Next::Send;
        }
        Ok(Reconciled::Partial(messages)) => {
            engine.metrics.reconciled(channel, "partial");
            if let Err(e) = engine.store.outbox_partial(item.lease, &messages).await {
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
                    dead(engine, item, GiveUp::unsettled(error)).await;
                    Next::Done
                }
            };
        }
        Ok(Reconciled::Unknown(reason)) => {
            engine.metrics.reconciled(channel, "unknown");
            if young {
                // Asked again (without using up send attempts) until the window is over: a
                // few times across it, never sooner than the retry backoff.
                let after = delay(engine, item, None)
                    .max(cfg.reconcile_window / 8)
                    .min(cfg.backoff_max.max(cfg.reconcile_window / 8));
                let why = format!("reconcile: unknown: {reason}");
                tracing::info!(%why, ?after, "send outcome still unknown; will ask again");
                let at = SystemTime::now() + after;
                let change = OutboxChange::ReconcileLater { at, why };
                if let Err(e) = release(engine, item.lease, at, change).await {
                    tracing::error!(error = %e, "scheduling the reconciliation failed");
                }
                return Next::Done;
            }
            reason
        }
        Ok(other) => {
            engine.metrics.reconciled(channel, "unknown");
            format!("an answer this engine does not know: {other:?}")
        }
        Err(e) => {
            engine.metrics.reconciled(channel, "error");
            if e.retry() != Retry::Never && can_ask_again {
                settle_later(
                    engine,
                    item,
                    &format!("reconcile failed: {e}"),
                    delay(engine, item, e.retry_after()),
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
            dead(engine, item, GiveUp::unsettled(error)).await;
            Next::Done
        }
    }
}
