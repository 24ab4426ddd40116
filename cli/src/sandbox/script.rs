//! The scripted conversation: two customers, one agent, every message a real signed webhook,
//! every reply a real provider API call (to the emulators).

use std::time::Duration;

use switchboard::Running;

use super::world::{AGENT, AGENTS, PAGE_B, PAGE_B_TOKEN, World, wait_for};
use crate::outcome::Failure;

pub(crate) const ANNA: &str = "6254710388245291";
pub(crate) const BEN: &str = "+15558675310";
pub(crate) const CARL: &str = "7254710388245299";

/// The start of a token, enough to tell tokens apart in the output.
pub(crate) fn token_hint(token: &str) -> String {
    format!("{}…", token.chars().take(10).collect::<String>())
}

fn show(label: &str, text: &str) {
    let mut lines = text.lines();
    println!("   {label}{}", lines.next().unwrap_or_default());
    let pad = " ".repeat(label.chars().count());
    for l in lines {
        println!("   {pad}{l}");
    }
}

fn step(n: u32, what: &str) {
    println!("\n{n:>2}. {what}");
}

/// Fails the sandbox unless `ok`: what was seen is checked, not only printed.
fn expect(ok: bool, what: &str, seen: &str) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(Failure::Runtime(format!(
            "the sandbox expected {what}, got: {seen:?}"
        )))
    }
}

