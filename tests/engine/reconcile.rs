//! The sender's decisions for sends that may have reached the provider (issue 8), over real
//! HTTP with the core MemoryAdapter: `deliver_then_fail_next` makes it record a send and lose
//! the answer (`Ambiguous`), `fail_next` fails before anything is recorded, and its `reconcile`
//! looks sends up by key. A wrapper stages other answers (`Unknown`, errors) and turns
//! "PROOF …" messages into keyed `Delivery` events (what Twilio status callbacks and Messenger
//! echoes become).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use switchboard::config::{DeliveryPolicy, UncertainSends};
use switchboard::core::memory::{default_capabilities, faults};
use switchboard::core::model::{DeliveryEvent, DeliveryStatus, MessageId};
use switchboard::core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE, PendingSend, Reconciled,
};
use switchboard::store::OutboxState;
use switchboard::{
    Adapter, AdapterInfo, ChannelSettings, Config, ConversationRef, Error, ErrorKind, EventKind,
    MemoryAdapter, MemoryStore, OutboundMessage, OutboxKey, RateConfig, Result, Retry, Running,
    SendReceipt, Switchboard, WebhookOutcome, WebhookRequest,
};

/// The memory adapter with staged reconcile answers (then its own lookup) and keyed proofs.
#[derive(Debug, Clone)]
struct Provider {
    mem: MemoryAdapter,
    staged: Arc<Mutex<VecDeque<Result<Reconciled>>>>,
    reconciles: Arc<AtomicUsize>,
}

impl Provider {
    fn new(mem: MemoryAdapter) -> Self {
        Provider {
            mem,
            staged: Arc::default(),
            reconciles: Arc::default(),
        }
    }

    fn stage(&self, answer: Result<Reconciled>) {
        self.staged.lock().unwrap().push_back(answer);
    }

    fn reconciles(&self) -> usize {
        self.reconciles.load(Ordering::SeqCst)
    }
}

#[switchboard::async_trait]
impl Adapter for Provider {
    /// Scripted answers, nothing in flight: the in-flight rule (issue 15) does not hold them.
    fn send_timeout(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    fn info(&self) -> &AdapterInfo {
        self.mem.info()
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        self.mem.send(to, message).await
    }

    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        self.reconciles.fetch_add(1, Ordering::SeqCst);
        let staged = self.staged.lock().unwrap().pop_front();
        match staged {
            Some(answer) => answer,
            None => self.mem.reconcile(key, pending).await,
        }
    }

    /// A message "PROOF key part parts id" becomes the keyed `Delivery` event an adapter emits
    /// for a provider webhook proving that part of a send.
    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        let outcome = self.mem.handle_webhook(request);
        let Some(events) = outcome.accepted_events() else {
            return outcome;
        };
        let events = events
            .iter()
            .cloned()
            .map(|mut e| {
                if let Some(proof) = e.text().and_then(|t| t.strip_prefix("PROOF ")) {
                    let f: Vec<String> = proof.split(' ').map(str::to_owned).collect();
                    e.kind = EventKind::Delivery(DeliveryEvent::new(
                        DeliveryStatus::Sent,
                        vec![MessageId::new(f[3].clone()).unwrap()],
                    ));
                    e.attributes
                        .insert(OUTBOX_KEY_ATTRIBUTE.to_owned(), f[0].clone());
                    e.attributes
                        .insert(OUTBOX_PART_ATTRIBUTE.to_owned(), f[1].clone());
                    e.attributes
                        .insert(OUTBOX_PARTS_ATTRIBUTE.to_owned(), f[2].clone());
                }
                e
            })
            .collect();
        WebhookOutcome::events(events)
    }
}

