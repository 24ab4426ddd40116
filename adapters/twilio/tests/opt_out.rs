//! SMS keyword messages through the public adapter (issue 15 item 12): a signed inbound `STOP`,
//! `START` or `HELP` decodes to a message marked with its consent change, scoped to our number.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use switchboard_core::policy::{ConsentAction, ConsentChange};
use switchboard_core::{
    Adapter, ChannelName, EventKind, InboundEvent, Secret, WebhookOutcome, WebhookRequest,
};
use switchboard_twilio::{TwilioAdapter, TwilioConfig, signature};

const TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
const URL: &str = "https://bot.example.com/webhooks/sms";
const ACCOUNT: &str = "ACf19dfb164f82b2c9d6178c6ada3aaaaa";

fn adapter() -> TwilioAdapter {
    let config = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        ACCOUNT,
        Secret::new(TOKEN),
    )
    .from("+15550001111")
    .build()
    .unwrap();
    TwilioAdapter::new(config).unwrap()
}

fn inbound(from: &str, body: &str, extra: &[(&str, &str)]) -> InboundEvent {
    let mut params: Vec<(String, String)> = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", ACCOUNT),
        ("From", from),
        ("To", "+15550001111"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.sort();
    let body = serde_urlencoded::to_string(&params).unwrap();
    let sig = signature::sign(TOKEN, URL, &params);
    let request = WebhookRequest::post(URL, body)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("X-Twilio-Signature", &sig);
    match adapter().handle_webhook(&request) {
        WebhookOutcome::Accepted { mut events, .. } => events.remove(0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stop_start_and_help_are_marked_with_their_consent_change() {
    for (body, action, keyword) in [
        ("STOP", ConsentAction::OptOut, "STOP"),
        ("unsubscribe ", ConsentAction::OptOut, "UNSUBSCRIBE"),
        ("Start", ConsentAction::OptIn, "START"),
        ("help", ConsentAction::Help, "HELP"),
    ] {
        let e = inbound("+15557654321", body, &[]);
        assert!(matches!(e.kind, EventKind::Message(_)), "still a message");
        assert_eq!(
            e.consent,
            Some(ConsentChange::new(action, keyword, "+15550001111")),
            "{body:?}"
        );
    }
    assert_eq!(
        inbound("+15557654321", "please stop calling", &[]).consent,
        None
    );
}

#[test]
fn advanced_opt_out_type_wins() {
    let e = inbound("+15557654321", "ARRET", &[("OptOutType", "STOP")]);
    assert_eq!(
        e.consent,
        Some(ConsentChange::new(
            ConsentAction::OptOut,
            "ARRET",
            "+15550001111"
        ))
    );
}
