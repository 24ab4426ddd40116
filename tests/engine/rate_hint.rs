//! Default pacing comes from the adapter's `rate_hint`: a channel without a `[channels.X.rate]`
//! table runs with the hint (the conservative default when the hint is empty), a `rate` table
//! overrides it, and the limits are enforced on real sends.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use switchboard::{
    Adapter, AdapterInfo, ChannelName, ConversationRef, MemoryStore, OutboundMessage, RateConfig,
    RateHint, Result, SendReceipt, Switchboard, WebhookOutcome, WebhookRequest,
};

/// A memory channel whose provider asks for 20 messages/s per conversation, burst 1.
#[derive(Debug, Clone)]
struct Hinted(Timed);

const HINT: RateHint = RateHint {
    per_second: None,
    burst: None,
    per_conversation_per_second: Some(20.0),
    per_conversation_burst: Some(1),
};

#[switchboard::async_trait]
impl Adapter for Hinted {
    fn info(&self) -> &AdapterInfo {
        self.0.info()
    }

    fn rate_hint(&self) -> RateHint {
        HINT
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        self.0.send(to, message).await
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.0.handle_webhook(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_with_a_hint_gets_those_limits() {
    let timed = Timed::new(memory("hinted"));
    let mut config = switchboard::Config::default();
    config.engine.poll_interval = Duration::from_millis(20);
    let sb = Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel(Arc::new(Hinted(timed.clone())))
        .channel(Arc::new(memory("plain")))
        .on_message(|ctx| async move {
            for i in 0..5 {
                ctx.reply_text(format!("part {i}"))?;
            }
            Ok(())
        })
        .build()
        .await
        .unwrap();
    let hinted = ChannelName::new("hinted").unwrap();
    let rate = sb.channel_rate(&hinted).unwrap();
    assert_eq!(rate, RateConfig::from_hint(&HINT));
    assert_eq!(rate.per_conversation_per_second, Some(20.0));
    assert_eq!(rate.per_conversation_burst, Some(1));
    assert_eq!(rate.per_second, None);
    // The MemoryAdapter gives no hint: the conservative default.
    let plain = ChannelName::new("plain").unwrap();
    assert_eq!(sb.channel_rate(&plain), Some(RateConfig::conservative()));
    // Without [rate_limits] each engine limits its own sends.
    assert_eq!(sb.rate_limits_shared(), None);

    // The hint is what the sender enforces: 5 replies to one conversation at 20/s, burst 1,
    // are spread over at least 4 × 50 ms.
    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/hinted", running.url());
    let req = timed
        .inner
        .signed_request(&url, &[inbound("e1", "C1", "go")]);
    assert_eq!(
        post(&reqwest::Client::new(), &url, &req).await.status(),
        200
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            timed.inner.sent().len() == 5
        })
        .await
    );
    let times = timed.times.lock().unwrap().clone();
    assert_eq!(times.len(), 5);
    let spread = times[4] - times[0];
    assert!(spread >= Duration::from_millis(190), "{spread:?}");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_rate_table_overrides_the_hint() {
    let timed = Timed::new(memory("hinted"));
    let sb = Switchboard::builder()
        .store(Arc::new(MemoryStore::new()))
        .channel_with(
            Arc::new(Hinted(timed)),
            switchboard::ChannelSettings::default().with_rate(RateConfig::new(Some(5.0), None)),
        )
        .build()
        .await
        .unwrap();
    let rate = sb
        .channel_rate(&ChannelName::new("hinted").unwrap())
        .unwrap();
    assert_eq!(rate, RateConfig::new(Some(5.0), None));
}

/// The providers' own hints reach channels built from a config document without a `rate`
/// table; a `rate` table replaces the hint.
#[cfg(all(feature = "slack", feature = "messenger", feature = "twilio"))]
#[tokio::test]
async fn provider_channels_from_config_use_their_adapters_hints() {
    use switchboard::{Env, SwitchboardBuilder};
    let doc = r#"
[store]
url = "memory:"

[channels.team]
provider = "slack"
bot_token = "xoxb-1"
signing_secret = "s"
bot_user_id = "U1"
bot_id = "B1"

[channels.page]
provider = "messenger"
page_id = "1"
page_access_token = "t"
app_secret = "s"
verify_token = "v"

[channels.sms]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_token = "t"
from = "+15005550006"

[channels.sms2]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_token = "t"
from = "+15005550007"

[channels.sms2.rate]
per_second = 10.0
burst = 10
"#;
    let sb = SwitchboardBuilder::from_config_str(doc, &Env::from_pairs([("X", "")]))
        .unwrap()
        .build()
        .await
        .unwrap();
    let rate = |name: &str| {
        let name = ChannelName::new(name).unwrap();
        (
            sb.channel_rate(&name).unwrap(),
            sb.adapter(&name).unwrap().rate_hint(),
        )
    };
    for name in ["team", "page", "sms"] {
        let (rate, hint) = rate(name);
        assert!(!hint.is_empty(), "{name}");
        assert_eq!(rate, RateConfig::from_hint(&hint), "{name}");
    }
    let (slack, _) = rate("team");
    assert_eq!(
        (
            slack.per_second,
            slack.per_conversation_per_second,
            slack.per_conversation_burst
        ),
        (None, Some(1.0), Some(3))
    );
    let (messenger, _) = rate("page");
    assert_eq!(messenger.per_second, Some(40.0));
    assert_eq!(messenger.per_conversation_burst, Some(3));
    let (twilio, _) = rate("sms");
    assert_eq!(twilio.per_conversation_per_second, Some(1.0));
    let (overridden, _) = rate("sms2");
    assert_eq!(overridden, RateConfig::new(Some(10.0), None).with_burst(10));
}