/// Plays the script against a running engine; returns the engine to keep (it is restarted once).
pub(crate) async fn play(
    w: &World,
    mut running: Running,
) -> Result<(switchboard::Switchboard, Running), Failure> {
    step(1, "A Messenger customer writes to the Page");
    let text = "Hi! My order #1042 hasn't arrived. Can you check?";
    show(&format!("Messenger {ANNA} → fb: "), text);
    w.messenger_customer(&running, ANNA, text).await?;
    let t1 = wait_for("the first thread in Slack", || w.parents().first().cloned()).await?;
    show(
        &format!("Slack #{AGENTS}, new thread {}: ", t1.ts),
        &t1.text,
    );
    expect(
        t1.text.contains("_fb_") && t1.text.contains(ANNA) && t1.text.contains(text),
        "a parent naming the channel and the customer, with the text",
        &t1.text,
    )?;

    step(2, "An SMS customer asks something too");
    let text = "Hello, do you ship to Canada?";
    show(&format!("SMS {BEN} → sms: "), text);
    w.sms_customer(&running, BEN, text).await?;
    let t2 = wait_for("the second thread in Slack", || w.parents().get(1).cloned()).await?;
    show(
        &format!("Slack #{AGENTS}, new thread {}: ", t2.ts),
        &t2.text,
    );

    step(3, "The Messenger customer writes again: same thread");
    let text = "It was supposed to come on Monday.";
    show(&format!("Messenger {ANNA} → fb: "), text);
    w.messenger_customer(&running, ANNA, text).await?;
    let m = wait_for("the follow-up in thread 1", || {
        w.in_thread(&t1.ts).first().cloned()
    })
    .await?;
    show(&format!("Slack thread {}: ", t1.ts), &m.text);

    step(
        4,
        "An agent answers in the Messenger customer's thread (Slack mrkdwn)",
    );
    let text = "Sorry about that! It is *out for delivery* today: <https://example.com/track/1042|track it>";
    show(&format!("Slack {AGENT} in thread {}: ", t1.ts), text);
    w.agent(&running, Some(&t1.ts), text).await?;
    let sent = wait_for("the reply on Messenger", || {
        w.meta.messages().first().cloned()
    })
    .await?;
    show(
        &format!("Messenger → {} (plain text): ", sent.recipient),
        sent.text().unwrap_or("(no text)"),
    );
    expect(
        sent.recipient == ANNA
            && sent.text()
                == Some(
                    "Sorry about that! It is out for delivery today: track it (https://example.com/track/1042)",
                ),
        "the reply to the Messenger customer, mrkdwn made plain",
        sent.text().unwrap_or_default(),
    )?;

    step(
        5,
        "An agent answers the SMS customer with buttons: SMS has none",
    );
    let text = "We do! Which shipping do you prefer?\n[[Standard, 5 days|SHIP_STANDARD]] [[Express, 2 days|SHIP_EXPRESS]]";
    show(&format!("Slack {AGENT} in thread {}: ", t2.ts), text);
    w.agent(&running, Some(&t2.ts), text).await?;
    let sms = wait_for("the reply by SMS", || w.twilio.messages().first().cloned()).await?;
    show(
        &format!("SMS → {}: ", sms.to.as_deref().unwrap_or("?")),
        sms.body.as_deref().unwrap_or(""),
    );
    let body = sms.body.as_deref().unwrap_or_default();
    expect(
        sms.to.as_deref() == Some(BEN)
            && body.contains("We do!")
            && body.contains("1. Standard, 5 days  2. Express, 2 days"),
        "the buttons as numbered options by SMS",
        body,
    )?;

    step(
        6,
        "The SMS customer answers \"2\": it comes back as the button's payload",
    );
    show(&format!("SMS {BEN} → sms: "), "2");
    w.sms_customer(&running, BEN, "2").await?;
    let choice = wait_for("the choice in thread 2", || {
        w.in_thread(&t2.ts)
            .into_iter()
            .find(|m| m.text.contains("SHIP_EXPRESS"))
    })
    .await?;
    show(&format!("Slack thread {}: ", t2.ts), &choice.text);

    step(
        7,
        "The bot's own message and a message outside the threads are ignored",
    );
    w.bot_echo(&running, &t1.ts).await?;
    w.agent(&running, None, "Lunch, anyone?").await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let relayed = w.meta.messages().len() + w.twilio.messages().len();
    if relayed != 2 {
        return Err(Failure::Runtime(format!(
            "an ignored message was relayed ({relayed} customer messages instead of 2)"
        )));
    }
    println!(
        "   Slack bot echo in thread {} and a top-level \"Lunch, anyone?\": nothing relayed",
        t1.ts
    );

    step(
        8,
        "The engine restarts; the thread mapping is in the SQLite file",
    );
    running.shutdown().await?;
    let (switchboard, restarted) = w.engine().await?;
    running = restarted;
    println!("   engine restarted at {}", running.url());
    let text = "Thanks! Will it need a signature?";
    show(&format!("Messenger {ANNA} → fb: "), text);
    w.messenger_customer(&running, ANNA, text).await?;
    let m = wait_for("the follow-up in thread 1 after the restart", || {
        w.in_thread(&t1.ts).get(1).cloned()
    })
    .await?;
    show(&format!("Slack thread {} (the same one): ", t1.ts), &m.text);
    expect(
        w.parents().len() == 2,
        "no new thread after the restart",
        &format!("{} threads", w.parents().len()),
    )?;

    step(9, "A reply the carrier cannot deliver: the thread is told");
    w.twilio.fail_deliveries_to(BEN, 30003);
    let text = "Express it is. The tracking link follows by SMS.";
    show(&format!("Slack {AGENT} in thread {}: ", t2.ts), text);
    w.agent(&running, Some(&t2.ts), text).await?;
    let notice = wait_for("the failure notice in thread 2", || {
        w.in_thread(&t2.ts)
            .into_iter()
            .find(|m| m.text.contains("Not delivered"))
    })
    .await?;
    show(&format!("Slack thread {}: ", t2.ts), &notice.text);
    expect(
        notice.text.contains("30003"),
        "the carrier's error code in the notice",
        &notice.text,
    )?;

    step(
        10,
        "A visitor on the shop's own web chat: a customer like any other",
    );
    let text = "Hi, is the Lyon store open on Sunday?";
    show("Web visitor → web: ", text);
    w.web_customer(&running, text).await?;
    let t3 = wait_for("the web visitor's thread in Slack", || {
        w.parents().get(2).cloned()
    })
    .await?;
    show(
        &format!("Slack #{AGENTS}, new thread {}: ", t3.ts),
        &t3.text,
    );
    expect(
        t3.text.contains("_web_") && t3.text.contains(text),
        "a parent naming the web channel, with the text",
        &t3.text,
    )?;
    let text = "Yes, 10:00 to 18:00. [[Directions|DIRECTIONS]]";
    show(&format!("Slack {AGENT} in thread {}: ", t3.ts), text);
    w.agent(&running, Some(&t3.ts), text).await?;
    let reply = w
        .web_wait(&running, "the agent's reply on the web chat", |records| {
            records
                .iter()
                .find(|r| r["data"]["from"]["role"] == "agent")
                .cloned()
        })
        .await?;
    let data = &reply["data"];
    show(
        &format!("Web → visitor (event {}, agent): ", reply["seq"]),
        &format!(
            "{} [button {}]",
            data["text"].as_str().unwrap_or(""),
            data["buttons"][0]["label"].as_str().unwrap_or("?")
        ),
    );
    expect(
        data["text"] == "Yes, 10:00 to 18:00." && data["buttons"][0]["payload"] == "DIRECTIONS",
        "the agent's reply with a native button",
        &data.to_string(),
    )?;
    show("Web visitor taps: ", "Directions");
    w.web_tap(&running, "Directions", "DIRECTIONS").await?;
    let tapped = wait_for("the tap in thread 3", || {
        w.in_thread(&t3.ts)
            .into_iter()
            .find(|m| m.text.contains("DIRECTIONS"))
    })
    .await?;
    show(&format!("Slack thread {}: ", t3.ts), &tapped.text);

    second_page(w, &running).await?;
    Ok((switchboard, running))
}

