//! The shared checks. Each panics with a message naming what broke the contract.

use std::time::Duration;

use super::{Ability, Harness, Staged};
use crate::error::{ErrorKind, Retry};
use crate::model::{EventKind, MessageId, MessageRef, OutboundMessage};
use crate::render::RenderPolicy;
use crate::webhook::{RejectReason, WebhookOutcome};

/// A check called for an adapter it does not apply to fails: it never passes silently.
pub(super) fn does_not_apply(check: &str, ability: Ability, why: &str) -> ! {
    panic!(
        "{check} does not apply: {why}; register it only for a harness that declares \
         Ability::{ability:?} (conformance_tests! does)"
    )
}

pub(super) fn message(b: crate::model::OutboundMessageBuilder) -> OutboundMessage {
    match b.build() {
        Ok(m) => m,
        Err(e) => panic!("conformance kit built an invalid message: {e}"),
    }
}

/// A short text reaches the provider as one message, and the receipt names it.
pub async fn text_round_trip<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let msg = message(OutboundMessage::builder().text("Hello from the conformance kit"));
    let receipt = match h.adapter().send(&h.conversation(), &msg).await {
        Ok(r) => r,
        Err(e) => panic!("send failed: {e}"),
    };
    assert_eq!(
        receipt.messages.len(),
        1,
        "one short text must be one provider message"
    );
    let got = h.received().await;
    assert_eq!(got.len(), 1, "provider received {got:?}");
    assert_eq!(got[0].text, "Hello from the conformance kit");
    assert_eq!(got[0].to, h.conversation().conversation.as_str());
}

/// A text over the limit arrives as several messages, in order, each within the limit.
pub async fn long_text_split_in_order<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let caps = h.adapter().capabilities_for(&h.conversation().conversation);
    let words = (0..).map(|i| format!("w{i}"));
    let mut text = String::new();
    for w in words {
        if caps.text.unit.measure(&text) > caps.text.max * 2 {
            break;
        }
        text.push_str(&w);
        text.push(' ');
    }
    let sent_words: Vec<&str> = text.split_whitespace().collect();
    let msg = message(OutboundMessage::builder().text(text.clone()));
    let receipt = match h.adapter().send(&h.conversation(), &msg).await {
        Ok(r) => r,
        Err(e) => panic!(
            "send of {} units failed: {e}",
            caps.text.unit.measure(&text)
        ),
    };
    let got = h.received().await;
    assert!(
        got.len() >= 2,
        "a text over twice the limit must be split, got {} messages",
        got.len()
    );
    assert_eq!(
        receipt.messages.len(),
        got.len(),
        "receipt lists every provider message"
    );
    for part in &got {
        let len = caps.text.unit.measure(&part.text);
        assert!(
            len <= caps.text.max,
            "part of {len} {:?} over the limit {}",
            caps.text.unit,
            caps.text.max
        );
    }
    let joined: Vec<&str> = got.iter().flat_map(|p| p.text.split_whitespace()).collect();
    assert_eq!(
        joined, sent_words,
        "parts must hold every word once, in order"
    );
}

/// Operations the adapter declares unsupported fail with `Unsupported` and send no request.
pub async fn unsupported_operations_send_nothing<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let adapter = h.adapter();
    let caps = adapter.capabilities_for(&h.conversation().conversation);
    let target = MessageRef::new(
        h.conversation(),
        MessageId::new("conformance-1").unwrap_or_else(|e| panic!("{e}")),
    );
    let edit_msg = message(OutboundMessage::builder().text("edited"));
    let mut checked = 0;
    if !caps.edit {
        assert_unsupported("edit", adapter.edit(&target, &edit_msg).await.map(|_| ()));
        checked += 1;
    }
    if !caps.delete {
        assert_unsupported("delete", adapter.delete(&target).await);
        checked += 1;
    }
    if !caps.reactions {
        assert_unsupported("react", adapter.react(&target, "thumbsup", true).await);
        checked += 1;
    }
    if !caps.typing {
        assert_unsupported("typing", adapter.typing(&h.conversation()).await);
        checked += 1;
    }
    if checked == 0 {
        does_not_apply(
            "unsupported_operations_send_nothing",
            Ability::UnsupportedOperations,
            "every operation is supported",
        );
    }
    assert_eq!(
        h.request_count().await,
        0,
        "an unsupported operation must not reach the provider"
    );
}

