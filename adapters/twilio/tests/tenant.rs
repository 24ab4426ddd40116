//! Issue 15, item 11 and issue 16: a webhook for another Twilio account (`AccountSid`) is
//! refused before its signature is checked, even when it would verify with this channel's token
//! (subaccounts and copied tokens): 403 with a short reason, nothing stored. (Issue 15 answered
//! 200 after verifying; issue 16 looks the account up first so no request is ever verified
//! against another account's token, and Twilio does not retry a 403.)

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
        Some(RejectReason::Forbidden)
    );
    assert_eq!(out.response().status, 403);

    let ours = adapter(&o.account_sid, &o.auth_token);
    assert_eq!(
        ours.handle_webhook(&req).accepted_events().map(<[_]>::len),
        Some(1)
    );
}