/// Step 11: the Messenger channel serves a second Page with its own token; its customer's
/// conversation names the Page, and the agent's reply leaves with that Page's token.
async fn second_page(w: &World, running: &Running) -> Result<(), Failure> {
    step(
        11,
        "A customer of the shop's second Facebook Page: same channel, that Page's own token",
    );
    let text = "Bonjour, do you have the blue one in size 40?";
    show(&format!("Messenger {CARL} → fb (Page {PAGE_B}): "), text);
    w.messenger_customer_on(running, PAGE_B, CARL, text).await?;
    let t4 = wait_for("the second Page's thread in Slack", || {
        w.parents().get(3).cloned()
    })
    .await?;
    show(
        &format!("Slack #{AGENTS}, new thread {}: ", t4.ts),
        &t4.text,
    );
    expect(
        t4.text.contains("_fb_") && t4.text.contains(CARL),
        "a parent naming the channel and the customer",
        &t4.text,
    )?;
    let text = "We do! I put one aside for you.";
    show(&format!("Slack {AGENT} in thread {}: ", t4.ts), text);
    w.agent(running, Some(&t4.ts), text).await?;
    let sent = wait_for("the reply from the second Page", || {
        w.meta.messages().into_iter().find(|m| m.recipient == CARL)
    })
    .await?;
    let call = w
        .meta
        .calls()
        .into_iter()
        .find(|c| c.response["message_id"] == sent.message_id.as_str());
    let token = call.as_ref().and_then(|c| c.access_token.clone());
    show(
        &format!(
            "Messenger Page {} → {CARL} (token {}): ",
            sent.page_id,
            token.as_deref().map_or_else(|| "?".to_owned(), token_hint)
        ),
        sent.text().unwrap_or("(no text)"),
    );
    expect(
        sent.page_id == PAGE_B && token.as_deref() == Some(PAGE_B_TOKEN),
        "the reply sent by the second Page with its own token",
        &format!("{} {token:?}", sent.page_id),
    )
}
