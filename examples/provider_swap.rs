//! Provider swap: the same application code served by Messenger, Slack or Twilio, chosen by one
//! line of config (`provider = "…"` in `[channels.support]`). Each provider is its local
//! emulator; the customer's message arrives as that provider's signed webhook, and the reply
//! (markdown and two buttons) is rendered for what that provider can show.
//!
//! Run with: `cargo run --example provider_swap` (all three), or
//! `cargo run --example provider_swap -- slack` (or `messenger`, `twilio`)

use std::time::Duration;

use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions};
use switchboard::slack::emulator::{Emulator as SlackEmulator, EmulatorOptions as SlackOptions};
use switchboard::twilio::emulator::{
    Emulator as Twilio, EmulatorOptions as TwilioOptions, Inbound,
};
use switchboard::{Env, OutboundMessage, SwitchboardBuilder};

type BoxError = Box<dyn std::error::Error>;

/// The application: written once, against the neutral model.
fn app(builder: SwitchboardBuilder) -> SwitchboardBuilder {
    builder.on_message(|ctx| async move {
        let reply = OutboundMessage::builder()
            .text("Your order **#1042** ships today. [Track it](https://example.com/t/1042)")
            .button("Change address", "ADDRESS")
            .button("Talk to a human", "HUMAN")
            .build()?;
        ctx.reply(reply)?;
        Ok(())
    })
}

/// Serves `app` with `[channels.support]` = `channel_keys`, lets `customer_writes` deliver a
/// webhook to the given URL, and waits for `received` to show what the provider got.
async fn serve_on(
    channel_keys: &str,
    customer_writes: impl AsyncFnOnce(String),
    mut received: impl FnMut() -> Option<String>,
) -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = format!(
        "[server]\npublic_url = \"{url}\"\n[store]\nurl = \"memory:\"\n[channels.support]\n{channel_keys}\n"
    );
    let builder = SwitchboardBuilder::from_config_str(&config, &Env::process())?;
    let running = app(builder).build().await?.start(listener)?;
    customer_writes(format!("{url}/webhooks/support")).await;
    for _ in 0..400 {
        if let Some(r) = received() {
            running.shutdown().await?;
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err("no reply reached the provider".into())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let only = std::env::args().nth(1);
    let wanted = |p: &str| only.as_deref().is_none_or(|o| o == p);

    if wanted("slack") {
        let slack = SlackEmulator::start(SlackOptions::default()).await?;
        let keys = format!(
            "provider = \"slack\"\nbot_token = \"xoxb-emulator-token\"\nsigning_secret = \"emulator-signing-secret\"\nbot_user_id = \"U0EMUBOT\"\napi_base_url = \"{}\"",
            slack.base_url()
        );
        let got = serve_on(
            &keys,
            async |url| {
                let ev = slack.user_message("C0GENERAL", "U0ALICE", "where is my order?");
                slack.deliver(&url, &ev).await;
            },
            || {
                let m = slack
                    .messages()
                    .into_iter()
                    .find(|m| m.text.contains("1042"))?;
                let buttons = m
                    .blocks
                    .iter()
                    .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
                    .filter_map(|e| e["text"]["text"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>();
                Some(format!(
                    "{}\n[native buttons: {}]",
                    m.text,
                    buttons.join(" | ")
                ))
            },
        )
        .await?;
        println!("── Slack (mrkdwn, Block Kit buttons):\n{got}\n");
    }
    if wanted("messenger") {
        let meta = Meta::start(EmulatorOptions::default()).await?;
        let got = serve_on(
            &meta.channel_toml(),
            async |url| {
                let item = meta.text_item("6254710388245291", "where is my order?");
                meta.deliver(&url, &[item], 1).await;
            },
            || {
                let m = meta.messages().into_iter().next()?;
                Some(format!(
                    "{}\n[native buttons: {}]",
                    m.text().unwrap_or_default(),
                    m.buttons().join(" | ")
                ))
            },
        )
        .await?;
        println!("── Messenger (plain text, button template):\n{got}\n");
    }
    if wanted("twilio") {
        let twilio = Twilio::start(TwilioOptions::default()).await?;
        let c = twilio.options();
        let keys = format!(
            "provider = \"twilio\"\naccount_sid = \"{}\"\nauth_token = \"{}\"\nfrom = \"{}\"\napi_base_url = \"{}\"",
            c.account_sid,
            c.auth_token,
            c.numbers[0],
            twilio.base_url()
        );
        let got = serve_on(
            &keys,
            async |url| {
                let msg = Inbound::text("+15558675310", &c.numbers[0], "where is my order?");
                twilio.deliver(&url, &msg).await;
            },
            || twilio.messages().into_iter().next()?.body,
        )
        .await?;
        println!(
            "── Twilio SMS (plain text, numbered options; \"2\" comes back as HUMAN):\n{got}\n"
        );
    }
    Ok(())
}
