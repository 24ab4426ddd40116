//! Quickstart: one piece of application code served on two channels with different abilities.
//!
//! It builds two in-process channels from a TOML config (a rich chat channel and an SMS-like
//! plain-text one, both `provider = "memory"`), sends the same neutral message with markdown and
//! buttons to each, shows what each channel received and what was degraded, then feeds a signed
//! inbound webhook and a tampered one through the adapter. No accounts, no network.
//!
//! Run with: `cargo run --example quickstart`

use std::sync::Arc;

use switchboard::MemoryAdapter;
use switchboard::core::memory::MemoryInbound;
use switchboard::core::render::match_option;
use switchboard::{
    Adapter, ChannelTable, ConversationId, Env, OutboundMessage, Registry, WebhookOutcome,
};

const CONFIG: &str = r#"
[channels.chat]
provider = "memory"
signing_secret = "${CHAT_SECRET}"
markdown = "slack_mrkdwn"
max_buttons = 3

[channels.sms]
provider = "memory"
signing_secret = "${SMS_SECRET}"
markdown = "plain"
text_limit = 160
max_buttons = 0
max_quick_replies = 0
"#;

/// The application's logic: written once, against the neutral model.
fn greeting() -> switchboard::Result<OutboundMessage> {
    OutboundMessage::builder()
        .text("**Welcome!** Your order *#1042* has shipped. See [tracking](https://example.com/t/1042).")
        .button("Where is it?", "TRACK")
        .button("Change address", "ADDRESS")
        .button("Talk to a human", "HUMAN")
        .build()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> switchboard::Result<()> {
    // Secrets come from the environment in real deployments; fixed here.
    let env = Env::from_pairs([("CHAT_SECRET", "chat-secret"), ("SMS_SECRET", "sms-secret")]);
    let registry = Registry::new();
    let mut channels = Vec::new();
    for table in ChannelTable::parse_document(CONFIG, &env)? {
        let name = table.channel().to_string();
        // Build a MemoryAdapter directly so we can read what it recorded; a real app would use
        // `registry.build(table)` and never know which provider serves the channel.
        let memory = MemoryAdapter::from_table(table.clone())?;
        let _same_thing: Arc<dyn Adapter> = registry.build(table)?;
        channels.push((name, memory));
    }

    let message = greeting()?;
    for (name, memory) in &channels {
        let to = switchboard::ConversationRef::new(
            memory.info().channel.clone(),
            ConversationId::new("customer-1")?,
        );
        let receipt = memory.send(&to, &message).await?;
        println!(
            "── channel '{name}' ({} provider message(s))",
            receipt.messages.len()
        );
        for (i, sent) in memory.sent().iter().enumerate() {
            println!("   message {}:\n{}", i + 1, indent(&sent.text));
            let buttons: Vec<&str> = sent.actions.iter().map(|a| a.label()).collect();
            if !buttons.is_empty() {
                println!("   [native buttons: {}]", buttons.join(" | "));
            }
        }
        for d in &receipt.degradations {
            println!("   degraded: {d}");
        }
        // On the SMS channel the buttons became numbered options; the answer "2" maps back.
        if let Some(last) = memory.sent().last().filter(|s| !s.options.is_empty()) {
            let chosen = match_option("2", &last.options).map(|o| o.payload.as_str());
            println!("   customer answers \"2\" → action payload {chosen:?}");
        }
        println!();
    }

    // Inbound: a correctly signed webhook decodes; a tampered one is refused with 401.
    let (_, sms) = &channels[1];
    let request = sms.signed_request(
        "http://127.0.0.1:8080/webhooks/sms",
        &[MemoryInbound::message(
            "ev-1",
            "customer-1",
            "+15550001111",
            "Where is my parcel?",
        )],
    );
    match sms.handle_webhook(&request) {
        WebhookOutcome::Accepted { events, .. } => {
            for e in events {
                println!(
                    "── inbound on 'sms': {} from {}: {:?}",
                    e.kind.name(),
                    e.sender.id,
                    e.text()
                );
            }
        }
        WebhookOutcome::Rejected(r) => println!("unexpected rejection: {r:?}"),
    }
    let mut tampered = request.clone();
    tampered.body = String::from_utf8_lossy(&request.body)
        .replace("parcel", "money")
        .into();
    let response = sms.handle_webhook(&tampered).response();
    println!(
        "── tampered webhook answered {} ({})",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
