//! Workers: claim inbox rows (heads of conversations, with a lease), run the handler, and
//! complete, retry or dead-letter. One event at a time per conversation (the store only hands
//! out heads), up to `engine.workers` conversations in parallel.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use switchboard_core::InboundEvent;
use switchboard_core::model::{ActionEvent, ActionSource, EventKind};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::render::match_option;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::backoff;
use crate::handler::CatchPanic;
use crate::store::{InboxItem, Lease, SendProof, conversation_key};
use crate::switchboard::Inner;

pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let capacity = inner.config.engine.workers.max(1);
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
                .claim_inbox(SystemTime::now(), inner.config.engine.lease, free)
                .await
            {
                Ok(items) => {
                    claimed = items.len();
                    for item in items {
                        running.spawn(process(inner.clone(), item));
                    }
                }
                Err(e) => tracing::error!(error = %e, "claiming inbox rows failed"),
            }
        }
        if claimed > 0 && claimed == free {
            // Saturated or more may be waiting: wait for a slot.
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
            () = inner.inbox_ready.notified() => {}
            () = tokio::time::sleep(inner.config.engine.poll_interval) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = stop.changed() => {}
        }
    }
    drain(running, inner.config.server.shutdown_grace).await;
}

/// Which table a lease is on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Inbox,
    Outbox,
}

/// Runs `work` while renewing `lease` every `engine.lease / 3`, so a handler or send that
/// takes longer than the lease keeps it. A crashed engine stops renewing, and its rows come
/// back after at most one lease.
pub(crate) async fn with_renewal<F: Future>(
    inner: &Inner,
    table: Table,
    lease: Lease,
    work: F,
) -> F::Output {
    let length = inner.config.engine.lease;
    let period = (length / 3).max(std::time::Duration::from_millis(50));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let until = SystemTime::now() + length;
                let renewed = match table {
                    Table::Inbox => inner.store.renew_inbox(lease, until).await,
                    Table::Outbox => inner.store.renew_outbox(lease, until).await,
                };
                match renewed {
                    Ok(true) => tracing::trace!(?table, "lease renewed"),
                    Ok(false) => tracing::warn!(?table, "lease lost while still running"),
                    Err(e) => tracing::warn!(?table, error = %e, "renewing the lease failed"),
                }
            }
        }
    }
}

