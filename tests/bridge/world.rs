//! The bridge tests' world: the Slack, Messenger and Twilio emulators on 127.0.0.1, an engine
//! with the bridge on a temporary SQLite file (restartable), and the people who write to it.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::bridge::{self, Bridge};
use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions};
use switchboard::slack::emulator::{
    EmulatedMessage, Emulator as SlackEmulator, EmulatorOptions as SlackOptions,
};
use switchboard::twilio::emulator::{
    Emulator as Twilio, EmulatorOptions as TwilioOptions, Inbound,
};
use switchboard::{Env, Running, Switchboard, SwitchboardBuilder};

pub(crate) const AGENTS: &str = "C0AGENTS";
pub(crate) const PSID: &str = "6254710388245291";
pub(crate) const PHONE: &str = "+15558675310";

pub(crate) struct World {
    pub(crate) slack: SlackEmulator,
    pub(crate) meta: Meta,
    pub(crate) twilio: Twilio,
    db: PathBuf,
    /// `[engine] backoff_base` (`"50ms"` unless a test needs retries spread out).
    pub(crate) backoff_base: &'static str,
}

impl World {
    pub(crate) async fn start(name: &str) -> World {
        let slack = SlackEmulator::start(SlackOptions {
            channels: vec![AGENTS.to_owned(), "C0GENERAL".to_owned()],
            rate_limit: None,
            retry_delays: vec![Duration::from_millis(50)],
            ..SlackOptions::default()
        })
        .await
        .unwrap();
        let meta = Meta::start(EmulatorOptions::default()).await.unwrap();
        let twilio = Twilio::start(TwilioOptions::default()).await.unwrap();
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
            backoff_base: "50ms",
        }
    }

    pub(crate) fn config(&self, port: u16) -> String {
        let t = self.twilio.options();
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[store]
url = "sqlite://{db}"

[engine]
poll_interval = "20ms"
backoff_base = "{backoff}"
backoff_max = "2s"
send_attempts = 3

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
            backoff = self.backoff_base,
            slack = self.slack.base_url(),
            meta = self.meta.channel_toml(),
            sid = t.account_sid,
            token = t.auth_token,
            from = t.numbers[0],
            twilio = self.twilio.base_url(),
        )
    }

    pub(crate) async fn engine(&self) -> (Switchboard, Running) {
        self.engine_with(|builder| builder).await
    }

    /// The engine with the bridge and what `extra` adds to its builder (handlers, the gateway,
    /// other plugins).
    pub(crate) async fn engine_with(
        &self,
        extra: impl FnOnce(SwitchboardBuilder) -> SwitchboardBuilder,
    ) -> (Switchboard, Running) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (builder, bridge) =
            bridge::from_config_str(&self.config(port), &Env::from_pairs::<_, &str, &str>([]))
                .unwrap();
        let bridge: Bridge = bridge.unwrap();
        let sb = bridge.build(extra(builder)).await.unwrap();
        let running = sb.start(listener).unwrap();
        (sb, running)
    }

    pub(crate) fn agents_messages(&self) -> Vec<EmulatedMessage> {
        self.slack
            .messages()
            .into_iter()
            .filter(|m| m.channel == AGENTS)
            .collect()
    }

    pub(crate) fn parents(&self) -> Vec<EmulatedMessage> {
        self.agents_messages()
            .into_iter()
            .filter(|m| m.thread_ts.is_none())
            .collect()
    }

    pub(crate) fn in_thread(&self, ts: &str) -> Vec<EmulatedMessage> {
        self.agents_messages()
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .collect()
    }

    pub(crate) async fn customer_fb(&self, running: &Running, text: &str) {
        let url = format!("{}/webhooks/fb", running.url());
        let d = self
            .meta
            .deliver(&url, &[self.meta.text_item(PSID, text)], 1)
            .await;
        assert_eq!(d[0].status, 200, "{d:?}");
    }

    pub(crate) async fn customer_sms(&self, running: &Running, text: &str) {
        let url = format!("{}/webhooks/sms", running.url());
        let msg = Inbound::text(PHONE, &self.twilio.options().numbers[0], text);
        let status = self.twilio.deliver(&url, &msg).await.status;
        assert_eq!(status, 200);
    }

    pub(crate) async fn slack_event(&self, running: &Running, event: Value) {
        let url = format!("{}/webhooks/team", running.url());
        let body = self.slack.event_callback(event);
        assert!(self.slack.deliver(&url, &body).await.delivered());
    }

    pub(crate) async fn agent(&self, running: &Running, thread: &str, ts: &str, text: &str) {
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

pub(crate) async fn eventually<F, Fut>(what: &str, mut f: F)
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