/// Replies "re: {text}"; "split" gets a reply of two parts (the channel takes 100 characters),
/// "menu" one with two buttons the channel shows as numbered options.
async fn engine(
    provider: &Provider,
    delivery: Option<DeliveryPolicy>,
    config: Config,
) -> (Switchboard, Running, String) {
    let mut settings = ChannelSettings::default().with_rate(RateConfig::default());
    if let Some(d) = delivery {
        settings = settings.with_delivery(d);
    }
    let sb = Switchboard::builder()
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .channel_with(Arc::new(provider.clone()), settings)
        .on_message(|ctx| async move {
            let text = ctx.event().text().unwrap_or_default().to_owned();
            let reply = match text.as_str() {
                "split" => OutboundMessage::text(
                    "the first part of this reply is here, long enough to fill most of one message. \
                     and this is its second part, which goes out as a message of its own.",
                )?,
                "menu" => OutboundMessage::builder()
                    .text("Pick a size")
                    .button("Small", "SIZE_S")
                    .button("Large", "SIZE_L")
                    .build()?,
                _ => OutboundMessage::text(format!("re: {text}"))?,
            };
            ctx.reply(reply)?;
            Ok(())
        })
        .on_action(|ctx| async move {
            let payload = ctx.event().action_payload().unwrap_or_default().to_owned();
            ctx.reply_text(format!("picked {payload}"))?;
            Ok(())
        })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener().await).unwrap();
    let url = format!("{}/webhooks/mem", running.url());
    (sb, running, url)
}

fn small_channel() -> MemoryAdapter {
    let mut caps = default_capabilities();
    caps.text.max = 100;
    caps.max_buttons = 0;
    caps.max_quick_replies = 0;
    caps.markdown = switchboard::MarkdownDialect::Plain;
    memory("mem").with_capabilities(caps)
}

async fn say(provider: &Provider, url: &str, id: &str, text: &str) {
    let req = provider.mem.signed_request(url, &[inbound(id, "C1", text)]);
    let status = post(&reqwest::Client::new(), url, &req).await.status();
    assert_eq!(status, 200);
}

async fn settled(sb: &Switchboard, key: &str) -> switchboard::store::OutboxStatus {
    let done = eventually(Duration::from_secs(5), || async {
        sb.store()
            .outbox_status(key)
            .await
            .unwrap()
            .is_some_and(|s| s.state != OutboxState::Pending)
    })
    .await;
    let status = sb.store().outbox_status(key).await.unwrap().unwrap();
    assert!(done, "{key} still pending: {status:?}");
    status
}

