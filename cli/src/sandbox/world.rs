//! The sandbox's world: three provider emulators on 127.0.0.1, a web chat visitor, a
//! temporary SQLite file, and the engine with the support bridge configured to talk to them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::bridge;
use switchboard::messenger::emulator::{EmulatedPage, Emulator as Meta, EmulatorOptions};
use switchboard::slack::emulator::{
    EmulatedMessage, Emulator as SlackEmulator, EmulatorOptions as SlackOptions,
};
use switchboard::twilio::emulator::{
    Emulator as Twilio, EmulatorOptions as TwilioOptions, Inbound,
};
use switchboard::{Env, Running, Switchboard};

use crate::outcome::Failure;

/// The Slack channel id where the agents' threads are opened.
pub(crate) const AGENTS: &str = "C0AGENTS";
/// The Slack user who plays the agent.
pub(crate) const AGENT: &str = "U0ALICE";
/// The shop's second Facebook Page, served by the same Messenger channel with its own token.
pub(crate) const PAGE_B: &str = "2041337099990002";
/// The second Page's access token (the emulator accepts it for that Page only).
pub(crate) const PAGE_B_TOKEN: &str = "EAAsecondPageToken";

pub(crate) struct World {
    pub(crate) slack: SlackEmulator,
    pub(crate) meta: Meta,
    pub(crate) twilio: Twilio,
    pub(crate) db: PathBuf,
    /// The config the engine runs with (written next to the database for `send` and `check`).
    pub(crate) config_path: PathBuf,
    next_ts: std::sync::atomic::AtomicU64,
    /// The web chat visitor: a protocol client and its session token.
    web: reqwest::Client,
    web_token: std::sync::Mutex<Option<String>>,
}

fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

impl World {
    pub(crate) async fn start() -> Result<World, Failure> {
        let slack = SlackEmulator::start(SlackOptions {
            channels: vec![AGENTS.to_owned(), "C0GENERAL".to_owned()],
            rate_limit: None,
            retry_delays: vec![Duration::from_millis(100)],
            ..SlackOptions::default()
        })
        .await
        .map_err(runtime)?;
        let meta = Meta::start(EmulatorOptions {
            other_pages: vec![EmulatedPage::new(PAGE_B, "Second Shop", PAGE_B_TOKEN)],
            ..EmulatorOptions::default()
        })
        .await
        .map_err(runtime)?;
        let twilio = Twilio::start(TwilioOptions::default())
            .await
            .map_err(runtime)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let base = std::env::temp_dir().join(format!(
            "switchboard-sandbox-{}-{stamp}",
            std::process::id()
        ));
        Ok(World {
            slack,
            meta,
            twilio,
            db: base.with_extension("db"),
            config_path: base.with_extension("toml"),
            next_ts: std::sync::atomic::AtomicU64::new(1),
            web: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(runtime)?,
            web_token: std::sync::Mutex::new(None),
        })
    }

    /// The engine's config for a server on `port`.
    pub(crate) fn config(&self, port: u16) -> String {
        let t = self.twilio.options();
        format!(
            r#"# The sandbox's config: every provider is an emulator on 127.0.0.1.
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[store]
url = "sqlite://{db}"

[engine]
poll_interval = "20ms"
backoff_base = "100ms"
backoff_max = "2s"

[channels.team]
provider = "slack"
bot_token = "xoxb-emulator-token"
signing_secret = "emulator-signing-secret"
bot_user_id = "U0EMUBOT"
bot_id = "B0EMUBOT"
api_base_url = "{slack}"
rate = {{ per_conversation_per_second = 20.0, per_conversation_burst = 20 }}

[channels.fb]
{meta}
[channels.sms]
provider = "twilio"
account_sid = "{sid}"
auth_token = "{token}"
from = "{from}"
api_base_url = "{twilio}"

[channels.web]
provider = "webchat"
allowed_origins = ["http://127.0.0.1:{port}"]

[bridge]
agents = "team"
agents_conversation = "{AGENTS}"
customers = ["fb", "sms", "web"]
"#,
            db = self.db.display(),
            slack = self.slack.base_url(),
            meta = self.meta.channel_toml(),
            sid = t.account_sid,
            token = t.auth_token,
            from = t.numbers[0],
            twilio = self.twilio.base_url(),
        )
    }

