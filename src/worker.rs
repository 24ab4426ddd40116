//! A worker handles one claimed event: its receipts are recorded
//! ([`receipts`](crate::receipts)), a text answer to numbered options becomes the option's
//! Action, the plugins' hooks ([`plugin`](crate::plugin)) and then the application's handler
//! run (each with a timeout, panics caught), and the event is completed with what they queued,
//! or retried with backoff, or dead-lettered, through [`inbox::finish`](crate::inbox::finish). The claim loop ([`claim_loop`](crate::claim_loop))
//! runs up to `engine.workers` of these at once and renews their leases.

use std::sync::Arc;
use std::time::SystemTime;

use switchboard_core::InboundEvent;
use switchboard_core::model::{ActionEvent, ActionSource, EventKind};
use switchboard_core::render::{TextOption, match_option};
use tracing::Instrument;

use crate::backoff;
use crate::claim_loop::Slot;
use crate::engine::Engine;
use crate::handler::CatchPanic;
use crate::inbox::finish;
use crate::redact::redacted;
use crate::store::{InboxItem, InboxOutcome, Lease};

/// A text answer to the conversation's numbered options (read with the claim) becomes the
/// option's Action.
fn translate_options(options: &[TextOption], event: &mut InboundEvent) {
    let Some(text) = event.text() else { return };
    if let Some(o) = match_option(text, options) {
        let original = match o.source {
            ActionSource::QuickReply => ActionSource::QuickReply,
            _ => ActionSource::Button,
        };
        tracing::debug!(payload = %o.payload, ?original, "text answer matched a degraded option");
        event
            .attributes
            .insert("switchboard.original_text".to_owned(), text.to_owned());
        event.kind = EventKind::Action(
            ActionEvent::new(o.payload.clone(), ActionSource::TextOption)
                .with_label(o.label.clone()),
        );
    }
}

/// Dead-letters the event with `error`.
async fn bury(engine: &Engine, lease: Lease, error: String) {
    match finish(engine, lease, InboxOutcome::DeadLetter { error }).await {
        Ok(true) => engine.metrics.dead_lettered("inbound"),
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "dead-lettering failed"),
    }
}

/// Handles one claimed event to its end.
pub(crate) async fn handle(engine: Arc<Engine>, mut item: InboxItem, mut slot: Slot) {
    let channel = item.event.conversation.channel.as_str().to_owned();
    let span = tracing::info_span!(
        "event",
        channel = %channel,
        conversation = %redacted(item.event.conversation.conversation.as_str()),
        event_id = %item.event.id,
        kind = item.event.kind.name(),
        attempt = item.attempts,
    );
    async move {
        let cfg = &engine.config.engine;
        if item.attempts > cfg.handler_attempts {
            // Every earlier claim ended without an outcome (a handler that crashes or hangs the
            // process, or shutdowns that kept cutting it short): running it again would block
            // the conversation forever.
            let error = format!(
                "gave up after {} claims without an outcome (the handler never finished; it may crash the process)",
                item.attempts - 1
            );
            tracing::error!(%error, "dead-lettering the event without running it");
            engine.metrics.handler_failed(&channel);
            bury(&engine, item.lease, error).await;
            return;
        }
        let recorded = crate::receipts::record(&engine, &item.event).await;
        translate_options(&item.options, &mut item.event);
        let handler = engine.handlers.for_event(&item.event);
        // The event moves into the handler's context (no copy of it per event).
        let (lease, attempts) = (item.lease, item.attempts);
        let ctx = engine.context(item.event, attempts);
        // The plugins' hooks (the gateway queues the event for its endpoints, the bridge relays
        // it) run before the handler, queuing into the same context; a failure retries the
        // event like a handler's.
        let recorded = match recorded {
            Ok(()) => crate::plugin::on_event(&engine, &ctx).await,
            Err(e) => Err(e),
        };
        let result = match handler {
            // A receipt or proof that could not be stored: the event runs again later.
            _ if recorded.is_err() => recorded,
            None => Ok(()),
            Some(h) => {
                let run = tokio::time::timeout(
                    cfg.handler_timeout,
                    CatchPanic::new(h.call(ctx.clone())),
                );
                match run.await {
                    Ok(Ok(r)) => r.map_err(|e| e.to_string()),
                    Ok(Err(panic)) => Err(format!("handler panicked: {panic}")),
                    Err(_) => Err("handler timed out".to_owned()),
                }
            }
        };
        // Whatever the outcome, the handler is over: a copy of its context that outlived it
        // can no longer queue anything (an error, not a silent drop).
        let completion = ctx.finish();
        let result = match result {
            Ok(()) => {
                let replies = completion.outbox.len();
                // Only the completion is left: the next claim may share its commit.
                slot.free();
                match finish(&engine, lease, InboxOutcome::Done(completion)).await {
                    Ok(true) => {
                        engine.metrics.handled(&channel);
                        tracing::debug!(replies, "handled");
                        Ok(())
                    }
                    Ok(false) => {
                        tracing::warn!("lease lost before completion; another run owns it");
                        Ok(())
                    }
                    // Nothing was written (an outbox key already taken, a store failure): the
                    // event fails like a handler error, retried and then dead-lettered.
                    Err(e) => Err(format!("completing the event failed: {e}")),
                }
            }
            Err(error) => Err(error),
        };
        let Err(error) = result else { return };
        engine.metrics.handler_failed(&channel);
        if attempts >= cfg.handler_attempts {
            tracing::error!(%error, "handler failed; dead-lettering the event");
            bury(&engine, lease, error).await;
        } else {
            let delay = backoff::delay(attempts, cfg.backoff_base, cfg.backoff_max);
            tracing::warn!(%error, ?delay, "handler failed; will retry");
            let at = SystemTime::now() + delay;
            if let Err(e) = finish(&engine, lease, InboxOutcome::Retry { at, error }).await {
                tracing::error!(error = %e, "scheduling the retry failed");
            }
        }
    }
    .instrument(span)
    .await;
}
