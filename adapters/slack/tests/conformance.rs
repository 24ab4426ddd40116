//! The shared conformance kit, run against the Slack adapter talking to the Slack emulator.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Value, json};
use switchboard_core::testkit::{Harness, Received, SignedSet, Staged};
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, Registry, RenderPolicy, WebhookRequest,
};
use switchboard_slack::SlackAdapter;
use switchboard_slack::emulator::{Emulator, EmulatorOptions, Fault, RateLimit};

const CHANNEL: &str = "slack-conformance";
const CONVERSATION: &str = "C0GENERAL";
const WEBHOOK_URL: &str = "http://127.0.0.1/webhooks/slack-conformance";

struct SlackHarness {
    emulator: Emulator,
    adapter: Arc<SlackAdapter>,
    policy: RenderPolicy,
}

fn table(emulator: &Emulator, policy: RenderPolicy) -> ChannelTable {
    {
        let c = emulator.options();
        let policy = match policy {
            RenderPolicy::Fallback => "fallback",
            RenderPolicy::Strict => "strict",
            _ => "drop",
        };
        ChannelTable::from_toml_str(
            CHANNEL,
            &format!(
                "provider = 'slack'\nbot_token = '{}'\nsigning_secret = '{}'\n\
                 bot_user_id = '{}'\nbot_id = '{}'\napi_base_url = '{}'\nrender = '{policy}'",
                c.bot_token,
                c.signing_secret,
                c.bot_user_id,
                c.bot_id,
                emulator.base_url()
            ),
        )
        .unwrap()
    }
}

impl SlackHarness {
    fn signed(&self, body: &Value) -> WebhookRequest {
        self.emulator
            .signed_request(WEBHOOK_URL, body.to_string(), "application/json")
    }
}

fn labels(blocks: &[Value]) -> (Vec<String>, Vec<String>) {
    let mut buttons = Vec::new();
    let mut images = Vec::new();
    for b in blocks {
        match b["type"].as_str() {
            Some("actions") => buttons.extend(
                b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["text"]["text"].as_str().map(str::to_owned)),
            ),
            Some("image") => images.extend(b["image_url"].as_str().map(str::to_owned)),
            _ => {}
        }
    }
    (buttons, images)
}

#[async_trait]
impl Harness for SlackHarness {
    async fn start(policy: RenderPolicy) -> Self {
        let emulator = Emulator::start(EmulatorOptions {
            rate_limit: Some(RateLimit {
                per_second: 1.0,
                burst: 100,
            }),
            ..EmulatorOptions::default()
        })
        .await
        .unwrap();
        let adapter = Arc::new(SlackAdapter::from_table(table(&emulator, policy)).unwrap());
        SlackHarness {
            emulator,
            adapter,
            policy,
        }
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter.clone()
    }

    fn conversation(&self) -> ConversationRef {
        ConversationRef::parse(CHANNEL, CONVERSATION).unwrap()
    }

    async fn stage(&self, outcome: Staged) {
        self.emulator.stage(match outcome {
            Staged::RateLimited { retry_after } => Fault::RateLimited { retry_after },
            Staged::ServerError => Fault::Status(500),
            Staged::AuthFailure => Fault::SlackError("invalid_auth".into()),
            Staged::UnknownRecipient => Fault::SlackError("channel_not_found".into()),
            Staged::LostAnswer => Fault::LostAnswer,
            other => panic!("unknown staged outcome {other:?}"),
        });
    }

    async fn received(&self) -> Vec<Received> {
        self.emulator
            .messages()
            .into_iter()
            .filter(|m| !m.deleted)
            .map(|m| {
                let (buttons, mut attachments) = labels(&m.blocks);
                attachments.extend(m.files.iter().cloned());
                Received {
                    to: m.channel,
                    text: m.text,
                    buttons,
                    quick_replies: Vec::new(),
                    attachments,
                }
            })
            .collect()
    }

    async fn request_count(&self) -> usize {
        self.emulator.calls().len()
    }

    fn inbound_text(&self, text: &str) -> SignedSet {
        let ts = format!(
            "{}.000100",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        );
        let body = self.emulator.event_callback(json!({
            "type": "message", "channel": CONVERSATION, "user": "U0ALICE", "text": text,
            "ts": ts, "event_ts": ts, "channel_type": "channel"
        }));
        let valid = self.signed(&body);
        let mut tampered = valid.clone();
        tampered.body =
            Bytes::from(String::from_utf8_lossy(&valid.body).replace(text, &format!("{text}!")));
        let old = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 600;
        let stale =
            self.emulator
                .signed_request_at(WEBHOOK_URL, body.to_string(), "application/json", old);
        SignedSet {
            valid,
            tampered,
            stale: Some(stale),
        }
    }

    fn handshake(&self) -> Option<(WebhookRequest, Bytes)> {
        let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
        let body = json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge,
            "type": "url_verification"});
        Some((self.signed(&body), Bytes::from(challenge)))
    }

    fn config(&self) -> ChannelTable {
        table(&self.emulator, self.policy)
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::new();
        switchboard_slack::register(&mut r);
        r
    }

    fn secrets(&self) -> Vec<String> {
        let c = self.emulator.options();
        vec![c.bot_token.clone(), c.signing_secret.clone()]
    }
}

switchboard_core::conformance_tests!(
    SlackHarness: Reconcile,
    SignedTimestamp,
    Handshake,
    UnsupportedOperations
);
