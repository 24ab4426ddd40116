//! The engine against the three provider emulators, over real HTTP on 127.0.0.1: a channel
//! built from a config document, a signed webhook delivered by the emulator to the running
//! server, the handler's reply recorded by the emulator; and a retry storm per provider (the
//! same signed webhook delivered 4 times, two of them concurrently → one handler run, one reply).
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::core::model::DeliveryStatus;
use switchboard::messenger::emulator::{Emulator as MessengerEmulator, EmulatorOptions};
use switchboard::slack::emulator::{Emulator as SlackEmulator, EmulatorOptions as SlackOptions};
use switchboard::store::OutboxState;
use switchboard::twilio::emulator::{
    Emulator as TwilioEmulator, EmulatorOptions as TwilioEmulatorOptions, Inbound,
};
use switchboard::{Env, Running, Switchboard, SwitchboardBuilder, WebhookRequest};

const TWILIO_FROM: &str = "+15005550006";

/// Polls `f` until it is true or `timeout` passes.
async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

fn sqlite_url(name: &str) -> (String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-emu-{name}-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    (format!("sqlite://{}/engine.db", dir.display()), dir)
}

fn fastrand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A config document for one channel: the server's public URL is the listener's address (so
/// Twilio signatures and status callbacks use it), fast polling, the given store.
fn config(public_url: &str, store_url: &str, channel: &str, channel_keys: &str) -> String {
    format!(
        "[server]\npublic_url = \"{public_url}\"\n\n[store]\nurl = \"{store_url}\"\n\n\
         [engine]\npoll_interval = \"20ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"200ms\"\n\n\
         [channels.{channel}]\n{channel_keys}"
    )
}

/// A handler that counts its runs, records the idempotency key and replies with
/// `"re: {text}"`.
#[derive(Clone, Default)]
struct Probe {
    runs: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn install(&self, b: SwitchboardBuilder) -> SwitchboardBuilder {
        let me = self.clone();
        b.on_message(move |ctx| {
            let me = me.clone();
            async move {
                me.runs.fetch_add(1, Ordering::SeqCst);
                me.keys
                    .lock()
                    .unwrap()
                    .push(format!("{}:0", ctx.idempotency_key()));
                let text = ctx.event().text().unwrap_or_default().to_owned();
                ctx.reply_text(format!("re: {text}"))?;
                Ok(())
            }
        })
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    fn reply_key(&self, i: usize) -> String {
        self.keys.lock().unwrap()[i].clone()
    }
}

async fn start(
    text: &str,
    probe: &Probe,
    listener: tokio::net::TcpListener,
) -> (Switchboard, Running) {
    let b = SwitchboardBuilder::from_config_str(text, &Env::from_pairs([("UNUSED", "")])).unwrap();
    let sb = probe.install(b).build().await.unwrap();
    let running = sb.start(listener).unwrap();
    (sb, running)
}

/// Polls the outbox row of `key` for up to 5 s until its delivery status is `status`.
async fn reaches(sb: &Switchboard, key: &str, status: DeliveryStatus) -> bool {
    for _ in 0..250 {
        let s = sb.store().outbox_status(key).await.unwrap().unwrap();
        if s.delivery == Some(status) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

async fn post(client: &reqwest::Client, url: &str, req: &WebhookRequest) -> u16 {
    let mut r = client.post(url).body(req.body.clone());
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.to_str().unwrap());
    }
    r.send().await.unwrap().status().as_u16()
}

/// The same signed request 4 times: two at once, then two more (as a provider retrying a slow
/// or lost acknowledgement would). Every delivery is answered 2xx.
async fn storm(url: &str, req: &WebhookRequest) {
    let client = reqwest::Client::new();
    let (a, b) = tokio::join!(post(&client, url, req), post(&client, url, req));
    assert!(
        (200..300).contains(&a) && (200..300).contains(&b),
        "{a} {b}"
    );
    for _ in 0..2 {
        let s = post(&client, url, req).await;
        assert!((200..300).contains(&s), "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// Slack

fn slack_keys(emu: &SlackEmulator) -> String {
    let c = emu.options();
    format!(
        "provider = \"slack\"\nbot_token = \"{}\"\nsigning_secret = \"{}\"\nbot_user_id = \"{}\"\n\
         bot_id = \"{}\"\napi_base_url = \"{}\"\n",
        c.bot_token,
        c.signing_secret,
        c.bot_user_id,
        c.bot_id,
        emu.base_url()
    )
}

fn slack_posts(emu: &SlackEmulator) -> Vec<serde_json::Map<String, serde_json::Value>> {
    emu.calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage" && c.status == 200)
        .map(|c| c.args)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_message_in_reply_out_in_channel_and_thread() {
    let emu = SlackEmulator::start(SlackOptions::default()).await.unwrap();
    let (listener, base) = bind().await;
    let (db, dir) = sqlite_url("slack");
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, &db, "team", &slack_keys(&emu)),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/team");

    // A top-level message in a channel: the reply goes to the channel, not a thread.
    let top = emu.user_message("C0GENERAL", "U0ALICE", "hello");
    let parent_ts = top["event"]["ts"].as_str().unwrap().to_owned();
    assert!(emu.deliver(&url, &top).await.delivered());
    assert!(eventually(Duration::from_secs(10), || slack_posts(&emu).len() == 1).await);

    // A reply in that thread: the bot's reply goes to the same thread.
    // A later ts than the parent's (always another one: the dedupe key is channel + ts).
    let (secs, micros) = parent_ts.split_once('.').unwrap();
    let later = secs.parse::<u64>().unwrap() * 1_000_000 + micros.parse::<u64>().unwrap() + 1;
    let ts = format!("{}.{:06}", later / 1_000_000, later % 1_000_000);
    let threaded = emu.event_callback(json!({
        "type": "message", "channel": "C0GENERAL", "user": "U0ALICE", "text": "in thread",
        "ts": ts, "event_ts": ts, "thread_ts": parent_ts, "channel_type": "channel",
        "team": emu.options().team_id,
    }));
    assert!(emu.deliver(&url, &threaded).await.delivered());
    assert!(eventually(Duration::from_secs(10), || slack_posts(&emu).len() == 2).await);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let posts = slack_posts(&emu);
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0]["channel"], "C0GENERAL");
    assert_eq!(posts[0]["text"], "re: hello");
    assert!(posts[0].get("thread_ts").is_none(), "{:?}", posts[0]);
    assert_eq!(posts[1]["channel"], "C0GENERAL");
    assert_eq!(posts[1]["text"], "re: in thread");
    assert_eq!(posts[1]["thread_ts"], parent_ts.as_str());
    assert_eq!(probe.runs(), 2);
    // The emulator holds the bot's replies, the second one in the thread.
    let replies: Vec<_> = emu
        .messages()
        .into_iter()
        .filter(|m| m.text.starts_with("re: "))
        .collect();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[1].thread_ts.as_deref(), Some(parent_ts.as_str()));
    // The outbox knows both as sent, with the provider's ts as message id.
    let status = sb
        .store()
        .outbox_status(&probe.reply_key(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.state, OutboxState::Sent);
    assert_eq!(status.message_ids.len(), 1);
    assert_eq!(status.message_ids[0].as_str(), replies[1].ts);
    running.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_retry_storm_runs_the_handler_once() {
    let emu = SlackEmulator::start(SlackOptions::default()).await.unwrap();
    let (listener, base) = bind().await;
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, "memory:", "team", &slack_keys(&emu)),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/team");
    let body = emu.user_message("C0RANDOM", "U0BOB", "storm");
    let req = emu.signed_request(&url, body.to_string(), "application/json");
    storm(&url, &req).await;
    assert!(eventually(Duration::from_secs(10), || slack_posts(&emu).len() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posts = slack_posts(&emu);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["channel"], "C0RANDOM");
    assert_eq!(posts[0]["text"], "re: storm");
    assert_eq!(probe.runs(), 1);
    let stats = sb.stats().await.unwrap();
    assert_eq!((stats.inbox_done, stats.outbox_sent), (1, 1));
    running.shutdown().await.unwrap();
}

/// Issue 15, item 8: one post that mentions the bot arrives as `message` and as
/// `app_mention`, with different event ids; the handler runs once and one reply is posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_mention_delivered_as_message_and_app_mention_runs_the_handler_once() {
    let emu = SlackEmulator::start(SlackOptions::default()).await.unwrap();
    let (listener, base) = bind().await;
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, "memory:", "team", &slack_keys(&emu)),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/team");
    let bot = emu.options().bot_user_id.clone();
    let message = emu.user_message("C0AGENTS", "U0ALICE", &format!("<@{bot}> hello"));
    let mut mention = message.clone();
    mention["event"]["type"] = serde_json::json!("app_mention");
    mention["event_id"] = serde_json::json!("Ev0OTHERDELIVERY");
    assert_ne!(message["event_id"], mention["event_id"]);
    let client = reqwest::Client::new();
    for body in [&message, &mention] {
        let req = emu.signed_request(&url, body.to_string(), "application/json");
        assert_eq!(post(&client, &url, &req).await, 200);
    }
    assert!(eventually(Duration::from_secs(10), || slack_posts(&emu).len() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack_posts(&emu).len(), 1);
    assert_eq!(probe.runs(), 1);
    assert_eq!(sb.stats().await.unwrap().inbox_done, 1);
    running.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Messenger

async fn messenger() -> MessengerEmulator {
    MessengerEmulator::start(EmulatorOptions::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_message_in_reply_out() {
    let emu = messenger().await;
    let (listener, base) = bind().await;
    let (db, dir) = sqlite_url("messenger");
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, &db, "page", &emu.channel_toml()),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/page");
    let psid = "7001000000000001";
    let delivered = emu.deliver(&url, &[emu.text_item(psid, "hello")], 1).await;
    assert!(delivered.iter().all(|d| d.delivered()), "{delivered:?}");
    assert_eq!(delivered[0].attempts, 1);
    assert!(eventually(Duration::from_secs(10), || emu.messages().len() == 1).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = emu.messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recipient, psid);
    assert_eq!(sent[0].text(), Some("re: hello"));
    assert_eq!(sent[0].messaging_type, "RESPONSE");
    assert_eq!(probe.runs(), 1);
    // The delivery receipt Meta sends for it marks the outbox row delivered.
    let key = probe.reply_key(0);
    let mid = sent[0].message_id.clone();
    let receipt = emu.delivery_item(psid, &[mid.as_str()]);
    assert!(emu.deliver(&url, &[receipt], 1).await[0].delivered());
    let store = sb.store().clone();
    assert!(
        reaches(&sb, &key, DeliveryStatus::Delivered).await,
        "{:?}",
        store.outbox_status(&key).await
    );
    // A read receipt names no message, only a watermark: every reply sent to the user up to
    // it becomes Read.
    assert!(emu.deliver(&url, &[emu.read_item(psid)], 1).await[0].delivered());
    assert!(
        reaches(&sb, &key, DeliveryStatus::Read).await,
        "{:?}",
        store.outbox_status(&key).await
    );
    running.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_retry_storm_runs_the_handler_once() {
    let emu = messenger().await;
    let (listener, base) = bind().await;
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, "memory:", "page", &emu.channel_toml()),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/page");
    let psid = "7001000000000002";
    let body = emu.webhook_body(&[emu.text_item(psid, "storm")]);
    let req = emu.signed_request(&url, &body);
    storm(&url, &req).await;
    assert!(eventually(Duration::from_secs(10), || emu.messages().len() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = emu.messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recipient, psid);
    assert_eq!(sent[0].text(), Some("re: storm"));
    assert_eq!(probe.runs(), 1);
    let stats = sb.stats().await.unwrap();
    assert_eq!((stats.inbox_done, stats.outbox_sent), (1, 1));
    running.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Twilio

fn twilio_keys(emu: &TwilioEmulator) -> String {
    let c = emu.options();
    format!(
        "provider = \"twilio\"\naccount_sid = \"{}\"\nauth_token = \"{}\"\nfrom = \"{TWILIO_FROM}\"\n\
         api_base_url = \"{}\"\n",
        c.account_sid,
        c.auth_token,
        emu.base_url()
    )
}

fn twilio_created(emu: &TwilioEmulator) -> usize {
    emu.calls().iter().filter(|c| c.created_message()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_message_in_reply_out_with_status_callbacks() {
    let emu = TwilioEmulator::start(TwilioEmulatorOptions::default())
        .await
        .unwrap();
    let (listener, base) = bind().await;
    let (db, dir) = sqlite_url("twilio");
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, &db, "sms", &twilio_keys(&emu)),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/sms");
    let user = "+15551230001";
    let delivery = emu
        .deliver(&url, &Inbound::text(user, TWILIO_FROM, "hello"))
        .await;
    assert_eq!(delivery.status, 200);
    assert!(eventually(Duration::from_secs(10), || emu.messages().len() == 1).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let messages = emu.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(twilio_created(&emu), 1);
    assert_eq!(messages[0].to.as_deref(), Some(user));
    assert_eq!(messages[0].from.as_deref(), Some(TWILIO_FROM));
    assert_eq!(messages[0].body.as_deref(), Some("re: hello"));
    assert_eq!(probe.runs(), 1);
    // The send carried our webhook URL as StatusCallback; the emulator's signed callbacks
    // (sent, delivered) come back through the engine and advance the outbox row.
    let key = probe.reply_key(0);
    let store = sb.store().clone();
    let mut last = None;
    for _ in 0..250 {
        let s = store.outbox_status(&key).await.unwrap().unwrap();
        last = Some(s.clone());
        if s.delivery == Some(DeliveryStatus::Delivered) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = last.unwrap();
    assert_eq!(last.delivery, Some(DeliveryStatus::Delivered), "{last:?}");
    assert_eq!(last.state, OutboxState::Sent);
    assert_eq!(last.message_ids[0].as_str(), messages[0].sid);
    assert!(
        emu.callbacks().iter().all(|c| c.status == 200),
        "{:?}",
        emu.callbacks()
    );
    running.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_retry_storm_runs_the_handler_once() {
    let emu = TwilioEmulator::start(TwilioEmulatorOptions::default())
        .await
        .unwrap();
    let (listener, base) = bind().await;
    let probe = Probe::default();
    let (sb, running) = start(
        &config(&base, "memory:", "sms", &twilio_keys(&emu)),
        &probe,
        listener,
    )
    .await;
    let url = format!("{base}/webhooks/sms");
    let user = "+15551230002";
    let req = emu.signed_request(&url, &Inbound::text(user, TWILIO_FROM, "storm"));
    storm(&url, &req).await;
    assert!(eventually(Duration::from_secs(10), || twilio_created(&emu) == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio_created(&emu), 1);
    let messages = emu.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to.as_deref(), Some(user));
    assert_eq!(messages[0].body.as_deref(), Some("re: storm"));
    assert_eq!(probe.runs(), 1);
    // Inbox rows beside the message are the status callbacks of the one reply.
    let stats = sb.stats().await.unwrap();
    assert_eq!(stats.outbox_sent, 1);
    running.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Several tenants on one channel (issue 16)

mod tenants;