fn assert_unsupported(op: &str, r: crate::Result<()>) {
    match r {
        Ok(()) => panic!("{op} is declared unsupported but succeeded"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{op}: {e}"),
    }
}

fn too_many_buttons(max: usize) -> OutboundMessage {
    let mut b = OutboundMessage::builder().text("Pick one");
    for i in 1..=max + 1 {
        b = b.button(format!("Option {i}"), format!("PAYLOAD_{i}"));
    }
    message(b)
}

/// More buttons than the channel shows become numbered text options under `fallback`.
pub async fn buttons_degrade_to_numbered_options<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let caps = h.adapter().capabilities_for(&h.conversation().conversation);
    let msg = too_many_buttons(caps.max_buttons);
    let receipt = match h.adapter().send(&h.conversation(), &msg).await {
        Ok(r) => r,
        Err(e) => panic!("fallback send failed: {e}"),
    };
    assert!(
        receipt
            .degradations
            .iter()
            .any(|d| matches!(d, crate::Degradation::ButtonsAsText { .. })),
        "receipt must list the degradation: {:?}",
        receipt.degradations
    );
    let payloads: Vec<&str> = receipt.options.iter().map(|o| o.payload.as_str()).collect();
    let expected: Vec<String> = (1..=caps.max_buttons + 1)
        .map(|i| format!("PAYLOAD_{i}"))
        .collect();
    assert_eq!(
        payloads, expected,
        "the receipt carries the numbered options (SendReceipt::from_plan)"
    );
    let got = h.received().await;
    let all: String = got
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for i in 1..=caps.max_buttons + 1 {
        assert!(
            all.contains(&format!("{i}. Option {i}")),
            "option {i} missing from {all:?}"
        );
    }
    assert!(
        got.iter().all(|r| r.buttons.is_empty()),
        "degraded buttons must not also be sent natively"
    );
}

/// Under `strict`, content the channel cannot carry is an `Unsupported` error and nothing is sent.
pub async fn strict_policy_sends_nothing<H: Harness>() {
    let h = H::start(RenderPolicy::Strict).await;
    let caps = h.adapter().capabilities_for(&h.conversation().conversation);
    let msg = too_many_buttons(caps.max_buttons);
    match h.adapter().send(&h.conversation(), &msg).await {
        Ok(r) => panic!("strict policy sent a degraded message: {r:?}"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"),
    }
    assert_eq!(
        h.request_count().await,
        0,
        "strict failure must send nothing"
    );
}

async fn staged_error<H: Harness>(outcome: Staged) -> (crate::Error, H) {
    let h = H::start(RenderPolicy::Fallback).await;
    h.stage(outcome.clone()).await;
    let msg = message(OutboundMessage::builder().text("staged"));
    match h.adapter().send(&h.conversation(), &msg).await {
        Ok(r) => panic!("{outcome:?} was staged but the send succeeded: {r:?}"),
        Err(e) => (e, h),
    }
}

/// 429 → `RateLimited`, `Safe`, with the provider's `Retry-After` (where it sends one).
pub async fn rate_limited_is_safe_with_retry_after<H: Harness>() {
    let (e, h) = staged_error::<H>(Staged::RateLimited {
        retry_after: Duration::from_secs(7),
    })
    .await;
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::RateLimited, Retry::Safe),
        "{e}"
    );
    if h.reports_retry_after() {
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{e:?}");
    }
}

/// Refused credentials → `Unauthenticated`, `Never`.
pub async fn auth_failure_is_unauthenticated<H: Harness>() {
    let (e, _) = staged_error::<H>(Staged::AuthFailure).await;
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::Unauthenticated, Retry::Never),
        "{e}"
    );
    assert!(e.provider().is_some(), "errors name their provider: {e:?}");
}

/// An unknown recipient → `NotFound`.
pub async fn unknown_recipient_is_not_found<H: Harness>() {
    let (e, _) = staged_error::<H>(Staged::UnknownRecipient).await;
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.retry(), Retry::Never, "{e}");
}

/// A 5xx → `Ambiguous`: the message may have been delivered.
pub async fn server_error_is_ambiguous<H: Harness>() {
    let (e, _) = staged_error::<H>(Staged::ServerError).await;
    assert_eq!(e.retry(), Retry::Ambiguous, "{e:?}");
}

/// A correctly signed inbound message decodes to one Message event with its text.
pub async fn valid_webhook_decodes<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let set = h.inbound_text("hello from a customer");
    match h.adapter().handle_webhook(&set.valid) {
        WebhookOutcome::Accepted { response, events } => {
            assert!(response.status.is_success(), "{response:?}");
            assert_eq!(events.len(), 1, "{events:?}");
            let ev = &events[0];
            assert!(matches!(ev.kind, EventKind::Message(_)), "{:?}", ev.kind);
            assert_eq!(ev.text(), Some("hello from a customer"));
            assert_eq!(ev.conversation.channel, h.adapter().info().channel);
            assert!(!ev.raw.is_null(), "events keep the raw payload");
        }
        WebhookOutcome::Rejected(r) => panic!("valid webhook rejected: {r:?}"),
    }
}

