//! Several accounts on one channel (issue 16) against the emulator serving a main account and a
//! subaccount: inbound webhooks are verified with the token of their `AccountSid` and attributed
//! to it (prefixed conversation ids); replies, status callbacks, reconciliation, media and
//! credentials checks use that account's credentials and `/Accounts/{sid}/` URLs; nothing crosses
//! accounts (asserted at the emulator by the credentials each call used).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod common;

use std::sync::Arc;
use std::time::SystemTime;

use common::{receiver, wait_for};
use switchboard_core::model::{AttachmentKind, DeliveryStatus, EventKind, InboundAttachment};
use switchboard_core::{
    Adapter, ChannelName, ConversationRef, ErrorKind, OutboundMessage, OutboxKey, PendingSend,
    Reconciled, RejectReason, Secret,
};
use switchboard_twilio::emulator::{EmulatedAccount, Emulator, EmulatorOptions, Inbound};
use switchboard_twilio::{SenderConfig, TwilioAccount, TwilioAdapter, TwilioConfig};

const SUB: &str = "AC00000000000000000000000000000002";
const SUB_TOKEN: &str = "emulator-auth-token-subaccount-02";
const SUB_NUMBER: &str = "+15005550007";
const ANNA: &str = "+15558675310";
const BOB: &str = "+15558675311";

async fn emulator() -> Emulator {
    Emulator::start(EmulatorOptions {
        subaccounts: vec![EmulatedAccount::new(SUB, SUB_TOKEN, &[SUB_NUMBER])],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap()
}

fn adapter(emu: &Emulator, callback: Option<&str>) -> TwilioAdapter {
    let o = emu.options();
    let mut b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        o.account_sid.clone(),
        Secret::new(o.auth_token.clone()),
    )
    .from(o.numbers[0].clone())
    .account(TwilioAccount::new(
        SUB,
        Secret::new(SUB_TOKEN),
        SenderConfig::From(SUB_NUMBER.to_owned()),
    ))
    .api_base_url(emu.base_url());
    if let Some(cb) = callback {
        b = b.status_callback(cb);
    }
    TwilioAdapter::new(b.build().unwrap()).unwrap()
}

fn to(conversation: &str) -> ConversationRef {
    ConversationRef::parse("sms", conversation).unwrap()
}

#[tokio::test]
async fn each_account_gets_its_events_and_answers_with_its_own_credentials() {
    let emu = emulator().await;
    let main = emu.options().account_sid.clone();
    let a = adapter(&emu, None);
    let url = "https://bot.test/webhooks/sms";
    let from_main = emu.signed_request(url, &Inbound::text(ANNA, "+15005550006", "hi main"));
    let from_sub = emu.signed_request_for(SUB, url, &Inbound::text(BOB, SUB_NUMBER, "hi sub"));
    let e_main = a.handle_webhook(&from_main).accepted_events().unwrap()[0].clone();
    let e_sub = a.handle_webhook(&from_sub).accepted_events().unwrap()[0].clone();
    assert_eq!(
        e_main.conversation.conversation.as_str(),
        format!("{main}/{ANNA}")
    );
    assert_eq!(
        e_sub.conversation.conversation.as_str(),
        format!("{SUB}/{BOB}")
    );
    assert_eq!(
        e_sub.sender.id.as_str(),
        BOB,
        "the sender stays the address"
    );

    for e in [&e_main, &e_sub] {
        a.send(&e.conversation, &OutboundMessage::text("re").unwrap())
            .await
            .unwrap();
    }
    let calls = emu.calls();
    assert_eq!(calls.len(), 2);
    for (c, account, from, user) in [
        (&calls[0], main.as_str(), "+15005550006", ANNA),
        (&calls[1], SUB, SUB_NUMBER, BOB),
    ] {
        assert_eq!(c.status, 201, "{c:?}");
        assert_eq!(
            c.path,
            format!("/2010-04-01/Accounts/{account}/Messages.json")
        );
        assert_eq!(
            c.account.as_deref(),
            Some(account),
            "the account's own credentials"
        );
        assert_eq!((c.param("From"), c.param("To")), (Some(from), Some(user)));
    }
    let sent = emu.messages();
    assert_eq!(sent[1].account_sid, SUB);
}

#[tokio::test]
async fn an_unknown_account_is_refused_unverified_and_tokens_never_cross() {
    let emu = emulator().await;
    let a = adapter(&emu, None);
    let url = "https://bot.test/webhooks/sms";
    // An account the channel does not serve: 403 before any signature check.
    let other = "AC99999999999999999999999999999999";
    let out = a.handle_webhook(&emu.signed_request_for(
        other,
        url,
        &Inbound::text(ANNA, "+15005550006", "x"),
    ));
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::Forbidden)
    );
    assert_eq!(out.response().status, 403);
    assert!(out.rejection().unwrap().detail.contains(other));
    // The subaccount's AccountSid signed with the main account's token: refused, never checked
    // against the main token.
    let mut forged = emu.signed_request(url, &Inbound::text(BOB, SUB_NUMBER, "x"));
    let body = String::from_utf8(forged.body.to_vec()).unwrap();
    let main = emu.options().account_sid.clone();
    forged.body = body.replace(&main, SUB).into();
    let out = a.handle_webhook(&forged);
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::BadSignature)
    );
}

