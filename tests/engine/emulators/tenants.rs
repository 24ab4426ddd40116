//! Issue 16 through the engine: one Messenger channel serving two Pages and one Twilio channel
//! serving two accounts, over real HTTP against the emulators. Each customer's reply leaves
//! with the token (or credentials) of the Page (account) they wrote to, asserted at the
//! emulator; an event for a tenant the channel does not serve runs no handler.

use std::time::Duration;

use switchboard::core::model::DeliveryStatus;
use switchboard::messenger::emulator::{
    EmulatedPage, Emulator as MessengerEmulator, EmulatorOptions,
};
use switchboard::twilio::emulator::{
    EmulatedAccount, Emulator as TwilioEmulator, EmulatorOptions as TwilioEmulatorOptions, Inbound,
};

use super::{Probe, TWILIO_FROM, bind, config, eventually, reaches, start};

const PAGE_B: &str = "2222222222222222";
const TOKEN_B: &str = "EAApageBtoken";
const SUB: &str = "AC00000000000000000000000000000002";
const SUB_TOKEN: &str = "emulator-auth-token-subaccount-02";
const SUB_FROM: &str = "+15005550007";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_on_one_channel_never_cross() {
    let emu = MessengerEmulator::start(EmulatorOptions {
        other_pages: vec![EmulatedPage::new(PAGE_B, "Page B", TOKEN_B)],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let (listener, base) = bind().await;
    let probe = Probe::default();
    let (_sb, running) = start(
        &config(&base, "memory:", "fb", &emu.channel_toml()),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/fb");
    let page_a = emu.options().page_id.clone();
    let token_a = emu.options().page_access_token.clone();
    let (anna, bob) = ("7001000000000011", "7001000000000012");
    // One POST carrying an entry for each Page, as Meta batches them.
    let items = [
        emu.text_item(anna, "from A"),
        emu.page(PAGE_B).text_item(bob, "from B"),
    ];
    let delivered = emu.deliver(&url, &items, 2).await;
    assert!(delivered.iter().all(|d| d.delivered()), "{delivered:?}");
    // A Page the channel does not serve: acknowledged, nothing handled.
    let foreign = emu.page("3333").text_item(anna, "not ours");
    assert!(emu.deliver(&url, &[foreign], 1).await[0].delivered());
    assert!(eventually(Duration::from_secs(10), || emu.messages().len() == 2).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let sent = emu.messages();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(probe.runs(), 2);
    let calls = emu.calls();
    for m in &sent {
        let (page, token, text) = if m.recipient == anna {
            (page_a.as_str(), token_a.as_str(), "re: from A")
        } else {
            assert_eq!(m.recipient, bob);
            (PAGE_B, TOKEN_B, "re: from B")
        };
        assert_eq!(m.page_id, page);
        assert_eq!(m.text(), Some(text));
        let call = calls
            .iter()
            .find(|c| c.response["message_id"] == m.message_id.as_str())
            .unwrap();
        assert_eq!(call.path, format!("/v25.0/{page}/messages"));
        assert_eq!(call.access_token.as_deref(), Some(token), "{call:?}");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_twilio_accounts_on_one_channel_never_cross() {
    let emu = TwilioEmulator::start(TwilioEmulatorOptions {
        subaccounts: vec![EmulatedAccount::new(SUB, SUB_TOKEN, &[SUB_FROM])],
        ..TwilioEmulatorOptions::default()
    })
    .await
    .unwrap();
    let o = emu.options();
    let keys = format!(
        "provider = \"twilio\"\napi_base_url = \"{}\"\naccounts = [\
         {{ sid = \"{}\", auth_token = \"{}\", from = \"{TWILIO_FROM}\" }}, \
         {{ sid = \"{SUB}\", auth_token = \"{SUB_TOKEN}\", from = \"{SUB_FROM}\" }}]\n",
        emu.base_url(),
        o.account_sid,
        o.auth_token
    );
    let (listener, base) = bind().await;
    let probe = Probe::default();
    let (sb, running) = start(&config(&base, "memory:", "sms", &keys), &probe, listener).await;
    let url = format!("{base}/webhooks/sms");
    let (anna, bob) = ("+15551230011", "+15551230012");
    let d = emu
        .deliver(&url, &Inbound::text(anna, TWILIO_FROM, "from main"))
        .await;
    assert_eq!(d.status, 200, "{d:?}");
    let d = emu
        .deliver_for(SUB, &url, &Inbound::text(bob, SUB_FROM, "from sub"))
        .await;
    assert_eq!(d.status, 200, "{d:?}");
    // An account the channel does not serve: 403, unverified, nothing handled.
    let d = emu
        .deliver_for(
            "AC99999999999999999999999999999999",
            &url,
            &Inbound::text(anna, TWILIO_FROM, "not ours"),
        )
        .await;
    assert_eq!(d.status, 403, "{d:?}");
    assert!(eventually(Duration::from_secs(10), || emu.messages().len() == 2).await);

    let messages = emu.messages();
    let calls = emu.calls();
    for m in &messages {
        let (account, from, text) = if m.to.as_deref() == Some(anna) {
            (o.account_sid.as_str(), TWILIO_FROM, "re: from main")
        } else {
            assert_eq!(m.to.as_deref(), Some(bob));
            (SUB, SUB_FROM, "re: from sub")
        };
        assert_eq!(m.account_sid, account);
        assert_eq!(m.from.as_deref(), Some(from));
        assert_eq!(m.body.as_deref(), Some(text));
        let create = calls
            .iter()
            .find(|c| c.created_message() && c.param("To") == m.to.as_deref())
            .unwrap();
        assert_eq!(create.account.as_deref(), Some(account), "{create:?}");
        assert_eq!(
            create.path,
            format!("/2010-04-01/Accounts/{account}/Messages.json")
        );
    }
    // Status callbacks of both accounts (each signed with its own token) reach the outbox.
    for i in 0..2 {
        let key = probe.reply_key(i);
        assert!(
            reaches(&sb, &key, DeliveryStatus::Delivered).await,
            "{:?}",
            sb.store().outbox_status(&key).await
        );
    }
    assert!(
        emu.callbacks().iter().all(|c| c.status == 200),
        "{:?}",
        emu.callbacks()
    );
    assert_eq!(probe.runs(), 2);
    running.shutdown().await.unwrap();
}
