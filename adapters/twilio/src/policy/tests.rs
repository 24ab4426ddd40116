use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_core::model::{EventId, InboundMessage, Sender, UserId};
use switchboard_core::policy::{Contact, OptOut};
use switchboard_core::{ChannelName, ConversationId, ConversationRef, ErrorKind, Secret};

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn config(from: bool) -> TwilioConfig {
    let b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        "AC0123456789abcdef0123456789abcdef",
        Secret::new("tok"),
    );
    let b = if from {
        b.from("+15550001111")
    } else {
        b.messaging_service_sid("MG0123456789abcdef0123456789abcdef")
    };
    b.build().unwrap()
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000)
}

fn sms(from: &str, to: &str, body: &str) -> InboundEvent {
    InboundEvent::new(
        EventId::new("SM1").unwrap(),
        ConversationRef::new(
            ChannelName::new("sms").unwrap(),
            ConversationId::new(from).unwrap(),
        ),
        Sender::user(UserId::new(from).unwrap()),
        now(),
        EventKind::Message(InboundMessage::text(body)),
        serde_json::Value::Null,
    )
    .with_attribute("twilio.to", to)
}

#[test]
fn keywords_are_twilios_defaults_alone_in_any_case() {
    for (body, action, word) in [
        ("STOP", ConsentAction::OptOut, "STOP"),
        (" stop \n", ConsentAction::OptOut, "STOP"),
        ("StopAll", ConsentAction::OptOut, "STOPALL"),
        ("unsubscribe", ConsentAction::OptOut, "UNSUBSCRIBE"),
        ("cancel", ConsentAction::OptOut, "CANCEL"),
        ("END", ConsentAction::OptOut, "END"),
        ("quit", ConsentAction::OptOut, "QUIT"),
        ("start", ConsentAction::OptIn, "START"),
        ("UNSTOP", ConsentAction::OptIn, "UNSTOP"),
        ("yes", ConsentAction::OptIn, "YES"),
        ("help", ConsentAction::Help, "HELP"),
        ("Info", ConsentAction::Help, "INFO"),
    ] {
        assert_eq!(keyword(body), Some((action, word.to_owned())), "{body:?}");
    }
    for body in [
        "please stop",
        "STOP!",
        "stopp",
        "",
        "yes please",
        "I want to end this",
    ] {
        assert_eq!(keyword(body), None, "{body:?}");
    }
}

#[test]
fn an_sms_keyword_is_scoped_to_our_number() {
    let c = consent_of(&config(true), &sms("+15557654321", "+15550001111", "Stop")).unwrap();
    assert_eq!(
        c,
        ConsentChange::new(ConsentAction::OptOut, "STOP", "+15550001111")
    );
    let c = consent_of(
        &config(false),
        &sms("+15557654321", "+15550002222", "start"),
    )
    .unwrap();
    assert_eq!(
        c,
        ConsentChange::new(
            ConsentAction::OptIn,
            "START",
            "MG0123456789abcdef0123456789abcdef"
        ),
        "a Messaging Service keeps opt-outs for the whole service"
    );
    assert!(
        consent_of(
            &config(true),
            &sms("+15557654321", "+15550001111", "stop it")
        )
        .is_none()
    );
    let wa = sms("whatsapp:+15557654321", "whatsapp:+15550001111", "STOP");
    assert!(
        consent_of(&config(true), &wa).is_none(),
        "SMS keywords only"
    );
}

#[test]
fn advanced_opt_out_names_its_own_keywords() {
    let e =
        sms("+15557654321", "+15550001111", "Arret").with_attribute("twilio.opt_out_type", "STOP");
    let c = consent_of(&config(true), &e).unwrap();
    assert_eq!(
        (c.action, c.keyword.as_str()),
        (ConsentAction::OptOut, "ARRET")
    );
}

#[test]
fn an_opted_out_sms_recipient_is_refused_under_our_number() {
    let cfg = config(true);
    let msg = OutboundMessage::text("Your order shipped").unwrap();
    let policy = send_policy(&cfg, "+15557654321", &msg);
    assert_eq!(policy.consent_scope.as_deref(), Some("+15550001111"));
    assert!(policy.window.is_none(), "SMS has no window");
    let stop = OptOut {
        keyword: "STOP".to_owned(),
        at: now() - HOUR,
    };
    let e = policy
        .check(&Contact::new(Some(now() - HOUR * 100), Some(stop)), now())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OptedOut);
    assert!(
        e.message().starts_with("the customer texted STOP on "),
        "{e}"
    );
    assert!(
        policy
            .check(&Contact::new(Some(now() - HOUR * 100), None), now())
            .is_ok()
    );
}

#[test]
fn whatsapp_outside_24_hours_takes_only_a_template() {
    let cfg = config(true);
    let to = "whatsapp:+15557654321";
    let free = OutboundMessage::text("Hello again").unwrap();
    let template = OutboundMessage::builder()
        .text("fallback text for other channels")
        .extension(&TwilioContent {
            content_sid: "HX0123456789abcdef0123456789abcdef".to_owned(),
            variables: Default::default(),
        })
        .build()
        .unwrap();
    let old = Contact::new(Some(now() - HOUR * 25), None);
    let recent = Contact::new(Some(now() - HOUR * 2), None);
    let e = send_policy(&cfg, to, &free).check(&old, now()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PolicyViolation);
    assert!(e.message().contains("24-hour window closed on"), "{e}");
    assert!(send_policy(&cfg, to, &free).check(&recent, now()).is_ok());
    assert!(send_policy(&cfg, to, &template).check(&old, now()).is_ok());
    assert!(send_policy(&cfg, to, &free).consent_scope.is_none());
}
