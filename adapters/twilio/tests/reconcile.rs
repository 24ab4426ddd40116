//! `reconcile` against the emulator: delivered (every part, in order), partial, not delivered,
//! unknown; a lost answer found again; the outbox key proven by keyed status callbacks.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use switchboard_core::model::{EventKind, OutboxKey};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{
    Adapter, ErrorKind, OutboundMessage, PendingSend, Reconciled, Retry, SentMessage,
};
use switchboard_twilio::emulator::{Call, Emulator, EmulatorOptions, Fault};
use switchboard_twilio::{TwilioAdapter, TwilioContent};

fn keyed(text: &str, key: &str) -> OutboundMessage {
    OutboundMessage::builder()
        .text(text)
        .idempotency_key(key)
        .build()
        .unwrap()
}

/// Reconciles `msg` as first attempted at `first_attempt` (where the search window starts), its
/// last attempt over longer ago than the request timeout: no create can still be in flight, so
/// what the list lacks is absent (the in-flight rule has its own test).
async fn reconcile(
    adapter: &TwilioAdapter,
    msg: &OutboundMessage,
    first_attempt: SystemTime,
) -> Reconciled {
    let settled = SystemTime::now() - adapter.config().timeout - Duration::from_secs(1);
    let pending = PendingSend::new(to("sms", SMS_USER), msg.clone(), first_attempt)
        .with_last_attempt_at(settled);
    reconcile_pending(adapter, &pending).await
}

async fn reconcile_pending(adapter: &TwilioAdapter, pending: &PendingSend) -> Reconciled {
    let key = OutboxKey::new(pending.message.idempotency_key.clone().unwrap()).unwrap();
    adapter.reconcile(&key, pending).await.unwrap()
}

/// Right after an attempt (a client timeout, a lost answer) Twilio may still be creating the
/// message, so what is not listed yet is `Unknown`; what is listed is `Delivered` at once.
#[tokio::test]
async fn absence_right_after_an_attempt_is_unknown() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let msg = keyed("maybe in flight", "sms:Ev16:0");
    let just_now = PendingSend::new(to("sms", SMS_USER), msg.clone(), ago(1));
    match reconcile_pending(&sms, &just_now).await {
        Reconciled::Unknown(why) => assert!(why.contains("in flight"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(lists(&emu).len(), 1, "the list was read all the same");
    let receipt = sms.send(&to("sms", SMS_USER), &msg).await.unwrap();
    match reconcile_pending(&sms, &just_now).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), ids(&receipt.messages)),
        other => panic!("{other:?}"),
    }
}

fn ids(found: &[SentMessage]) -> Vec<String> {
    found.iter().map(|m| m.id.as_str().to_owned()).collect()
}

fn lists(emu: &Emulator) -> Vec<Call> {
    emu.calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.path.ends_with("/Messages.json"))
        .collect()
}

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

#[tokio::test]
async fn a_delivered_send_is_found_with_every_part_in_order() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    assert!(
        sms.capabilities_for(&to("sms", SMS_USER).conversation)
            .reconcile
    );
    assert!(
        sms.capabilities_for(&to("sms", WA_USER).conversation)
            .reconcile
    );
    let since = ago(1);
    let long = keyed("word ".repeat(700).trim(), "sms:Ev1:0");
    let receipt = sms.send(&to("sms", SMS_USER), &long).await.unwrap();
    assert_eq!(receipt.messages.len(), 3);

    match reconcile(&sms, &long, since).await {
        Reconciled::Delivered(found) => {
            assert_eq!(ids(&found), ids(&receipt.messages));
            assert_eq!(found[0].segments, receipt.messages[0].segments);
            assert!(found.iter().all(|m| m.conversation == to("sms", SMS_USER)));
        }
        other => panic!("{other:?}"),
    }
    // One list call, filtered by recipient, sender and date (GMT, on or after).
    let calls = lists(&emu);
    assert_eq!(calls.len(), 1);
    let list = &calls[0];
    assert_eq!(list.param("To"), Some(SMS_USER));
    assert_eq!(list.param("From"), Some(emu.options().numbers[0].as_str()));
    let window = since - switchboard_twilio::RECONCILE_CLOCK_MARGIN;
    assert_eq!(list.param("DateSent>"), Some(gmt_date(window).as_str()));
    assert_eq!(list.param("PageSize"), Some("100"));
}

