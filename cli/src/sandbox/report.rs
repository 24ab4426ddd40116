//! What the emulators recorded: every provider API call, as a short table.

use super::script::token_hint;
use super::world::World;

fn cut(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', "⏎");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}…", one_line.chars().take(n).collect::<String>())
    }
}

pub(crate) fn calls(w: &World) {
    println!("\n── Provider API calls the emulators recorded");
    for c in w.slack.calls() {
        let arg = |k: &str| {
            c.args
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let thread = arg("thread_ts");
        let thread = if thread.is_empty() {
            String::new()
        } else {
            format!(" thread_ts={thread}")
        };
        println!(
            "   slack     {} POST /api/{} channel={}{thread} text=\"{}\"",
            c.status,
            c.method,
            arg("channel"),
            cut(&arg("text"), 48)
        );
    }
    for c in w.meta.calls() {
        let to = c.body["recipient"]["id"].as_str().unwrap_or("");
        let text = c.body["message"]["text"].as_str().unwrap_or("");
        let token = c
            .access_token
            .as_deref()
            .map_or_else(|| "-".to_owned(), token_hint);
        println!(
            "   messenger {} {} {} token={token} recipient={to} text=\"{}\"",
            c.status,
            c.method,
            c.path,
            cut(text, 48)
        );
    }
    for c in w.twilio.calls() {
        println!(
            "   twilio    {} {} {} To={} Body=\"{}\"",
            c.status,
            c.method,
            c.path,
            c.param("To").unwrap_or(""),
            cut(c.param("Body").unwrap_or(""), 48)
        );
    }
    let callbacks = w.twilio.callbacks();
    if !callbacks.is_empty() {
        let statuses: Vec<String> = callbacks
            .iter()
            .map(|c| {
                let status = c
                    .params
                    .iter()
                    .find(|(k, _)| k == "MessageStatus")
                    .map_or("?", |(_, v)| v.as_str());
                format!("{status}→{}", c.status)
            })
            .collect();
        println!(
            "   twilio    {} signed status callbacks to the engine: {}",
            callbacks.len(),
            statuses.join(", ")
        );
    }
}
