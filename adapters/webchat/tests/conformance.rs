//! The shared conformance kit against the web chat adapter, sending into a `MemoryLog`.
//!
//! Web chat has no remote provider: a send appends to the conversation log, so the kit's
//! checks of provider failures (rate limits, refused credentials, unknown recipients, 5xx) do
//! not apply and are not registered. Every other check is, one `#[tokio::test]` each, with the
//! abilities the adapter has: `SignedTimestamp` (an expired token is a stale request) and
//! `UnsupportedOperations` (reactions).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use switchboard_core::testkit::{Ability, Harness, Received, SignedSet, Staged, checks};
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, Env, Registry, RenderPolicy, WebhookRequest,
};
use switchboard_webchat::wire::{Button, Event};
use switchboard_webchat::{MemoryLog, WebchatAdapter, WebchatConfig};

const CHANNEL: &str = "webchat-conformance";

struct WebchatHarness {
    adapter: Arc<WebchatAdapter>,
    log: Arc<MemoryLog>,
    conversation: ConversationRef,
}

fn table() -> ChannelTable {
    ChannelTable::from_toml_str(
        CHANNEL,
        &format!(
            "provider = 'webchat'\nallowed_origins = ['{}']\nidentity_secret = '${{SECRET}}'",
            common::ORIGIN
        ),
    )
    .unwrap()
    .with_env(Env::from_pairs([("SECRET", common::IDENTITY_SECRET)]))
}

impl WebchatHarness {
    fn message_request(&self, token: &str, text: &str) -> WebhookRequest {
        common::post_as(
            token,
            CHANNEL,
            "messages",
            &serde_json::json!({"client_id": "conformance-1", "text": text}).to_string(),
        )
    }
}

#[async_trait]
impl Harness for WebchatHarness {
    async fn start(policy: RenderPolicy) -> Self {
        let mut t = table();
        let config = WebchatConfig::from_table(&mut t).unwrap();
        let config = WebchatConfig {
            render: policy,
            ..config
        };
        let log = Arc::new(MemoryLog::new());
        let adapter = WebchatAdapter::new(t.channel().clone(), config)
            .unwrap()
            .with_log(log.clone());
        let session = adapter
            .open_session(&Default::default(), SystemTime::now())
            .unwrap();
        let conversation = ConversationRef::parse(CHANNEL, &session.conversation_id).unwrap();
        WebchatHarness {
            adapter: Arc::new(adapter),
            log,
            conversation,
        }
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter.clone()
    }

    fn conversation(&self) -> ConversationRef {
        self.conversation.clone()
    }

    async fn stage(&self, outcome: Staged) {
        panic!("web chat has no remote provider to fail: {outcome:?} does not apply");
    }

    async fn received(&self) -> Vec<Received> {
        self.log
            .records(&self.conversation)
            .into_iter()
            .filter_map(|r| match r.event {
                Event::Message(m) if !m.deleted => Some(Received {
                    to: self.conversation.conversation.to_string(),
                    text: m.text.unwrap_or_default(),
                    buttons: m
                        .buttons
                        .iter()
                        .map(|b| match b {
                            Button::Postback { label, .. } | Button::Link { label, .. } => {
                                label.clone()
                            }
                        })
                        .collect(),
                    quick_replies: m.quick_replies.iter().map(|q| q.label.clone()).collect(),
                    attachments: m.attachments.iter().map(|a| a.url.clone()).collect(),
                }),
                _ => None,
            })
            .collect()
    }

    async fn request_count(&self) -> usize {
        self.log.writes()
    }

    fn inbound_text(&self, text: &str) -> SignedSet {
        let now = SystemTime::now();
        let session = self.adapter.open_session(&Default::default(), now).unwrap();
        let valid = self.message_request(&session.token, text);
        let mut token = session.token.into_bytes();
        token[8] = if token[8] == b'A' { b'B' } else { b'A' };
        let tampered = self.message_request(&String::from_utf8(token).unwrap(), text);
        let expired = self
            .adapter
            .open_session(&Default::default(), now - Duration::from_secs(31 * 86_400))
            .unwrap();
        SignedSet {
            valid,
            tampered,
            stale: Some(self.message_request(&expired.token, text)),
        }
    }

    fn handshake(&self) -> Option<(WebhookRequest, Bytes)> {
        None
    }

    fn config(&self) -> ChannelTable {
        table()
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::new();
        switchboard_webchat::register(&mut r);
        r
    }

    fn secrets(&self) -> Vec<String> {
        vec![common::IDENTITY_SECRET.to_owned()]
    }
}

macro_rules! kit {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                checks::$check::<WebchatHarness>().await;
            }
        )*
    };
}

kit!(
    text_round_trip,
    long_text_split_in_order,
    buttons_degrade_to_numbered_options,
    strict_policy_sends_nothing,
    valid_webhook_decodes,
    tampered_webhook_rejected,
    stale_webhook_rejected,
    unsupported_operations_send_nothing,
    unknown_config_key_rejected,
    debug_shows_no_secret,
);

#[tokio::test]
async fn declared_abilities_match_the_adapter() {
    checks::declared_abilities_match::<WebchatHarness>(&[
        Ability::SignedTimestamp,
        Ability::UnsupportedOperations,
    ])
    .await;
}
