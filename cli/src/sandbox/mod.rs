//! `switchboard sandbox`: the whole system on one machine, no accounts.

mod report;
mod script;
mod world;

use std::time::Duration;

use switchboard::{ChannelName, Running, Switchboard};

use crate::outcome::Failure;
use world::{AGENTS, World};

/// One line per channel: its provider and the webhook URL to give the provider.
pub(crate) fn webhook_lines(
    switchboard: &Switchboard,
    base: &str,
    names: &[String],
) -> Vec<String> {
    let base = base.trim_end_matches('/');
    names
        .iter()
        .filter_map(|name| {
            let channel = ChannelName::new(name).ok()?;
            let adapter = switchboard.adapter(&channel)?;
            Some(format!(
                "channel {name} ({}): webhooks at {base}/webhooks/{name}",
                adapter.info().provider
            ))
        })
        .collect()
}

pub(crate) async fn run(interactive: bool) -> Result<(), Failure> {
    let w = World::start().await?;
    let (switchboard, running) = w.engine().await?;
    println!(
        "Switchboard sandbox: Slack, Messenger and Twilio are emulated on 127.0.0.1; the web chat is the engine's own."
    );
    println!(
        "Nothing leaves this machine; every message below is a signed webhook or an API call."
    );
    println!(
        "   engine     {}   (store: sqlite://{})",
        running.url(),
        w.db.display()
    );
    println!(
        "   slack      http://{}   channel 'team', agents work in #{AGENTS}",
        w.slack.addr()
    );
    println!(
        "   messenger  {}   channel 'fb': two Pages, {} and {} (each with its own token)",
        w.meta.base_url(),
        w.meta.options().page_id,
        world::PAGE_B
    );
    println!("   twilio     {}   channel 'sms'", w.twilio.base_url());
    println!(
        "   web chat   {}/webchat/web/demo   channel 'web' (served by the engine)",
        running.url()
    );
    println!("\n── Conversation");
    let (switchboard, running) = match script::play(&w, running).await {
        Ok(pair) => {
            drop(switchboard);
            pair
        }
        Err(e) => {
            report::calls(&w);
            return Err(e);
        }
    };
    report::calls(&w);
    let stats = switchboard.stats().await?;
    let dead = switchboard.dead_letters(100).await?;
    println!(
        "\n── Engine: {} events handled, {} messages sent, {} dead letters",
        stats.inbox_done,
        stats.outbox_sent,
        dead.len()
    );
    for d in &dead {
        println!("   dead letter {}: {}", d.key, d.error);
    }
    if !dead.is_empty() {
        let _ = running.shutdown().await;
        return Err(Failure::Runtime(
            "the sandbox expected no dead letters".to_owned(),
        ));
    }
    if interactive {
        interact(&w, &switchboard, running).await
    } else {
        running.shutdown().await?;
        println!("\nSandbox OK: every step happened as scripted (each one was checked).");
        Ok(())
    }
}

async fn interact(w: &World, switchboard: &Switchboard, running: Running) -> Result<(), Failure> {
    let names = ["team", "fb", "sms", "web"].map(str::to_owned);
    println!("\n── Interactive: the sandbox keeps running (Ctrl-C or 'quit' stops it)");
    for line in webhook_lines(switchboard, &running.url(), &names) {
        println!("   {line}");
    }
    println!(
        "   web chat demo page: {}/webchat/web/demo (open it in a browser)",
        running.url()
    );
    println!("   config: {}", w.config_path.display());
    println!(
        "   try:    switchboard send --config {} --channel sms --to {} 'Hello from the CLI'",
        w.config_path.display(),
        script::BEN
    );
    println!("\nType a line:");
    println!("   fb TEXT          the Messenger customer writes (first Page)");
    println!("   fb2 TEXT         a customer of the second Page writes");
    println!("   sms TEXT         the SMS customer writes");
    println!("   web TEXT         the web chat visitor writes");
    println!(
        "   agent N TEXT     the agent answers in thread N (1, 2, …); [[Label|PAYLOAD]] adds a button"
    );
    println!("   threads          list the threads");
    println!("   quit");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut web_seen = w.web_log(&running).await.map_or(0, |l| l.len());
    loop {
        let seen = activity(w);
        let line = tokio::select! {
            line = rx.recv() => line,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(line) = line else { break };
        let line = line.trim();
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let result = match cmd {
            "" => continue,
            "quit" | "exit" => break,
            "fb" => w.messenger_customer(&running, script::ANNA, rest).await,
            "fb2" => {
                w.messenger_customer_on(&running, world::PAGE_B, script::CARL, rest)
                    .await
            }
            "sms" => w.sms_customer(&running, script::BEN, rest).await,
            "web" => w.web_customer(&running, rest).await,
            "agent" => {
                let (n, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let parents = w.parents();
                match n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| parents.get(n.wrapping_sub(1)))
                {
                    Some(p) => w.agent(&running, Some(&p.ts), text).await,
                    None => {
                        println!("   no thread {n} (there are {})", parents.len());
                        continue;
                    }
                }
            }
            "threads" => {
                for (i, p) in w.parents().iter().enumerate() {
                    println!(
                        "   {}. {} {}",
                        i + 1,
                        p.ts,
                        p.text.lines().next().unwrap_or("")
                    );
                }
                continue;
            }
            other => {
                println!("   unknown command '{other}'");
                continue;
            }
        };
        if let Err(e) = result {
            println!("   {e}");
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        print_new(w, seen);
        if let Ok(log) = w.web_log(&running).await {
            for r in log.iter().skip(web_seen) {
                let d = &r["data"];
                if d["from"]["role"] != "visitor" {
                    println!(
                        "   Web → visitor ({}): {}",
                        d["from"]["role"].as_str().unwrap_or("?"),
                        d["text"].as_str().unwrap_or("(no text)")
                    );
                }
            }
            web_seen = log.len();
        }
    }
    running.shutdown().await?;
    Ok(())
}

/// How many messages each emulator holds.
fn activity(w: &World) -> (usize, usize, usize) {
    (
        w.agents_messages().len(),
        w.meta.messages().len(),
        w.twilio.messages().len(),
    )
}

fn print_new(w: &World, (slack, meta, twilio): (usize, usize, usize)) {
    for m in w.agents_messages().iter().skip(slack) {
        let place = m
            .thread_ts
            .as_deref()
            .map_or_else(|| format!("new thread {}", m.ts), |t| format!("thread {t}"));
        println!(
            "   Slack #{AGENTS} {place}: {}",
            m.text.replace('\n', "\n      ")
        );
    }
    for m in w.meta.messages().iter().skip(meta) {
        println!(
            "   Messenger Page {} → {}: {}",
            m.page_id,
            m.recipient,
            m.text().unwrap_or("(attachment)")
        );
    }
    for m in w.twilio.messages().iter().skip(twilio) {
        println!(
            "   SMS → {}: {}",
            m.to.as_deref().unwrap_or("?"),
            m.body.as_deref().unwrap_or("").replace('\n', "\n      ")
        );
    }
}
