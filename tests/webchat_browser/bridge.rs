//! The web chat bridged to Slack, in the browser: the visitor's message opens a thread in the
//! Slack emulator's agents channel, an agent's reply in that thread (a signed Slack event, as
//! Slack delivers it) shows on the page with its button, and the button's payload comes back
//! through the bridge's handler into the thread.

use std::time::Instant;

use serde_json::json;
use switchboard::bridge::{self, Bridge};
use switchboard::slack::emulator::{
    EmulatedMessage, Emulator as SlackEmulator, EmulatorOptions as SlackOptions,
};

use super::*;

/// The Slack channel where the threads are opened.
const AGENTS: &str = "C0AGENTS";

fn config(slack: &str, db: &str, port: u16) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
shutdown_grace = "1s"

[store]
url = "sqlite://{db}"

[engine]
poll_interval = "20ms"
backoff_base = "50ms"
backoff_max = "1s"

[channels.team]
provider = "slack"
bot_token = "xoxb-emulator-token"
signing_secret = "emulator-signing-secret"
bot_user_id = "U0EMUBOT"
bot_id = "B0EMUBOT"
api_base_url = "{slack}"

[channels.site]
provider = "webchat"
allowed_origins = ["http://127.0.0.1:{port}"]

[bridge]
agents = "team"
agents_conversation = "{AGENTS}"
customers = ["site"]
"#
    )
}

/// Waits until `f` finds something in the agents' channel, up to [`WAIT`].
async fn slack_until<T>(
    slack: &SlackEmulator,
    what: &str,
    f: impl Fn(&[EmulatedMessage]) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        let messages: Vec<EmulatedMessage> = slack
            .messages()
            .into_iter()
            .filter(|m| m.channel == AGENTS)
            .collect();
        if let Some(t) = f(&messages) {
            return t;
        }
        assert!(
            start.elapsed() < WAIT,
            "timed out waiting for {what}: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_and_an_agent_in_a_slack_thread_talk_through_the_bridge() {
    let Some((chromium, driver)) = browser_or_skip("webchat_browser") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let slack = SlackEmulator::start(SlackOptions {
        channels: vec![AGENTS.to_owned()],
        rate_limit: None,
        retry_delays: vec![Duration::from_millis(50)],
        ..SlackOptions::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let db = temp("bridge.sqlite").display().to_string();
    let (builder, bridge) = bridge::from_config_str(
        &config(&slack.base_url(), &db, port),
        &Env::from_pairs::<_, &str, &str>([]),
    )
    .unwrap();
    let bridge: Bridge = bridge.unwrap();
    let sb = bridge.build(builder).await.unwrap();
    let running = sb.start(listener).unwrap();

    let driver = Driver::start(&driver).await;
    let browser = Browser::open(&driver, &chromium).await;
    browser
        .goto(&format!("{}/webchat/site/demo", running.url()))
        .await;
    assert!(browser.until(CONNECTED, WAIT).await, "the widget connected");

    // 1. The visitor's message opens a thread in the agents' channel.
    browser
        .type_into(".sbw-input", &format!("Where is my order 1042?{ENTER}"))
        .await;
    let parent = slack_until(&slack, "the thread's parent", |m| {
        m.iter()
            .find(|m| m.thread_ts.is_none() && m.text.contains("Where is my order 1042?"))
            .cloned()
    })
    .await;
    assert!(parent.text.contains("New conversation"), "{}", parent.text);
    assert!(parent.text.contains("site"), "{}", parent.text);
    assert_eq!(parent.bot_id.as_deref(), Some("B0EMUBOT"));

    // 2. An agent answers in the thread, with a button; the page shows it.
    let event = slack.event_callback(json!({
        "type": "message", "channel": AGENTS, "user": "U0ALICE",
        "text": "It left *today*. [[Track it|TRACK_1042]]",
        "ts": "1700000100.000100", "thread_ts": parent.ts, "channel_type": "channel",
    }));
    let url = format!("{}/webhooks/team", running.url());
    assert!(slack.deliver(&url, &event).await.delivered());
    assert!(
        browser.until(&shown_contains("It left today."), WAIT).await,
        "the agent's reply is shown: {}",
        browser.js(SHOWN).await
    );
    assert_eq!(
        browser
            .js("return Array.from(document.querySelectorAll('.sbw-msg strong')).map(function (s) { return s.textContent; })")
            .await,
        json!(["today"]),
        "the agent's mrkdwn bold, as bold"
    );
    browser.screenshot(&artifact("6-bridge-reply.png")).await;

    // 3. The visitor taps the button: its payload reaches the bridge's handler, which posts
    // the choice into the thread.
    browser.click(".sbw-msg .sbw-button").await;
    let choice = slack_until(&slack, "the choice in the thread", |m| {
        m.iter()
            .find(|m| m.thread_ts.as_deref() == Some(&parent.ts) && m.text.contains("TRACK_1042"))
            .cloned()
    })
    .await;
    assert!(choice.text.contains("Track it"), "{}", choice.text);
    assert!(
        browser.until(&shown_contains("Track it"), WAIT).await,
        "the tap is echoed as the visitor's message"
    );
    assert_eq!(
        browser.js(SHOWN).await,
        json!(["Where is my order 1042?", "It left today.", "Track it"]),
        "each message once, in order: the visitor's, the agent's (with its button), the tap"
    );
    browser.screenshot(&artifact("7-bridge-choice.png")).await;
    browser.quit().await;
    running.shutdown().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
}
