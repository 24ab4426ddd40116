//! The support bridge end to end, over real HTTP on 127.0.0.1, with the Slack, Messenger and
//! Twilio emulators and the SQLite store: threads opened and reused, agent replies relayed and
//! rendered, buttons degraded and answered, the bot's own and unrelated messages ignored,
//! delivery failures reported into the thread, and the mapping kept across a restart.
#![cfg(all(
    feature = "emulators",
    feature = "slack",
    feature = "messenger",
    feature = "twilio"
))]
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::bridge::{self, Bridge};
use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions};
use switchboard::slack::emulator::{EmulatedMessage, EmulatorConfig as SlackConfig, SlackEmulator};
use switchboard::twilio::emulator::{Emulator as Twilio, EmulatorConfig as TwilioConfig, Inbound};
use switchboard::{Env, Running, Switchboard};

const AGENTS: &str = "C0AGENTS";
const PSID: &str = "6254710388245291";
const PHONE: &str = "+15558675310";

struct World {
    slack: SlackEmulator,
    meta: Meta,
    twilio: Twilio,
    db: PathBuf,
}

impl World {
    async fn start(name: &str) -> World {
        let slack = SlackEmulator::start_with(SlackConfig {
            channels: vec![AGENTS.to_owned(), "C0GENERAL".to_owned()],
            rate_limit: None,
            retry_delays: vec![Duration::from_millis(50)],
            ..SlackConfig::default()
        })
        .await
        .unwrap();
        let meta = Meta::start(EmulatorOptions::default()).await.unwrap();
        let twilio = Twilio::start(TwilioConfig::default()).await.unwrap();
        let db = std::env::temp_dir().join(format!(
            "switchboard-{name}-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        World {
            slack,
            meta,
            twilio,
            db,
        }
    }

    fn config(&self, port: u16) -> String {
        let t = self.twilio.config();
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[store]
url = "sqlite://{db}"

[engine]
poll_interval = "20ms"
backoff_base = "50ms"
backoff_max = "500ms"

[channels.team]
provider = "slack"
bot_token = "xoxb-emulator-token"
signing_secret = "emulator-signing-secret"
bot_user_id = "U0EMUBOT"
bot_id = "B0EMUBOT"
api_base_url = "{slack}"
rate = {{ per_conversation_per_second = 50.0, per_conversation_burst = 50 }}

[channels.fb]
{meta}
[channels.sms]
provider = "twilio"
account_sid = "{sid}"
auth_token = "{token}"
from = "{from}"
api_base_url = "{twilio}"

[bridge]
agents = "team"
agents_conversation = "{AGENTS}"
customers = ["fb", "sms"]
"#,
            db = self.db.display(),
            slack = self.slack.api_base_url(),
            meta = self.meta.channel_toml(),
            sid = t.account_sid,
            token = t.auth_token,
            from = t.numbers[0],
            twilio = self.twilio.base_url(),
        )
    }

