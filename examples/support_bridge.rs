//! The support bridge from the library API: a Messenger customer writes, a thread opens in the
//! agents' Slack channel, an agent replies in the thread, and the reply reaches the customer —
//! all against the local Slack and Messenger emulators, through signed webhooks over HTTP.
//!
//! Run with: `cargo run --example support_bridge`

use std::time::Duration;

use serde_json::json;
use switchboard::bridge;
use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions};
use switchboard::slack::emulator::{Emulator as SlackEmulator, EmulatorOptions as SlackOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let slack = SlackEmulator::start(SlackOptions {
        channels: vec!["C0AGENTS".into()],
        ..SlackOptions::default()
    })
    .await?;
    let meta = Meta::start(EmulatorOptions::default()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = format!(
        r#"
[server]
public_url = "{url}"
[store]
url = "memory:"
[channels.team]
provider = "slack"
bot_token = "xoxb-emulator-token"
signing_secret = "emulator-signing-secret"
bot_user_id = "U0EMUBOT"
api_base_url = "{}"
[channels.fb]
{}
[bridge]
agents = "team"
agents_conversation = "C0AGENTS"
customers = ["fb"]
"#,
        slack.base_url(),
        meta.channel_toml()
    );
    // The whole integration: read the config, build the engine with the bridge, serve.
    let (builder, bridge) = bridge::from_config_str(&config, &switchboard::Env::process())?;
    let running = bridge
        .ok_or("no [bridge]")?
        .build(builder)
        .await?
        .start(listener)?;

    // A customer writes on Messenger …
    let item = meta.text_item("6254710388245291", "Hi, is my order on its way?");
    meta.deliver(&format!("{url}/webhooks/fb"), &[item], 1)
        .await;
    let parent = wait(|| slack.messages().into_iter().next()).await?;
    println!("Slack thread opened ({}):\n{}\n", parent.ts, parent.text);

    // … an agent answers in the thread …
    let reply = slack.event_callback(json!({"type": "message", "channel": "C0AGENTS",
        "user": "U0ALICE", "text": "Yes! It arrives *tomorrow*.", "ts": "1700000001.000200",
        "thread_ts": parent.ts}));
    slack.deliver(&format!("{url}/webhooks/team"), &reply).await;

    // … and the customer gets it on Messenger, as plain text.
    let sent = wait(|| meta.messages().into_iter().next()).await?;
    println!(
        "Messenger → {}: {:?}",
        sent.recipient,
        sent.text().unwrap_or("")
    );
    running.shutdown().await?;
    Ok(())
}

async fn wait<T>(mut f: impl FnMut() -> Option<T>) -> Result<T, Box<dyn std::error::Error>> {
    for _ in 0..400 {
        if let Some(v) = f() {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err("timed out".into())
}