/// A body altered after signing is rejected with 401 and no events.
pub async fn tampered_webhook_rejected<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let set = h.inbound_text("hello");
    let out = h.adapter().handle_webhook(&set.tampered);
    let r = out
        .rejection()
        .unwrap_or_else(|| panic!("tampered webhook accepted: {out:?}"));
    assert_eq!(r.reason, RejectReason::BadSignature, "{r:?}");
    assert_eq!(out.response().status, http::StatusCode::UNAUTHORIZED);
}

/// A signature with a timestamp outside the replay window is rejected.
pub async fn stale_webhook_rejected<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let Some(stale) = h.inbound_text("hello").stale else {
        does_not_apply(
            "stale_webhook_rejected",
            Ability::SignedTimestamp,
            "the harness gives no stale request",
        );
    };
    let out = h.adapter().handle_webhook(&stale);
    let r = out
        .rejection()
        .unwrap_or_else(|| panic!("stale webhook accepted: {out:?}"));
    assert_eq!(r.reason, RejectReason::StaleTimestamp, "{r:?}");
}

/// The provider's handshake is answered with the expected body.
pub async fn handshake_answered<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let Some((request, expected)) = h.handshake() else {
        does_not_apply(
            "handshake_answered",
            Ability::Handshake,
            "the harness gives no handshake",
        );
    };
    let out = h.adapter().handle_webhook(&request);
    let resp = out.response();
    assert!(resp.status.is_success(), "handshake refused: {out:?}");
    assert_eq!(resp.body, expected);
    assert_eq!(
        out.accepted_events().map(<[_]>::len),
        Some(0),
        "a handshake carries no events"
    );
}

/// An unknown config key is an `InvalidConfig` error naming the channel and the key.
pub async fn unknown_config_key_rejected<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let registry = h.registry();
    let good = h.config();
    let channel = good.channel().to_string();
    if let Err(e) = registry.build(good.clone()) {
        panic!("the harness's own config is refused: {e}");
    }
    let mut bad = good;
    bad.insert("conformance_tpyo", "x");
    match registry.build(bad) {
        Ok(a) => panic!("unknown key accepted: {a:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            let text = e.to_string();
            assert!(
                text.contains(&format!("channels.{channel}")),
                "error must name the channel: {text}"
            );
            assert!(
                text.contains("conformance_tpyo"),
                "error must name the key: {text}"
            );
        }
    }
}

/// `Debug` of the config and of the adapter show no secret.
pub async fn debug_shows_no_secret<H: Harness>() {
    let h = H::start(RenderPolicy::Fallback).await;
    let config = h.config();
    let built = h
        .registry()
        .build(config.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let shown = format!(
        "{config:?}\n{:?}\n{:?}\n{built:?}",
        h.adapter(),
        h.adapter().info()
    );
    let secrets = h.secrets();
    assert!(
        !secrets.is_empty(),
        "the harness must name the config's secrets"
    );
    for s in secrets {
        assert!(
            !s.is_empty() && !shown.contains(&s),
            "a secret appears in Debug output: {shown}"
        );
    }
}

mod reconcile;

pub use reconcile::{
    reconcile_after_a_lost_answer, reconcile_finds_a_delivered_send,
    reconcile_holds_a_send_still_in_flight, reconcile_reports_a_missing_send,
};

/// The abilities a harness declares are exactly those its adapter and provider have: every
/// [`Ability`] is compared with the adapter's capabilities and the harness's requests, so an
/// ability can neither be claimed falsely (its checks would fail) nor forgotten (its checks
/// would silently not run).
pub async fn declared_abilities_match<H: Harness>(declared: &[Ability]) {
    let h = H::start(RenderPolicy::Fallback).await;
    let caps = h.adapter().capabilities_for(&h.conversation().conversation);
    for ability in Ability::ALL {
        let has = match ability {
            Ability::Reconcile => caps.reconcile,
            Ability::SignedTimestamp => h.inbound_text("hello").stale.is_some(),
            Ability::Handshake => h.handshake().is_some(),
            Ability::UnsupportedOperations => {
                !(caps.edit && caps.delete && caps.reactions && caps.typing)
            }
        };
        assert_eq!(
            declared.contains(&ability),
            has,
            "Ability::{ability:?} is {} but the adapter {} it",
            if declared.contains(&ability) {
                "declared"
            } else {
                "not declared"
            },
            if has { "has" } else { "lacks" },
        );
    }
}
