//! Issue 15, item 11: a webhook for another Twilio account (`AccountSid`) is refused, even when
//! its signature verifies (subaccounts and copied tokens): 200, nothing stored.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use switchboard_core::{Adapter, ChannelName, RejectReason, Secret};
use switchboard_twilio::emulator::{Emulator, EmulatorOptions, Inbound};
use switchboard_twilio::{TwilioAdapter, TwilioConfig};

fn adapter(account_sid: &str, token: &str) -> TwilioAdapter {
    let c = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        account_sid,
        Secret::new(token),
    )
    .from("+15005550006")
    .build()
    .unwrap();
    TwilioAdapter::new(c).unwrap()
}

#[tokio::test]
async fn a_webhook_for_another_account_is_refused() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let o = emu.options();
    let msg = Inbound::text("+15558675310", "+15005550006", "hello");
    let req = emu.signed_request("https://bot.example/webhooks/sms", &msg);

    let other = adapter("AC99999999999999999999999999999999", &o.auth_token);
    let out = other.handle_webhook(&req);
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::ForeignTenant)
    );
    assert_eq!(out.response().status, 200);

    let ours = adapter(&o.account_sid, &o.auth_token);
    assert_eq!(
        ours.handle_webhook(&req).accepted_events().map(<[_]>::len),
        Some(1)
    );
}
