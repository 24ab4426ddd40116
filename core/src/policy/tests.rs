use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::model::{ConversationRef, InboundMessage, Sender, UserId};
use crate::{ChannelName, ConversationId, Retry};

const HOUR: Duration = Duration::from_secs(3600);

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn window(hours: u64) -> SendPolicy {
    SendPolicy::open().with_window(Some(Window::of(HOUR * hours as u32)))
}

#[test]
fn windows_are_named_after_their_length() {
    assert_eq!(Window::of(HOUR * 24).name, "24-hour window");
    assert_eq!(Window::of(HOUR * 24 * 7).name, "7-day window");
    assert_eq!(Window::of(Duration::from_secs(90)).name, "90-second window");
}

#[test]
fn inside_the_window_passes_and_outside_is_a_policy_violation_naming_it() {
    let now = at(1_764_000_000);
    let policy = window(24);
    let recent = Contact::new(Some(now - HOUR * 23), None);
    assert!(policy.check(&recent, now).is_ok());
    let edge = Contact::new(Some(now - HOUR * 24), None);
    assert!(
        policy.check(&edge, now).is_ok(),
        "the window includes its end"
    );
    let old = Contact::new(Some(at(1_764_000_000 - 25 * 3600)), None);
    let e = policy.check(&old, now).unwrap_err();
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::PolicyViolation, Retry::Never)
    );
    assert_eq!(
        e.message(),
        "the customer's 24-hour window closed on 2025-11-24 15:00 UTC (last message 2025-11-23 15:00 UTC)"
    );
}

#[test]
fn no_inbound_on_record_is_left_to_the_provider() {
    assert!(window(24).check(&Contact::default(), at(10)).is_ok());
}

#[test]
fn an_opt_out_refuses_only_where_the_policy_has_a_consent_scope() {
    let stop = OptOut {
        keyword: "STOP".to_owned(),
        at: at(1_764_000_000),
    };
    let contact = Contact::new(None, Some(stop));
    assert!(
        SendPolicy::open()
            .check(&contact, at(1_764_000_060))
            .is_ok()
    );
    let e = SendPolicy::open()
        .with_consent_scope("+15550001111")
        .check(&contact, at(1_764_000_060))
        .unwrap_err();
    assert_eq!((e.kind(), e.retry()), (ErrorKind::OptedOut, Retry::Never));
    assert_eq!(
        e.message(),
        "the customer texted STOP on 2025-11-24 16:00 UTC; nothing may be sent until they text START"
    );
}

#[test]
fn the_default_policy_reads_the_capabilities() {
    let caps = Capabilities {
        messaging_window: Some(HOUR * 24),
        ..Capabilities::default()
    };
    let p = SendPolicy::from_capabilities(&caps);
    assert_eq!(p.window, Some(Window::new(HOUR * 24, "24-hour window")));
    assert!(p.consent_scope.is_none());
    assert!(SendPolicy::from_capabilities(&Capabilities::default()).is_open());
}

#[test]
fn only_the_customers_messages_and_actions_count_as_inbound() {
    let conv = ConversationRef::new(
        ChannelName::new("fb").unwrap(),
        ConversationId::new("123").unwrap(),
    );
    let event = |kind: EventKind, bot: bool| {
        let mut sender = Sender::user(UserId::new("123").unwrap());
        sender.is_bot = bot;
        InboundEvent::new(
            crate::model::EventId::new("e").unwrap(),
            conv.clone(),
            sender,
            at(1),
            kind,
            serde_json::Value::Null,
        )
    };
    assert!(counts_as_inbound(&event(
        EventKind::Message(InboundMessage::text("hi")),
        false
    )));
    assert!(!counts_as_inbound(&event(
        EventKind::Message(InboundMessage::text("hi")),
        true
    )));
    let mut business = InboundMessage::text("from the Page inbox");
    business.from_business = true;
    assert!(!counts_as_inbound(&event(
        EventKind::Message(business),
        false
    )));
    assert!(counts_as_inbound(&event(
        EventKind::Action(crate::model::ActionEvent::new(
            "P",
            crate::model::ActionSource::Button
        )),
        false
    )));
    assert!(!counts_as_inbound(&event(EventKind::Typing, false)));
}

#[test]
fn utc_times_read_as_civil_dates() {
    assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00 UTC");
    assert_eq!(format_utc(at(951_782_400)), "2000-02-29 00:00 UTC");
    assert_eq!(format_utc(at(1_796_330_700)), "2026-12-03 20:45 UTC");
    assert_eq!(
        format_utc(UNIX_EPOCH - Duration::from_secs(60)),
        "1969-12-31 23:59 UTC"
    );
}