/// Deletes handled events and sent messages older than `engine.retention` (and expired
/// numbered options), and lets the rate limiters forget idle conversations, now and every
/// `engine.prune_interval`, until `stop`.
pub(crate) async fn prune(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = SystemTime::now();
        let before = now
            .checked_sub(inner.config.engine.retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match inner.store.prune(before, now).await {
            Ok(p) => {
                if p != crate::store::Pruned::default() {
                    tracing::info!(
                        inbox = p.inbox,
                        outbox = p.outbox,
                        options = p.options,
                        "pruned rows past retention"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        // The per-conversation limiters forget conversations whose limit has refilled.
        for entry in inner.channels.values() {
            entry.limits.forget_idle();
        }
        tokio::select! {
            () = tokio::time::sleep(inner.config.engine.prune_interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Lets running tasks finish up to `grace`, then aborts the rest (their leases bring them back).
pub(crate) async fn drain(mut running: JoinSet<()>, grace: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while !running.is_empty() {
        match tokio::time::timeout_at(deadline, running.join_next()).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(
                    left = running.len(),
                    "shutdown grace over; leaving rows leased"
                );
                running.abort_all();
                break;
            }
        }
    }
}

/// A text answer to numbered options becomes the option's Action.
async fn translate_options(inner: &Inner, event: &mut InboundEvent) {
    let Some(text) = event.text() else { return };
    let key = conversation_key(&event.conversation);
    let options = match inner.store.get_options(&key, SystemTime::now()).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "reading degraded options failed");
            return;
        }
    };
    if let Some(o) = match_option(text, &options) {
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

/// A `Delivery` event carrying an outbox key (a Twilio keyed status callback, a Messenger echo
/// of our own send) proves that part of that send reached the provider: recorded durably, so
/// the sender marks the row sent without sending it again, even when the process died before
/// it recorded the send. An error (the proof could not be stored) fails the event, so it is
/// tried again: a lost proof could let the sender resend a message the provider has.
async fn record_proof(inner: &Inner, event: &InboundEvent) -> Result<(), String> {
    let EventKind::Delivery(d) = &event.kind else {
        return Ok(());
    };
    let Some(key) = event.attributes.get(OUTBOX_KEY_ATTRIBUTE) else {
        return Ok(());
    };
    let Some(message_id) = d.messages.first() else {
        tracing::debug!(key = %key, "keyed delivery event without a message id; ignored");
        return Ok(());
    };
    let number = |name: &str, default: u32| {
        event
            .attributes
            .get(name)
            .map_or(Some(default), |v| v.parse::<u32>().ok())
    };
    let (Some(part), Some(parts)) = (
        number(OUTBOX_PART_ATTRIBUTE, 0),
        number(OUTBOX_PARTS_ATTRIBUTE, 1),
    ) else {
        tracing::warn!(key = %key, "keyed delivery event with an unreadable part; ignored");
        return Ok(());
    };
    if parts == 0 || part >= parts {
        tracing::warn!(key = %key, part, parts, "keyed delivery event with an impossible part; ignored");
        return Ok(());
    }
    let proof = SendProof {
        key: key.clone(),
        channel: event.conversation.channel.clone(),
        part,
        parts,
        message_id: message_id.clone(),
    };
    match inner.store.record_proof(&proof, SystemTime::now()).await {
        Ok(ready) => {
            inner.metrics.proof(event.conversation.channel.as_str());
            if ready {
                tracing::debug!(key = %key, "every part of a pending send is proven");
                inner.outbox_ready.notify_one();
            }
            Ok(())
        }
        Err(e) => Err(format!("recording a send proof failed: {e}")),
    }
}

/// Records what a `Delivery` event proves or reports: a keyed proof, the delivery status of
/// the provider messages it names, its watermark. An error fails the event (it runs again).
async fn record_receipts(inner: &Inner, event: &InboundEvent) -> Result<(), String> {
    record_proof(inner, event).await?;
    let EventKind::Delivery(d) = &event.kind else {
        return Ok(());
    };
    if !d.messages.is_empty() {
        inner
            .store
            .record_delivery(&event.conversation.channel, &d.messages, d.status)
            .await
            .map_err(|e| format!("recording the delivery status failed: {e}"))?;
    }
    // "Everything sent up to here": every earlier message of the conversation.
    if let Some(watermark) = d.watermark {
        inner
            .store
            .record_delivery_watermark(&conversation_key(&event.conversation), watermark, d.status)
            .await
            .map_err(|e| format!("recording the delivery watermark failed: {e}"))?;
    }
    Ok(())
}

/// A conversation id fit for info-level logs: a phone number (`+14155552345`,
/// `whatsapp:+14155552345`) or another long all-digit id (a Messenger PSID) keeps only its last
/// four digits (`+*******2345`); other ids (Slack channels) are shown as they are.
pub(crate) fn redacted(conversation: &str) -> String {
    let (scheme, number) = match conversation.split_once(':') {
        Some((scheme, rest)) => (&conversation[..=scheme.len()], rest),
        None => ("", conversation),
    };
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let phone_like = number
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'+'));
    if !phone_like || digits < 7 {
        return conversation.to_owned();
    }
    let mut seen = 0;
    let masked: String = number
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen > digits - 4 { c } else { '*' }
        })
        .collect();
    format!("{scheme}{masked}")
}

async fn process(inner: Arc<Inner>, mut item: InboxItem) {
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
        let cfg = &inner.config.engine;
        if item.attempts > cfg.handler_attempts {
            // Every earlier claim ended without an outcome (a handler that crashes or hangs the
            // process, or shutdowns that kept cutting it short): running it again would block
            // the conversation forever.
            let error = format!(
                "gave up after {} claims without an outcome (the handler never finished; it may crash the process)",
                item.attempts - 1
            );
            tracing::error!(%error, "dead-lettering the event without running it");
            inner.metrics.handler_failed(&channel);
            match inner.store.dead_letter_inbox(item.lease, &error).await {
                Ok(true) => inner.metrics.dead_lettered("inbound"),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "dead-lettering failed"),
            }
            return;
        }
        let recorded = record_receipts(&inner, &item.event).await;
        translate_options(&inner, &mut item.event).await;
        let ctx = inner.context(&item);
        let result = match inner.handlers.for_event(&item.event) {
            // A receipt or proof that could not be stored: the event runs again later.
            _ if recorded.is_err() => recorded,
            None => Ok(()),
            Some(h) => {
                let run = tokio::time::timeout(
                    cfg.handler_timeout,
                    CatchPanic::new(h.call(ctx.clone())),
                );
                match with_renewal(&inner, Table::Inbox, item.lease, run).await {
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
                match inner.store.complete_inbox(item.lease, completion).await {
                    Ok(true) => {
                        inner.metrics.handled(&channel);
                        tracing::debug!(replies, "handled");
                        if replies > 0 {
                            inner.outbox_ready.notify_one();
                        }
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
        match result {
            Ok(()) => {}
            Err(error) => {
                inner.metrics.handler_failed(&channel);
                if item.attempts >= cfg.handler_attempts {
                    tracing::error!(%error, "handler failed; dead-lettering the event");
                    match inner.store.dead_letter_inbox(item.lease, &error).await {
                        Ok(true) => inner.metrics.dead_lettered("inbound"),
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %e, "dead-lettering failed"),
                    }
                } else {
                    let delay = backoff::delay(item.attempts, cfg.backoff_base, cfg.backoff_max);
                    tracing::warn!(%error, ?delay, "handler failed; will retry");
                    if let Err(e) = inner
                        .store
                        .retry_inbox(item.lease, &error, SystemTime::now() + delay)
                        .await
                    {
                        tracing::error!(error = %e, "scheduling the retry failed");
                    }
                }
            }
        }
    }
    .instrument(span)
    .await;
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn phone_numbers_and_long_numeric_ids_are_redacted_in_logs() {
        assert_eq!(redacted("+14155552345"), "+*******2345");
        assert_eq!(redacted("whatsapp:+14155552345"), "whatsapp:+*******2345");
        assert_eq!(redacted("1234567890123456"), "************3456");
        // Short codes, Slack ids and anything not purely numeric are kept.
        assert_eq!(redacted("12345"), "12345");
        assert_eq!(redacted("C0123456789"), "C0123456789");
        assert_eq!(redacted("C1"), "C1");
        assert_eq!(redacted("team:C0123"), "team:C0123");
    }
}