fn texts(provider: &Provider) -> Vec<String> {
    provider.mem.sent().into_iter().map(|s| s.text).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_is_marked_sent_with_the_providers_ids_and_options_not_resent() {
    let provider = Provider::new(small_channel());
    // The provider takes the message; the answer is lost.
    provider.mem.deliver_then_fail_next(faults::server_error());
    let (sb, running, url) = engine(&provider, None, fast_config()).await;
    say(&provider, &url, "e1", "menu").await;
    let st = settled(&sb, "mem:e1:0").await;
    assert_eq!(st.state, OutboxState::Sent, "{st:?}");
    let sent = provider.mem.sent();
    assert_eq!(sent.len(), 1, "not resent: {:?}", texts(&provider));
    assert_eq!(st.message_ids, vec![sent[0].id.clone()]);
    assert_eq!(provider.reconciles(), 1);
    // The numbered options were re-rendered for the row: "2" is the second button.
    say(&provider, &url, "e2", "2").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            texts(&provider).contains(&"picked SIZE_L".to_owned())
        })
        .await,
        "{:?}",
        texts(&provider)
    );
    assert!(
        sb.metrics_text()
            .contains("switchboard_reconciliations_total{channel=\"mem\",outcome=\"delivered\"} 1"),
        "{}",
        sb.metrics_text()
    );
    assert!(sb.dead_letters(10).await.unwrap().is_empty());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_delivered_is_sent_again_once_under_both_policies() {
    for policy in [DeliveryPolicy::AtLeastOnce, DeliveryPolicy::AtMostOnce] {
        let provider = Provider::new(small_channel());
        // An ambiguous failure before the provider took anything.
        provider.mem.fail_next(faults::server_error());
        let (sb, running, url) = engine(&provider, Some(policy), fast_config()).await;
        say(&provider, &url, "e1", "hello").await;
        let st = settled(&sb, "mem:e1:0").await;
        assert_eq!(st.state, OutboxState::Sent, "{policy:?}: {st:?}");
        assert_eq!(texts(&provider), vec!["re: hello"], "{policy:?}");
        assert_eq!(provider.reconciles(), 1);
        assert_eq!(st.attempts, 2);
        running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_resends_the_whole_message_at_least_once_and_dead_letters_at_most_once() {
    for policy in [DeliveryPolicy::AtLeastOnce, DeliveryPolicy::AtMostOnce] {
        let provider = Provider::new(small_channel());
        // The first part goes through; the second fails before the provider has it.
        provider.mem.pass_next();
        provider.mem.fail_next(faults::server_error());
        let (sb, running, url) = engine(&provider, Some(policy), fast_config()).await;
        say(&provider, &url, "e1", "split").await;
        let st = settled(&sb, "mem:e1:0").await;
        let sent = texts(&provider);
        match policy {
            DeliveryPolicy::AtLeastOnce => {
                assert_eq!(st.state, OutboxState::Sent, "{st:?}");
                // The first part twice, then the second: nothing lost.
                assert_eq!(sent.len(), 3, "{sent:?}");
                assert_eq!(sent[0], sent[1]);
                assert_ne!(sent[1], sent[2]);
                assert!(sb.dead_letters(10).await.unwrap().is_empty());
            }
            DeliveryPolicy::AtMostOnce => {
                assert_eq!(st.state, OutboxState::Dead, "{st:?}");
                assert_eq!(sent.len(), 1, "nothing resent: {sent:?}");
                let err = st.error.unwrap();
                assert!(err.contains("only 1 part(s)"), "{err}");
                assert!(err.contains("at_most_once"), "{err}");
                // What was sent is recorded on the row.
                assert_eq!(st.message_ids, vec![provider.mem.sent()[0].id.clone()]);
            }
        }
        assert_eq!(provider.reconciles(), 1);
        running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_follows_the_policy_once_the_reconcile_window_is_over() {
    for policy in [DeliveryPolicy::AtLeastOnce, DeliveryPolicy::AtMostOnce] {
        let provider = Provider::new(small_channel());
        provider.mem.deliver_then_fail_next(faults::server_error());
        provider.stage(Ok(Reconciled::Unknown("no echo yet".to_owned())));
        let mut config = fast_config();
        config.engine.reconcile_window = Duration::ZERO;
        let (sb, running, url) = engine(&provider, Some(policy), config).await;
        say(&provider, &url, "e1", "hello").await;
        let st = settled(&sb, "mem:e1:0").await;
        match policy {
            DeliveryPolicy::AtLeastOnce => {
                assert_eq!(st.state, OutboxState::Sent, "{st:?}");
                assert_eq!(
                    texts(&provider),
                    vec!["re: hello", "re: hello"],
                    "a duplicate"
                );
            }
            DeliveryPolicy::AtMostOnce => {
                assert_eq!(st.state, OutboxState::Dead, "{st:?}");
                assert_eq!(texts(&provider), vec!["re: hello"]);
                let err = st.error.unwrap();
                assert!(err.contains("no echo yet"), "{err}");
                assert!(err.contains("at_most_once"), "{err}");
            }
        }
        assert_eq!(provider.reconciles(), 1);
        running.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_transient_errors_are_asked_again_within_the_window() {
    let provider = Provider::new(small_channel());
    provider.mem.deliver_then_fail_next(faults::server_error());
    provider.stage(Ok(Reconciled::Unknown("create in flight".to_owned())));
    provider.stage(Err(
        Error::new(ErrorKind::Transport, "connection reset").with_retry(Retry::Safe)
    ));
    // Then the memory adapter's own lookup finds it.
    let mut config = fast_config();
    config.engine.reconcile_window = Duration::from_millis(800);
    let (sb, running, url) = engine(&provider, Some(DeliveryPolicy::AtLeastOnce), config).await;
    say(&provider, &url, "e1", "hello").await;
    let st = settled(&sb, "mem:e1:0").await;
    assert_eq!(st.state, OutboxState::Sent, "{st:?}");
    assert_eq!(texts(&provider), vec!["re: hello"], "never resent");
    assert_eq!(provider.reconciles(), 3);
    let metrics = sb.metrics_text();
    for outcome in ["unknown", "error", "delivered"] {
        assert!(
            metrics.contains(&format!(
                "switchboard_reconciliations_total{{channel=\"mem\",outcome=\"{outcome}\"}} 1"
            )),
            "{metrics}"
        );
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_proofs_settle_a_send_before_any_reconcile() {
    let provider = Provider::new(small_channel());
    provider.mem.deliver_then_fail_next(faults::server_error());
    // The settling claim waits a long backoff; the proofs make it available at once.
    let mut config = fast_config();
    config.engine.backoff_base = Duration::from_secs(30);
    config.engine.backoff_max = Duration::from_secs(30);
    let (sb, running, url) = engine(&provider, None, config).await;
    say(&provider, &url, "e1", "split").await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            sb.store()
                .outbox_status("mem:e1:0")
                .await
                .unwrap()
                .is_some_and(|s| s.uncertain)
        })
        .await
    );
    // The first part was lost-answered, so only it reached the provider. Webhooks prove both
    // parts (as a provider's callbacks would, had both gone out).
    say(&provider, &url, "p1", "PROOF mem:e1:0 1 2 PROVEN-B").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sb.store()
            .outbox_status("mem:e1:0")
            .await
            .unwrap()
            .unwrap()
            .state,
        OutboxState::Pending,
        "one part of two is not proof"
    );
    say(&provider, &url, "p0", "PROOF mem:e1:0 0 2 PROVEN-A").await;
    let st = settled(&sb, "mem:e1:0").await;
    assert_eq!(st.state, OutboxState::Sent, "{st:?}");
    assert_eq!(
        st.message_ids,
        vec![
            MessageId::new("PROVEN-A").unwrap(),
            MessageId::new("PROVEN-B").unwrap()
        ]
    );
    assert_eq!(provider.reconciles(), 0, "proofs come first");
    assert_eq!(provider.mem.sent().len(), 1, "nothing resent");
    assert!(
        sb.metrics_text()
            .contains("switchboard_reconciliations_total{channel=\"mem\",outcome=\"proven\"} 1")
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reconcile_an_explicit_policy_decides_and_the_default_dead_letters() {
    let cases = [
        (Some(DeliveryPolicy::AtLeastOnce), OutboxState::Sent, 2),
        (Some(DeliveryPolicy::AtMostOnce), OutboxState::Dead, 1),
        (None, OutboxState::Dead, 1),
    ];
    for (policy, state, sends) in cases {
        let mut caps = small_channel().info().capabilities.clone();
        caps.reconcile = false;
        let provider = Provider::new(small_channel().with_capabilities(caps));
        provider.mem.deliver_then_fail_next(faults::server_error());
        let (sb, running, url) = engine(&provider, policy, fast_config()).await;
        say(&provider, &url, "e1", "hello").await;
        let st = settled(&sb, "mem:e1:0").await;
        assert_eq!(st.state, state, "{policy:?}: {st:?}");
        assert_eq!(provider.mem.sent().len(), sends, "{policy:?}");
        assert_eq!(provider.reconciles(), 0);
        // What the sender did is what the engine reports: without a delivery key, an adapter
        // that can neither reconcile nor deduplicate dead-letters (it is not at_least_once).
        let expected = match policy {
            Some(p) => UncertainSends::Policy(p),
            None => UncertainSends::DeadLettered,
        };
        assert_eq!(
            sb.channel_delivery(&switchboard::ChannelName::new("mem").unwrap()),
            Some(expected)
        );
        assert!(!expected.settles_later() || state == OutboxState::Sent);
        running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn the_delivery_key_is_read_from_the_channel_table() {
    let text = "[store]\nurl = \"memory:\"\n\n[channels.mem]\nprovider = \"memory\"\n\
                signing_secret = \"s\"\ndelivery = \"at_most_once\"\n\n\
                [channels.other]\nprovider = \"memory\"\nsigning_secret = \"s\"\n";
    let sb = switchboard::SwitchboardBuilder::from_config_str(
        text,
        &switchboard::Env::from_pairs([("X", "")]),
    )
    .unwrap()
    .build()
    .await
    .unwrap();
    let name = |n: &str| switchboard::ChannelName::new(n).unwrap();
    // The memory adapter reconciles: the policy decides only what it cannot tell.
    assert_eq!(
        sb.channel_delivery(&name("mem")),
        Some(UncertainSends::Reconciled(DeliveryPolicy::AtMostOnce))
    );
    assert_eq!(
        sb.channel_delivery(&name("other")),
        Some(UncertainSends::Reconciled(DeliveryPolicy::AtLeastOnce))
    );
    assert_eq!(sb.channel_delivery(&name("nope")), None);
    let bad = text.replace("at_most_once", "exactly_once");
    let err = switchboard::SwitchboardBuilder::from_config_str(
        &bad,
        &switchboard::Env::from_pairs([("X", "")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("key 'delivery'"), "{err}");
}
