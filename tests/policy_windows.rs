//! Policy windows and SMS opt-outs through the engine's public API, with the provider emulators
//! (issue 15 item 12): a send the channel's policy forbids fails before any request, with a
//! typed error, and is not retried.
//!
//! The clock is controlled through the events' own timestamps: Messenger's webhooks carry the
//! emulator's clock (set back 25 hours or 3 days before delivering), and a WhatsApp inbound
//! is written to the store with its `at` in the past.
#![cfg(all(feature = "emulators", feature = "messenger", feature = "twilio"))]
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use switchboard::core::model::{EventId, InboundMessage, Sender};
use switchboard::messenger::SendOptions;
use switchboard::messenger::emulator::{Emulator as Meta, EmulatorOptions as MetaOptions};
use switchboard::store::OutboxState;
use switchboard::twilio::TwilioContent;
use switchboard::twilio::emulator::{
    Emulator as Twilio, EmulatorOptions as TwilioOptions, Inbound,
};
use switchboard::{
    ConversationRef, Env, EventKind, InboundEvent, OutboundMessage, Running, Switchboard,
    SwitchboardBuilder, UserId,
};

const HOUR: Duration = Duration::from_secs(3600);
const PSID: &str = "6254710388245291";
const PHONE: &str = "+15558675310";
const WA_USER: &str = "whatsapp:+15558675311";

struct World {
    meta: Meta,
    twilio: Twilio,
    db: PathBuf,
}