    async fn engine(&self) -> (Switchboard, Running) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (builder, bridge) =
            bridge::from_config_str(&self.config(port), &Env::from_pairs::<_, &str, &str>([]))
                .unwrap();
        let bridge: Bridge = bridge.unwrap();
        let sb = bridge.build(builder).await.unwrap();
        let running = sb.start(listener).unwrap();
        (sb, running)
    }

    fn agents_messages(&self) -> Vec<EmulatedMessage> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.channel == AGENTS)
            .collect()
    }

    fn parents(&self) -> Vec<EmulatedMessage> {
        self.agents_messages()
            .into_iter()
            .filter(|m| m.thread_ts.is_none())
            .collect()
    }

    fn in_thread(&self, ts: &str) -> Vec<EmulatedMessage> {
        self.agents_messages()
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .collect()
    }

    async fn customer_fb(&self, running: &Running, text: &str) {
        let url = format!("{}/webhooks/fb", running.url());
        let d = self
            .meta
            .deliver(&url, &[self.meta.text_item(PSID, text)], 1)
            .await;
        assert_eq!(d[0].status, 200, "{d:?}");
    }

    async fn customer_sms(&self, running: &Running, text: &str) {
        let url = format!("{}/webhooks/sms", running.url());
        let msg = Inbound::text(PHONE, &self.twilio.config().numbers[0], text);
        let (status, _) = self.twilio.deliver_inbound(&url, &msg).await;
        assert_eq!(status, 200);
    }

    async fn slack_event(&self, running: &Running, event: Value) {
        let url = format!("{}/webhooks/team", running.url());
        let body = self.slack.event_callback(event);
        assert!(self.slack.deliver(&url, &body).await.delivered());
    }

    async fn agent(&self, running: &Running, thread: &str, ts: &str, text: &str) {
        self.slack_event(
            running,
            json!({"type": "message", "channel": AGENTS, "user": "U0ALICE", "text": text,
                "ts": ts, "thread_ts": thread, "channel_type": "channel"}),
        )
        .await;
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_agents_talk_through_threads_across_a_restart() {
    let w = World::start("bridge-e2e").await;
    let (sb, running) = w.engine().await;

    // 1. The first customer message opens a thread.
    w.customer_fb(&running, "Hi! Where is my order *1042*?")
        .await;
    eventually("the thread parent", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    assert!(parent.text.contains("New conversation"), "{}", parent.text);
    assert!(parent.text.contains("fb"), "{}", parent.text);
    assert!(parent.text.contains(PSID), "{}", parent.text);
    assert!(parent.text.contains("Where is my order"), "{}", parent.text);

    // 2. The second goes into the same thread.
    w.customer_fb(&running, "It was due Monday.").await;
    eventually("the follow-up in the thread", || async {
        w.in_thread(&parent.ts).len() == 1
    })
    .await;
    assert!(
        w.in_thread(&parent.ts)[0]
            .text
            .contains("It was due Monday.")
    );
    assert_eq!(w.parents().len(), 1, "no second thread");

    // 3. An agent's reply in the thread reaches the customer, rendered for Messenger.
    w.agent(
        &running,
        &parent.ts,
        "1700000100.000100",
        "Sorry! It is *out for delivery* today: <https://example.com/t/1042|track it>",
    )
    .await;
    eventually("the reply on Messenger", || async {
        w.meta.sent().len() == 1
    })
    .await;
    let sent = w.meta.sent()[0].clone();
    assert_eq!(sent.recipient, PSID);
    assert_eq!(
        sent.text(),
        Some("Sorry! It is out for delivery today: track it (https://example.com/t/1042)")
    );

    // 4. The bot's own message, a top-level message and a reply in a foreign thread are ignored.
    w.slack_event(
        &running,
        json!({"type": "message", "subtype": "bot_message", "channel": AGENTS, "bot_id": "B0EMUBOT",
            "user": "U0EMUBOT", "text": "bot talking", "ts": "1700000101.000100",
            "thread_ts": parent.ts, "channel_type": "channel"}),
    )
    .await;
    w.slack_event(
        &running,
        json!({"type": "message", "channel": AGENTS, "user": "U0BOB", "text": "lunch?",
            "ts": "1700000102.000100", "channel_type": "channel"}),
    )
    .await;
    w.agent(
        &running,
        "1600000000.000001",
        "1700000103.000100",
        "elsewhere",
    )
    .await;
    // Then a marker reply, which must be the next thing Messenger gets.
    w.agent(&running, &parent.ts, "1700000104.000100", "marker")
        .await;
    eventually("the marker", || async { w.meta.sent().len() == 2 }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let texts: Vec<String> = w
        .meta
        .sent()
        .iter()
        .map(|s| s.text().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts[1], "marker", "{texts:?}");
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(sb.dead_letters(10).await.unwrap().is_empty());

    // 5. Restart: a new engine and a new bridge on the same SQLite file.
    running.shutdown().await.unwrap();
    drop(sb);
    let (sb, running) = w.engine().await;
    w.customer_fb(&running, "Any news?").await;
    eventually("the follow-up after the restart", || async {
        w.in_thread(&parent.ts).len() == 2
    })
    .await;
    assert!(w.in_thread(&parent.ts)[1].text.contains("Any news?"));
    assert_eq!(w.parents().len(), 1, "the restart kept the thread");
    w.agent(
        &running,
        &parent.ts,
        "1700000200.000100",
        "It arrives at 5pm.",
    )
    .await;
    eventually("the reply after the restart", || async {
        w.meta.sent().len() == 3
    })
    .await;
    assert_eq!(w.meta.sent()[2].text(), Some("It arrives at 5pm."));

    // 6. An SMS customer gets a thread of their own; buttons become numbered options and the
    //    answer "2" comes back into the thread as the button's payload.
    w.customer_sms(&running, "Do you ship to Canada?").await;
    eventually("the SMS thread", || async { w.parents().len() == 2 }).await;
    let sms_parent = w.parents()[1].clone();
    assert!(sms_parent.text.contains(PHONE), "{}", sms_parent.text);
    assert!(sms_parent.text.contains("sms"), "{}", sms_parent.text);
    w.agent(
        &running,
        &sms_parent.ts,
        "1700000300.000100",
        "We do! Which shipping?\n[[Standard|SHIP_STD]] [[Express|SHIP_EXP]]",
    )
    .await;
    eventually("the SMS reply", || async {
        !w.twilio.messages().is_empty()
    })
    .await;
    let body = w.twilio.calls()[0]
        .param("Body")
        .unwrap_or_default()
        .to_owned();
    assert!(body.contains("We do! Which shipping?"), "{body}");
    assert!(body.contains("1. Standard  2. Express"), "{body}");
    w.customer_sms(&running, "2").await;
    eventually("the choice in the thread", || async {
        w.in_thread(&sms_parent.ts)
            .iter()
            .any(|m| m.text.contains("SHIP_EXP"))
    })
    .await;

    // 7. A reply that fails to be delivered comes back into the thread as a notice.
    w.twilio.fail_deliveries_to(PHONE, 30003);
    w.agent(&running, &sms_parent.ts, "1700000301.000100", "Shipped!")
        .await;
    eventually("the failure notice", || async {
        w.in_thread(&sms_parent.ts)
            .iter()
            .any(|m| m.text.contains("Not delivered"))
    })
    .await;
    let notice = w
        .in_thread(&sms_parent.ts)
        .into_iter()
        .find(|m| m.text.contains("Not delivered"))
        .unwrap();
    assert!(notice.text.contains("30003"), "{}", notice.text);
    assert_eq!(w.parents().len(), 2);
    running.shutdown().await.unwrap();
    drop(sb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_is_reported_in_the_thread() {
    let w = World::start("bridge-refused").await;
    let (_sb, running) = w.engine().await;
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    // Twilio answers 21610 (the recipient opted out): PolicyViolation, never retried.
    w.twilio.stage(switchboard::twilio::emulator::Fault::Error {
        status: 400,
        code: 21610,
        message: "Attempt to send to unsubscribed recipient".to_owned(),
    });
    w.agent(&running, &parent.ts, "1700000400.000100", "Hi there")
        .await;
    eventually("the refusal notice", || async {
        w.in_thread(&parent.ts)
            .iter()
            .any(|m| m.text.contains("Not delivered") && m.text.contains("policy_violation"))
    })
    .await;
    running.shutdown().await.unwrap();
}