    /// Builds the engine with the bridge and serves it on a free port.
    pub(crate) async fn engine(&self) -> Result<(Switchboard, Running), Failure> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(runtime)?;
        let port = listener.local_addr().map_err(runtime)?.port();
        let config = self.config(port);
        std::fs::write(&self.config_path, &config).map_err(runtime)?;
        let (builder, bridge) =
            bridge::from_config_str(&config, &Env::from_pairs::<_, &str, &str>([]))?;
        let bridge = bridge.ok_or_else(|| Failure::Runtime("the sandbox has no bridge".into()))?;
        let switchboard = bridge.build(builder).await?;
        let running = switchboard.start(listener)?;
        Ok((switchboard, running))
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

    /// A Messenger user writes to the (first) Page (a signed webhook, as Meta sends it).
    pub(crate) async fn messenger_customer(
        &self,
        running: &Running,
        psid: &str,
        text: &str,
    ) -> Result<(), Failure> {
        let page = self.meta.options().page_id.clone();
        self.messenger_customer_on(running, &page, psid, text).await
    }

    /// A Messenger user writes to Page `page` of the channel.
    pub(crate) async fn messenger_customer_on(
        &self,
        running: &Running,
        page: &str,
        psid: &str,
        text: &str,
    ) -> Result<(), Failure> {
        let url = format!("{}/webhooks/fb", running.url());
        let item = self.meta.page(page).text_item(psid, text);
        let d = self.meta.deliver(&url, &[item], 1).await;
        match d.first().map(|d| d.status) {
            Some(200) => Ok(()),
            other => Err(Failure::Runtime(format!(
                "the engine answered Meta's webhook with {other:?}"
            ))),
        }
    }

    /// An SMS arrives at the account's number (a signed webhook, as Twilio sends it).
    pub(crate) async fn sms_customer(
        &self,
        running: &Running,
        from: &str,
        text: &str,
    ) -> Result<(), Failure> {
        let url = format!("{}/webhooks/sms", running.url());
        let msg = Inbound::text(from, &self.twilio.options().numbers[0], text);
        let delivery = self.twilio.deliver(&url, &msg).await;
        match delivery.status {
            200 => Ok(()),
            status => Err(Failure::Runtime(format!(
                "the engine answered Twilio's webhook with {status} {}",
                delivery.answer
            ))),
        }
    }

    /// A Slack event (signed, with Slack's retries) to the agents' channel.
    pub(crate) async fn slack_event(&self, running: &Running, event: Value) -> Result<(), Failure> {
        let url = format!("{}/webhooks/team", running.url());
        let body = self.slack.event_callback(event);
        if self.slack.deliver(&url, &body).await.delivered() {
            Ok(())
        } else {
            Err(Failure::Runtime("the engine refused a Slack event".into()))
        }
    }

    /// A fresh Slack `ts`.
    pub(crate) fn ts(&self) -> String {
        let n = self
            .next_ts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!("{secs}.{n:06}")
    }

    /// The agent writes `text` in `thread` (or at the top level with `None`).
    pub(crate) async fn agent(
        &self,
        running: &Running,
        thread: Option<&str>,
        text: &str,
    ) -> Result<(), Failure> {
        let mut event = json!({"type": "message", "channel": AGENTS, "user": AGENT, "text": text,
            "ts": self.ts(), "channel_type": "channel"});
        if let Some(t) = thread {
            event["thread_ts"] = json!(t);
        }
        self.slack_event(running, event).await
    }

