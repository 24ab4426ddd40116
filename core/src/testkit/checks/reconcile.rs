//! The reconciliation checks, for adapters that declare `Capabilities::reconcile`.

use std::time::Duration;

use super::{does_not_apply, message};
use crate::error::Retry;
use crate::model::{OutboundMessage, OutboxKey};
use crate::reconcile::{PendingSend, Reconciled, hold_in_flight};
use crate::render::RenderPolicy;
use crate::testkit::{Ability, Harness, Staged};

fn keyed(text: &str, key: &str) -> OutboundMessage {
    message(OutboundMessage::builder().text(text).idempotency_key(key))
}

async fn reconcile<H: Harness>(
    h: &H,
    key: &str,
    msg: &OutboundMessage,
    since: std::time::SystemTime,
) -> Reconciled {
    let key = OutboxKey::new(key).unwrap_or_else(|e| panic!("{e}"));
    let pending = PendingSend::new(h.conversation(), msg.clone(), since);
    match h.adapter().reconcile(&key, &pending).await {
        Ok(r) => r,
        Err(e) => panic!("reconcile failed: {e}"),
    }
}

/// A send that went through is found by its outbox key, with the provider's message ids.
pub async fn reconcile_finds_a_delivered_send<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    if !h
        .adapter()
        .capabilities_for(&h.conversation().conversation)
        .reconcile
    {
        does_not_apply(
            "reconcile_finds_a_delivered_send",
            Ability::Reconcile,
            "the adapter cannot reconcile",
        );
    }
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let msg = keyed("reconcile me", "conformance:ev-1:0");
    let receipt = h
        .adapter()
        .send(&h.conversation(), &msg)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.settle().await;
    match reconcile(&h, "conformance:ev-1:0", &msg, since).await {
        Reconciled::Delivered(found) => {
            let ids: Vec<_> = found.iter().map(|m| &m.id).collect();
            let sent: Vec<_> = receipt.messages.iter().map(|m| &m.id).collect();
            assert_eq!(ids, sent, "reconcile must name the provider's message ids");
        }
        other => panic!("a delivered send reconciled as {other:?}"),
    }
}

/// A key that was never sent is not reported as delivered.
pub async fn reconcile_reports_a_missing_send<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    if !h
        .adapter()
        .capabilities_for(&h.conversation().conversation)
        .reconcile
    {
        does_not_apply(
            "reconcile_reports_a_missing_send",
            Ability::Reconcile,
            "the adapter cannot reconcile",
        );
    }
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    let other = keyed("someone else's message", "conformance:ev-2:0");
    h.adapter()
        .send(&h.conversation(), &other)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    h.settle().await;
    let msg = keyed("never sent", "conformance:ev-3:0");
    match reconcile(&h, "conformance:ev-3:0", &msg, since).await {
        Reconciled::NotDelivered | Reconciled::Unknown(_) => {}
        found => panic!("a key that was never sent reconciled as {found:?}"),
    }
}

/// A send whose answer was lost is `Ambiguous`, and reconciliation then finds it.
pub async fn reconcile_after_a_lost_answer<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    if !h
        .adapter()
        .capabilities_for(&h.conversation().conversation)
        .reconcile
    {
        does_not_apply(
            "reconcile_after_a_lost_answer",
            Ability::Reconcile,
            "the adapter cannot reconcile",
        );
    }
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    h.stage(Staged::LostAnswer).await;
    let msg = keyed("answer lost", "conformance:ev-4:0");
    match h.adapter().send(&h.conversation(), &msg).await {
        Ok(r) => panic!("the answer was lost but the send succeeded: {r:?}"),
        Err(e) => assert_eq!(e.retry(), Retry::Ambiguous, "{e:?}"),
    }
    h.settle().await;
    match reconcile(&h, "conformance:ev-4:0", &msg, since).await {
        Reconciled::Delivered(found) => assert!(!found.is_empty()),
        other => panic!("a send the provider accepted reconciled as {other:?}"),
    }
}

/// The in-flight rule (issue 15, item 10) with the adapter's declared
/// [`send_timeout`](crate::Adapter::send_timeout): reconciling a key the provider does not
/// have, for a send whose last attempt began just now, is never `NotDelivered` or `Partial`
/// once core's rule is applied (the request may still be running at the provider), unless the
/// adapter declares a zero timeout (an in-process provider); once the timeout has passed, the
/// adapter's own answer stands. The timeout is at most ten minutes (a send held longer would
/// stall its conversation).
pub async fn reconcile_holds_a_send_still_in_flight<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    if !h
        .adapter()
        .capabilities_for(&h.conversation().conversation)
        .reconcile
    {
        does_not_apply(
            "reconcile_holds_a_send_still_in_flight",
            Ability::Reconcile,
            "the adapter cannot reconcile",
        );
    }
    let timeout = h.adapter().send_timeout();
    assert!(
        timeout <= Duration::from_secs(600),
        "send_timeout {timeout:?} is longer than ten minutes"
    );
    let key = OutboxKey::new("conformance:ev-5:0").unwrap_or_else(|e| panic!("{e}"));
    let msg = keyed("still in flight", key.as_str());
    let now = std::time::SystemTime::now();
    let fresh = PendingSend::new(h.conversation(), msg.clone(), now - Duration::from_secs(1))
        .with_last_attempt_at(now);
    let answer = h
        .adapter()
        .reconcile(&key, &fresh)
        .await
        .unwrap_or_else(|e| panic!("reconcile failed: {e}"));
    let held = hold_in_flight(answer, &fresh, timeout, std::time::SystemTime::now());
    if !timeout.is_zero() {
        assert!(
            !matches!(held, Reconciled::NotDelivered | Reconciled::Partial(_)),
            "a send begun just now reconciled as {held:?} within the {timeout:?} send timeout"
        );
    }
    let long_ago = now - timeout - Duration::from_secs(2);
    let settled = PendingSend::new(h.conversation(), msg, long_ago)
        .with_last_attempt_at(long_ago + Duration::from_secs(1));
    let answer = h
        .adapter()
        .reconcile(&key, &settled)
        .await
        .unwrap_or_else(|e| panic!("reconcile failed: {e}"));
    assert_eq!(
        hold_in_flight(
            answer.clone(),
            &settled,
            timeout,
            std::time::SystemTime::now()
        ),
        answer,
        "after the send timeout the adapter's answer must stand"
    );
}
