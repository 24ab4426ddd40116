/// No AccountSid in these parameters: any account passes.
const TEST_ACCOUNT: &str = "AC00000000000000000000000000000000";

use std::time::SystemTime;

use switchboard_core::model::{DeliveryStatus, EventKind};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{ChannelName, WebhookRequest};

use crate::signature;
use crate::webhook::{decode, handle};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_keyed_status_callback_carries_the_outbox_key() {
    let channel = ChannelName::new("sms").unwrap();
    let params = pairs(&[
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", "sent"),
        ("From", "+15005550006"),
        ("To", "+15558675310"),
    ]);
    let url = "https://bot.test/webhooks/sms?switchboard_outbox_key=sms%3AEv1%3A0\
               &switchboard_part=1&switchboard_parts=2";
    let signed = |url: &str, params: &[(String, String)]| {
        WebhookRequest::post(url, serde_urlencoded::to_string(params).unwrap())
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_header("x-twilio-signature", &signature::sign("tok", url, params))
    };
    let outcome = handle(&channel, &[(TEST_ACCOUNT, "tok")], &signed(url, &params)).0;
    let a = &outcome.accepted_events().unwrap()[0].attributes;
    assert_eq!(
        a.get(OUTBOX_KEY_ATTRIBUTE).map(String::as_str),
        Some("sms:Ev1:0")
    );
    assert_eq!(a.get(OUTBOX_PART_ATTRIBUTE).map(String::as_str), Some("1"));
    assert_eq!(a.get(OUTBOX_PARTS_ATTRIBUTE).map(String::as_str), Some("2"));
    // Unkeyed callbacks and inbound messages carry no key, even with the parameter.
    let plain = handle(
        &channel,
        &[(TEST_ACCOUNT, "tok")],
        &signed("https://bot.test/webhooks/sms", &params),
    )
    .0;
    assert!(
        !plain.accepted_events().unwrap()[0]
            .attributes
            .contains_key(OUTBOX_KEY_ATTRIBUTE)
    );
    let inbound = pairs(&[
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("From", "+15558675310"),
        ("To", "+15005550006"),
        ("Body", "hi"),
    ]);
    let ev = handle(&channel, &[(TEST_ACCOUNT, "tok")], &signed(url, &inbound)).0;
    assert!(
        !ev.accepted_events().unwrap()[0]
            .attributes
            .contains_key(OUTBOX_KEY_ATTRIBUTE)
    );
    // The key is signed: changing it breaks the signature.
    let mut forged = signed(url, &params);
    forged.url = url.replace("Ev1", "Ev2");
    assert!(
        handle(&channel, &[(TEST_ACCOUNT, "tok")], &forged)
            .0
            .accepted_events()
            .is_none()
    );
}

#[test]
fn a_status_callback_before_a_sender_was_picked_still_decodes() {
    let channel = ChannelName::new("sms").unwrap();
    let failed = pairs(&[
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", "failed"),
        ("ErrorCode", "30001"),
        ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
        ("To", "+15558675310"),
    ]);
    let ev = decode(&channel, &failed, SystemTime::UNIX_EPOCH).unwrap();
    assert_eq!(ev.sender.id.as_str(), "MG0123456789abcdef0123456789abcdef");
    assert_eq!(ev.conversation.conversation.as_str(), "+15558675310");
    let EventKind::Delivery(d) = &ev.kind else {
        panic!("{:?}", ev.kind)
    };
    assert_eq!(d.status, DeliveryStatus::Failed);
    // An inbound message still needs its sender.
    let inbound = pairs(&[
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
        ("To", "+15558675310"),
        ("Body", "hi"),
    ]);
    assert_eq!(
        decode(&channel, &inbound, SystemTime::UNIX_EPOCH).unwrap_err(),
        "missing From"
    );
}