#[tokio::test]
async fn unprefixed_ids_are_the_default_account_and_unknown_accounts_are_not_found() {
    let emu = emulator().await;
    let a = adapter(&emu, None);
    a.send(&to(ANNA), &OutboundMessage::text("old id").unwrap())
        .await
        .unwrap();
    assert_eq!(
        emu.calls()[0].account.as_deref(),
        Some(emu.options().account_sid.as_str())
    );
    let e = a
        .send(
            &to(&format!("AC99999999999999999999999999999999/{ANNA}")),
            &OutboundMessage::text("x").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(emu.calls().len(), 1);
}

#[tokio::test]
async fn status_callbacks_of_a_subaccount_are_signed_with_its_token() {
    let emu = emulator().await;
    let probe = Arc::new(adapter(&emu, None));
    let (url, events) = receiver(probe).await;
    let a = adapter(&emu, Some(&url));
    let receipt = a
        .send(
            &to(&format!("{SUB}/{BOB}")),
            &OutboundMessage::text("track").unwrap(),
        )
        .await
        .unwrap();
    let got = wait_for(&events, 2).await;
    for e in &got {
        assert_eq!(e.conversation.conversation.as_str(), format!("{SUB}/{BOB}"));
        let EventKind::Delivery(d) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(d.messages[0], receipt.messages[0].id);
    }
    assert!(
        matches!(&got[1].kind, EventKind::Delivery(d) if d.status == DeliveryStatus::Delivered)
    );
    assert!(emu.callbacks().iter().all(|c| c.status == 200));
}

#[tokio::test]
async fn reconcile_media_and_credentials_use_the_account() {
    let emu = emulator().await;
    let a = adapter(&emu, None);
    let conv = to(&format!("{SUB}/{BOB}"));
    let message = OutboundMessage::text("once").unwrap();
    let started = SystemTime::now();
    a.send(&conv, &message).await.unwrap();
    let pending = PendingSend::new(conv.clone(), message, started);
    let found = a
        .reconcile(&OutboxKey::new("sms:Ev1:0").unwrap(), &pending)
        .await
        .unwrap();
    assert!(
        matches!(found, Reconciled::Delivered(ref m) if m.len() == 1),
        "{found:?}"
    );
    let list = emu
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "GET")
        .unwrap();
    assert_eq!(
        list.path,
        format!("/2010-04-01/Accounts/{SUB}/Messages.json")
    );
    assert_eq!(list.account.as_deref(), Some(SUB));
    assert_eq!(list.param("To"), Some(BOB));

    let media = emu.add_media_for(SUB, &b"\x89PNG"[..], "image/png");
    let got = a
        .fetch_attachment(&InboundAttachment::new(AttachmentKind::Image, Some(media)))
        .await
        .unwrap();
    assert_eq!(&got.bytes[..], b"\x89PNG");
    assert_eq!(emu.calls().last().unwrap().account.as_deref(), Some(SUB));
    let foreign = format!(
        "{}/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages/MM1/Media/ME1",
        emu.base_url()
    );
    let e = a
        .fetch_attachment(&InboundAttachment::new(
            AttachmentKind::Image,
            Some(foreign),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");

    // A subaccount's message is found with the subaccount's credentials.
    let sid = emu.messages()[0].sid.clone();
    assert_eq!(a.fetch_message(&sid).await.unwrap().account_sid, SUB);
    let missing = a.fetch_message("SM0123456789abcdef0123456789abcdef").await;
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);

    let before = emu.calls().len();
    a.verify_credentials().await.unwrap();
    let accounts: Vec<Option<String>> = emu.calls()[before..]
        .iter()
        .map(|c| c.account.clone())
        .collect();
    assert_eq!(
        accounts,
        [
            Some(emu.options().account_sid.clone()),
            Some(SUB.to_owned())
        ]
    );
}