    /// The bot's own message in `thread`, as Slack echoes it.
    pub(crate) async fn bot_echo(&self, running: &Running, thread: &str) -> Result<(), Failure> {
        let event = json!({"type": "message", "subtype": "bot_message", "channel": AGENTS,
            "bot_id": "B0EMUBOT", "user": "U0EMUBOT", "text": "(the bot's own message)",
            "ts": self.ts(), "thread_ts": thread, "channel_type": "channel"});
        self.slack_event(running, event).await
    }
}

/// The web chat visitor: a client of the protocol (adapters/webchat/PROTOCOL.md), as the
/// widget is.
impl World {
    fn web_url(running: &Running, path: &str) -> String {
        format!("{}/webchat/web/{path}", running.url())
    }

    /// The visitor's session token (opened on first use, kept across engine restarts: the
    /// token key is in the store).
    async fn web_session(&self, running: &Running) -> Result<String, Failure> {
        if let Some(t) = self.web_token.lock().ok().and_then(|t| t.clone()) {
            return Ok(t);
        }
        let r = self
            .web
            .post(World::web_url(running, "sessions"))
            .header("content-type", "application/json")
            .body(r#"{"name": "Chloé"}"#)
            .send()
            .await
            .map_err(runtime)?;
        let v: Value = r.json().await.map_err(runtime)?;
        let token = v["token"]
            .as_str()
            .ok_or_else(|| Failure::Runtime(format!("no web chat session: {v}")))?
            .to_owned();
        if let Ok(mut t) = self.web_token.lock() {
            *t = Some(token.clone());
        }
        Ok(token)
    }

    /// The visitor posts `body` (a message or an action) with a fresh `client_id`.
    async fn web_post(&self, running: &Running, mut body: Value) -> Result<(), Failure> {
        let token = self.web_session(running).await?;
        body["client_id"] = json!(format!("sandbox-{}", self.ts().replace('.', "-")));
        let r = self
            .web
            .post(World::web_url(running, "messages"))
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .map_err(runtime)?;
        match r.status().as_u16() {
            202 => Ok(()),
            s => Err(Failure::Runtime(format!(
                "the engine answered the web visitor's message with {s}"
            ))),
        }
    }

    /// The web visitor writes `text` on the site's chat.
    pub(crate) async fn web_customer(&self, running: &Running, text: &str) -> Result<(), Failure> {
        self.web_post(running, json!({ "text": text })).await
    }

    /// The web visitor taps a button.
    pub(crate) async fn web_tap(
        &self,
        running: &Running,
        label: &str,
        payload: &str,
    ) -> Result<(), Failure> {
        let action = json!({ "payload": payload, "label": label, "source": "button" });
        self.web_post(running, json!({ "action": action })).await
    }

    /// The records of the visitor's conversation (`GET messages`), oldest first.
    pub(crate) async fn web_log(&self, running: &Running) -> Result<Vec<Value>, Failure> {
        let token = self.web_session(running).await?;
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let r = self
                .web
                .get(World::web_url(running, &format!("messages?after={after}")))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(runtime)?;
            let v: Value = r.json().await.map_err(runtime)?;
            let records = v["records"].as_array().cloned().unwrap_or_default();
            if records.is_empty() {
                return Ok(all);
            }
            after = v["last_seq"].as_u64().unwrap_or(after);
            all.extend(records);
        }
    }

    /// Polls the visitor's log until `f` finds something, for up to 10 seconds.
    pub(crate) async fn web_wait<T>(
        &self,
        running: &Running,
        what: &str,
        f: impl Fn(&[Value]) -> Option<T>,
    ) -> Result<T, Failure> {
        let start = Instant::now();
        loop {
            if let Some(v) = f(&self.web_log(running).await?) {
                return Ok(v);
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(Failure::Runtime(format!(
                    "the sandbox timed out waiting for {what}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
        let _ = std::fs::remove_file(&self.config_path);
    }
}

/// Polls `f` until it gives `Some`, for up to 10 seconds.
pub(crate) async fn wait_for<T>(
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, Failure> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(Failure::Runtime(format!(
                "the sandbox timed out waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