#[tokio::test]
async fn a_send_cut_after_its_first_part_is_partial() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let since = ago(1);
    let long = keyed("word ".repeat(700).trim(), "sms:Ev2:0");
    emu.stage(Fault::Delay(Duration::ZERO));
    emu.stage(Fault::ServerError);
    let err = sms.send(&to("sms", SMS_USER), &long).await.unwrap_err();
    assert_eq!(err.partial().len(), 1);
    match reconcile(&sms, &long, since).await {
        Reconciled::Partial(found) => assert_eq!(ids(&found), ids(err.partial())),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn what_twilio_lacks_is_not_delivered() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let wa = whatsapp_adapter(&emu);
    let msg = keyed("see you at 5", "sms:Ev3:0");
    // Nothing at all.
    assert_eq!(
        reconcile(&sms, &msg, ago(1)).await,
        Reconciled::NotDelivered
    );
    // Other text to the user, the same text to someone else or from another sender.
    let user = to("sms", SMS_USER);
    sms.send(&user, &keyed("something else", "sms:Ev4:0"))
        .await
        .unwrap();
    sms.send(
        &to("sms", "+15558675311"),
        &keyed("see you at 5", "sms:Ev5:0"),
    )
    .await
    .unwrap();
    wa.send(&to("wa", WA_USER), &keyed("see you at 5", "wa:Ev6:0"))
        .await
        .unwrap();
    assert_eq!(
        reconcile(&sms, &msg, ago(1)).await,
        Reconciled::NotDelivered
    );
    // The same text to the user, but before the window.
    sms.send(&user, &keyed("see you at 5", "sms:Ev7:0"))
        .await
        .unwrap();
    let later = SystemTime::now() + Duration::from_secs(5);
    assert_eq!(reconcile(&sms, &msg, later).await, Reconciled::NotDelivered);
}

#[tokio::test]
async fn identical_messages_and_templates_are_unknown() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let user = to("sms", SMS_USER);
    let since = ago(1);
    sms.send(&user, &keyed("OK", "sms:Ev8:0")).await.unwrap();
    sms.send(&user, &keyed("OK", "sms:Ev9:0")).await.unwrap();
    match reconcile(&sms, &keyed("OK", "sms:Ev9:0"), since).await {
        Reconciled::Unknown(why) => {
            assert!(
                why.contains("2 messages") && why.contains("sms:Ev9:0"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A content template's text is filled in by Twilio: found only as "something was sent".
    let template = OutboundMessage::builder()
        .extension(&TwilioContent {
            content_sid: "HXb5b62575e6e4ff6129ad7c8efe1f983e".into(),
            variables: Default::default(),
        })
        .idempotency_key("sms:Ev10:0")
        .build()
        .unwrap();
    assert!(matches!(
        reconcile(&sms, &template, since).await,
        Reconciled::Unknown(why) if why.contains("template")
    ));
    let quiet = SystemTime::now() + Duration::from_secs(5);
    assert_eq!(
        reconcile(&sms, &template, quiet).await,
        Reconciled::NotDelivered
    );
}

#[tokio::test]
async fn a_lost_answer_is_ambiguous_and_reconciles_as_delivered() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let since = ago(1);
    let msg = keyed("answer lost", "sms:Ev11:0");
    emu.stage(Fault::LostAnswer);
    let err = sms.send(&to("sms", SMS_USER), &msg).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.retry()),
        (ErrorKind::Transport, Retry::Ambiguous),
        "{err:?}"
    );
    let calls = emu.calls();
    assert!(calls[0].dropped && calls[0].created_message());
    let created = emu.messages();
    assert_eq!(created.len(), 1);
    match reconcile(&sms, &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), [created[0].sid.clone()]),
        other => panic!("{other:?}"),
    }
    // The emulator keeps answering on new connections.
    sms.send(
        &to("sms", SMS_USER),
        &OutboundMessage::text("next").unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn keyed_status_callbacks_prove_each_part() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let probe = Arc::new(TwilioAdapter::new(config(&emu, None)).unwrap());
    let (url, events) = receiver(probe).await;
    let sms = TwilioAdapter::new(config(&emu, Some(&url))).unwrap();
    let msg = keyed("word ".repeat(400).trim(), "sms:Ev12:0");
    let receipt = sms.send(&to("sms", SMS_USER), &msg).await.unwrap();
    assert_eq!(receipt.messages.len(), 2);
    for (i, call) in emu.calls().iter().enumerate() {
        assert_eq!(
            call.param("StatusCallback").unwrap(),
            format!(
                "{url}?switchboard_outbox_key=sms%3AEv12%3A0&switchboard_part={i}\
                 &switchboard_parts=2"
            )
        );
    }
    // sent + delivered for each part, every one signed over the keyed URL and carrying the key.
    let got = wait_for(&events, 4).await;
    assert_eq!(got.len(), 4);
    for ev in &got {
        let EventKind::Delivery(d) = &ev.kind else {
            panic!("{:?}", ev.kind)
        };
        let part: usize = ev.attributes[OUTBOX_PART_ATTRIBUTE].parse().unwrap();
        assert_eq!(d.messages, [receipt.messages[part].id.clone()]);
        assert_eq!(ev.attributes[OUTBOX_KEY_ATTRIBUTE], "sms:Ev12:0");
        assert_eq!(ev.attributes[OUTBOX_PARTS_ATTRIBUTE], "2");
    }
    assert!(emu.callbacks().iter().all(|c| c.status == 200));
}