impl World {
    async fn start() -> World {
        let db = std::env::temp_dir().join(format!(
            "switchboard-policy-{}-{}.db",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        World {
            meta: Meta::start(MetaOptions::default()).await.unwrap(),
            twilio: Twilio::start(TwilioOptions::default()).await.unwrap(),
            db,
        }
    }

    async fn engine(&self) -> (Switchboard, Running) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let t = self.twilio.options();
        let twilio = |from: &str| {
            format!(
                "provider = \"twilio\"\naccount_sid = \"{}\"\nauth_token = \"{}\"\nfrom = \"{from}\"\napi_base_url = \"{}\"\n",
                t.account_sid,
                t.auth_token,
                self.twilio.base_url()
            )
        };
        let text = format!(
            "[server]\npublic_url = \"{url}\"\n\n[store]\nurl = \"sqlite://{}\"\n\n\
             [engine]\npoll_interval = \"20ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"200ms\"\n\n\
             [channels.fb]\n{}\n[channels.sms]\n{}\n[channels.wa]\n{}",
            self.db.display(),
            self.meta.channel_toml(),
            twilio(&t.numbers[0]),
            twilio(&t.numbers[1]),
        );
        let sb = SwitchboardBuilder::from_config_str(&text, &Env::from_pairs::<_, &str, &str>([]))
            .unwrap()
            .on_message(|_ctx| async { Ok(()) })
            .build()
            .await
            .unwrap();
        let running = sb.start(listener).unwrap();
        (sb, running)
    }

    /// The customer writes on Messenger, `ago` before now (the emulator's clock, which the
    /// webhook's timestamp carries).
    async fn customer_fb(&self, running: &Running, ago: Duration) {
        let now = SystemTime::now();
        self.meta.set_now(now - ago);
        let item = self.meta.text_item(PSID, "hello");
        self.meta.set_now(now);
        let url = format!("{}/webhooks/fb", running.url());
        let d = self.meta.deliver(&url, &[item], 1).await;
        assert_eq!(d[0].status, 200, "{d:?}");
    }

    async fn customer_sms(&self, running: &Running, text: &str) {
        let url = format!("{}/webhooks/sms", running.url());
        let msg = Inbound::text(PHONE, &self.twilio.options().numbers[0], text);
        assert_eq!(self.twilio.deliver(&url, &msg).await.status, 200);
    }

    /// Creates at the Twilio emulator (each send is one).
    fn twilio_creates(&self) -> usize {
        self.twilio
            .calls()
            .iter()
            .filter(|c| c.created_message())
            .count()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

fn to(channel: &str, conversation: &str) -> ConversationRef {
    ConversationRef::parse(channel, conversation).unwrap()
}

/// Waits until the outbox row `key` is sent or dead; returns its state and error.
async fn settled(sb: &Switchboard, key: &str) -> (OutboxState, Option<String>) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(s) = sb.store().outbox_status(key).await.unwrap()
            && s.state != OutboxState::Pending
        {
            return (s.state, s.error);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("outbox row {key} still pending");
}

/// Sends `message` through the outbox and waits until it is sent or given up. (The inbound
/// events' facts are stored before their webhook is answered, so they are there already.)
async fn send(
    sb: &Switchboard,
    to: ConversationRef,
    message: OutboundMessage,
) -> (OutboxState, Option<String>) {
    let key = sb.send(to, message).await.unwrap();
    settled(sb, &key).await
}

fn text(t: &str) -> OutboundMessage {
    OutboundMessage::text(t).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_outside_24_hours_fails_before_any_request() {
    let w = World::start().await;
    let (sb, running) = w.engine().await;
    w.customer_fb(&running, HOUR * 25).await;
    let before = w.meta.messages().len();
    let (state, error) = send(&sb, to("fb", PSID), text("Are you still there?")).await;
    assert_eq!(state, OutboxState::Dead);
    let error = error.unwrap();
    assert!(
        error.starts_with("policy_violation: the customer's 24-hour window closed on "),
        "{error}"
    );
    assert!(error.contains("(last message "), "{error}");
    assert_eq!(
        w.meta.messages().len(),
        before,
        "no request reached Messenger"
    );
    let outbox = sb
        .store()
        .outbox_status(&sb.dead_letters(10).await.unwrap()[0].key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outbox.attempts, 1, "claimed once, never retried");
    assert_eq!(outbox.first_attempt_at, None, "no send attempt began");
    assert!(
        sb.metrics_text()
            .contains("policy_refusals_total{channel=\"fb\",kind=\"policy_violation\"} 1"),
        "{}",
        sb.metrics_text()
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_human_agent_passes_at_3_days_and_a_plain_reply_does_not() {
    let w = World::start().await;
    let (sb, running) = w.engine().await;
    w.customer_fb(&running, HOUR * 24 * 3).await;
    let (state, error) = send(&sb, to("fb", PSID), text("plain, 3 days on")).await;
    assert_eq!(state, OutboxState::Dead, "{error:?}");
    assert_eq!(w.meta.messages().len(), 0);
    let agent = OutboundMessage::builder()
        .text("An agent here: your refund went out today.")
        .extension(&SendOptions::tag("HUMAN_AGENT"))
        .build()
        .unwrap();
    let (state, error) = send(&sb, to("fb", PSID), agent).await;
    assert_eq!(state, OutboxState::Sent, "{error:?}");
    let sent = w.meta.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].text(),
        Some("An agent here: your refund went out today.")
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_inside_24_hours_sends() {
    let w = World::start().await;
    let (sb, running) = w.engine().await;
    w.customer_fb(&running, HOUR * 23).await;
    let (state, error) = send(&sb, to("fb", PSID), text("Hi!")).await;
    assert_eq!(state, OutboxState::Sent, "{error:?}");
    assert_eq!(w.meta.messages().len(), 1);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_outside_24_hours_takes_only_a_template() {
    let w = World::start().await;
    let (sb, running) = w.engine().await;
    // The customer wrote 25 hours ago (the event's own time).
    let inbound = InboundEvent::new(
        EventId::new("SMwa-old").unwrap(),
        to("wa", WA_USER),
        Sender::user(UserId::new(WA_USER).unwrap()),
        SystemTime::now() - HOUR * 25,
        EventKind::Message(InboundMessage::text("hi")),
        serde_json::Value::Null,
    );
    sb.store().insert_inbound(&[inbound]).await.unwrap();
    let (state, error) = send(&sb, to("wa", WA_USER), text("free-form")).await;
    assert_eq!(state, OutboxState::Dead);
    assert!(
        error
            .as_deref()
            .unwrap()
            .starts_with("policy_violation: the customer's 24-hour window closed on "),
        "{error:?}"
    );
    assert_eq!(w.twilio_creates(), 0, "no request reached Twilio");
    let template = OutboundMessage::builder()
        .text("Your order shipped")
        .extension(&TwilioContent {
            content_sid: "HX0123456789abcdef0123456789abcdef".to_owned(),
            variables: Default::default(),
        })
        .build()
        .unwrap();
    let (state, error) = send(&sb, to("wa", WA_USER), template).await;
    assert_eq!(state, OutboxState::Sent, "{error:?}");
    let calls = w.twilio.calls();
    let create = calls.iter().find(|c| c.created_message()).unwrap();
    assert_eq!(
        create.param("ContentSid"),
        Some("HX0123456789abcdef0123456789abcdef")
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_stop_refuses_sends_until_start() {
    let w = World::start().await;
    let (sb, running) = w.engine().await;
    w.customer_sms(&running, "Stop").await;
    let (state, error) = send(&sb, to("sms", PHONE), text("One more thing")).await;
    assert_eq!(state, OutboxState::Dead);
    let error = error.unwrap();
    assert!(
        error.starts_with("opted_out: the customer texted STOP on "),
        "{error}"
    );
    assert_eq!(w.twilio_creates(), 0, "no request reached Twilio");
    // HELP changes nothing.
    w.customer_sms(&running, "help").await;
    let (state, _) = send(&sb, to("sms", PHONE), text("Still there?")).await;
    assert_eq!(state, OutboxState::Dead);
    assert_eq!(w.twilio_creates(), 0);
    // START re-enables.
    w.customer_sms(&running, "START").await;
    let (state, error) = send(&sb, to("sms", PHONE), text("Welcome back")).await;
    assert_eq!(state, OutboxState::Sent, "{error:?}");
    assert_eq!(w.twilio_creates(), 1);
    // Another of our numbers is not affected by this opt-out: the scope is (our number, theirs).
    let facts = sb
        .store()
        .contact(&format!("sms/{PHONE}"), Some("+15550009999"))
        .await
        .unwrap();
    assert!(facts.opted_out.is_none());
    running.shutdown().await.unwrap();
}
