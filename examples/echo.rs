//! Echo: the smallest embedding of the engine. One handler answers every message with its own
//! text; the engine stores each webhook before answering it, runs the handler, and sends the
//! reply through its outbox.
//!
//! By default it runs against the local Twilio emulator: an SMS arrives through a real signed
//! webhook over HTTP on 127.0.0.1, and the emulator records the reply. Given a config file, it
//! serves that config for real instead (every channel echoes) until Ctrl-C.
//!
//! Run with: `cargo run --example echo` (or `cargo run --example echo -- switchboard.toml`)

use switchboard::twilio::emulator::{Emulator, EmulatorOptions, Inbound};
use switchboard::{Env, Switchboard, SwitchboardBuilder};

/// The application: echo every message.
fn echo(builder: SwitchboardBuilder) -> SwitchboardBuilder {
    builder.on_message(|ctx| async move {
        let text = ctx.event().text().unwrap_or("(no text)").to_owned();
        ctx.reply_text(format!("You said: *{text}*"))?;
        Ok(())
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = std::env::args().nth(1) {
        return Ok(echo(Switchboard::from_config_file(path)?)
            .build()
            .await?
            .serve()
            .await?);
    }
    let twilio = Emulator::start(EmulatorOptions::default()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let c = twilio.options();
    let config = format!(
        r#"
[server]
public_url = "{url}"
[store]
url = "memory:"
[channels.sms]
provider = "twilio"
account_sid = "{}"
auth_token = "{}"
from = "{}"
api_base_url = "{}"
"#,
        c.account_sid,
        c.auth_token,
        c.numbers[0],
        twilio.base_url()
    );
    let switchboard = echo(SwitchboardBuilder::from_config_str(
        &config,
        &Env::process(),
    )?)
    .build()
    .await?;
    let running = switchboard.start(listener)?;

    let inbound = Inbound::text("+15558675310", &c.numbers[0], "Hello, echo!");
    let status = twilio
        .deliver(&format!("{url}/webhooks/sms"), &inbound)
        .await
        .status;
    println!("SMS in → the engine answered Twilio's webhook with {status}");
    for _ in 0..200 {
        if let Some(m) = twilio.messages().first() {
            println!(
                "reply out → Twilio Messages API: To={} Body={:?}",
                m.to.as_deref().unwrap_or("?"),
                m.body.as_deref().unwrap_or("")
            );
            running.shutdown().await?;
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    Err("no reply reached the emulator".into())
}