#[tokio::test]
async fn the_search_follows_pages_and_stops_at_older_messages() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let user = to("sms", SMS_USER);
    let since = ago(1);
    let ours = keyed("the one we look for", "sms:Ev13:0");
    let receipt = sms.send(&user, &ours).await.unwrap();
    for i in 0..120 {
        sms.send(
            &user,
            &OutboundMessage::text(format!("filler {i}")).unwrap(),
        )
        .await
        .unwrap();
    }
    match reconcile(&sms, &ours, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), ids(&receipt.messages)),
        other => panic!("{other:?}"),
    }
    let calls = lists(&emu);
    assert_eq!(calls.len(), 2, "121 messages: two pages of 100");
    assert!(calls[1].param("PageToken").unwrap().starts_with("PA"));

    // A window after all of them: the first message listed is already older; one call.
    let later = SystemTime::now() + Duration::from_secs(5);
    assert_eq!(
        reconcile(&sms, &ours, later).await,
        Reconciled::NotDelivered
    );
    assert_eq!(lists(&emu).len(), 3);
}

#[tokio::test]
async fn a_messaging_service_send_is_matched_by_its_service() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let service = TwilioAdapter::new(service_config(&emu, None)).unwrap();
    let from_number = TwilioAdapter::new(config(&emu, None)).unwrap();
    let since = ago(1);
    let msg = keyed("via the pool", "sms:Ev14:0");
    // The same text from the number (not through the service) is not ours.
    from_number.send(&to("sms", SMS_USER), &msg).await.unwrap();
    assert_eq!(
        reconcile(&service, &msg, since).await,
        Reconciled::NotDelivered
    );
    let receipt = service.send(&to("sms", SMS_USER), &msg).await.unwrap();
    match reconcile(&service, &msg, since).await {
        Reconciled::Delivered(found) => assert_eq!(ids(&found), ids(&receipt.messages)),
        other => panic!("{other:?}"),
    }
    assert!(lists(&emu).iter().all(|l| l.param("From").is_none()));
}

#[tokio::test]
async fn list_failures_are_errors_not_answers() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    let key = OutboxKey::new("sms:Ev15:0").unwrap();
    let pending = PendingSend::new(to("sms", SMS_USER), keyed("x", "sms:Ev15:0"), ago(1));
    emu.stage(Fault::AuthFailure);
    let err = sms.reconcile(&key, &pending).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    emu.stage(Fault::RateLimited {
        retry_after: Duration::from_secs(1),
    });
    let err = sms.reconcile(&key, &pending).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.retry()),
        (ErrorKind::RateLimited, Retry::Safe)
    );
}
