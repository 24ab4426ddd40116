//! The harness over [`MemoryAdapter`]: the kit's own proof that its checks are sound.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Harness, Received, SignedSet, Staged};
use crate::Capabilities;
use crate::adapter::Adapter;
use crate::config::{ChannelTable, Env};
use crate::memory::{MemoryAdapter, MemoryInbound, faults};
use crate::model::ConversationRef;
use crate::registry::Registry;
use crate::render::RenderPolicy;
use crate::webhook::WebhookRequest;

const SECRET: &str = "memory-conformance-secret";

/// A [`Harness`] over a [`MemoryAdapter`] with reduced capabilities (no edit, delete,
/// reactions, typing) so every check applies.
#[derive(Debug)]
pub struct MemoryHarness {
    adapter: MemoryAdapter,
}

impl MemoryHarness {
    fn table(policy: RenderPolicy) -> ChannelTable {
        let policy = match policy {
            RenderPolicy::Fallback => "fallback",
            RenderPolicy::Strict => "strict",
            RenderPolicy::Drop => "drop",
        };
        let text = format!(
            "provider = 'memory'\nsigning_secret = '${{MEM_SECRET}}'\ntext_limit = 200\nrender = '{policy}'"
        );
        ChannelTable::from_toml_str("mem", &text)
            .map(|t| t.with_env(Env::from_pairs([("MEM_SECRET", SECRET)])))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The underlying adapter.
    pub fn memory(&self) -> &MemoryAdapter {
        &self.adapter
    }
}

#[async_trait]
impl Harness for MemoryHarness {
    async fn start(policy: RenderPolicy) -> Self {
        let adapter =
            MemoryAdapter::from_table(Self::table(policy)).unwrap_or_else(|e| panic!("{e}"));
        let caps = Capabilities {
            edit: false,
            delete: false,
            reactions: false,
            typing: false,
            ..adapter.info().capabilities.clone()
        };
        MemoryHarness {
            adapter: adapter.with_capabilities(caps),
        }
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        Arc::new(self.adapter.clone())
    }

    fn conversation(&self) -> ConversationRef {
        ConversationRef::parse("mem", "C-conformance").unwrap_or_else(|e| panic!("{e}"))
    }

    async fn stage(&self, outcome: Staged) {
        self.adapter.fail_next(match outcome {
            Staged::RateLimited { retry_after } => faults::rate_limited(retry_after),
            Staged::ServerError => faults::server_error(),
            Staged::AuthFailure => faults::unauthenticated(),
            Staged::UnknownRecipient => faults::unknown_recipient(),
            Staged::LostAnswer => {
                self.adapter.deliver_then_fail_next(faults::server_error());
                return;
            }
        });
    }

    async fn received(&self) -> Vec<Received> {
        self.adapter
            .sent()
            .into_iter()
            .map(|s| Received {
                to: s.to.conversation.to_string(),
                text: s.text,
                buttons: s.actions.iter().map(|a| a.label().to_owned()).collect(),
                quick_replies: s.quick_replies.iter().map(|q| q.label.clone()).collect(),
                attachments: s
                    .attachments
                    .iter()
                    .filter_map(|a| a.as_url().map(str::to_owned))
                    .collect(),
            })
            .collect()
    }

    async fn request_count(&self) -> usize {
        self.adapter.requests()
    }

    fn inbound_text(&self, text: &str) -> SignedSet {
        let url = "http://127.0.0.1/webhooks/mem";
        let inbound = [MemoryInbound::message(
            "ev-1",
            "C-conformance",
            "U-customer",
            text,
        )];
        let valid = self.adapter.signed_request(url, &inbound);
        let mut tampered = valid.clone();
        let altered = String::from_utf8_lossy(&valid.body).replace(text, &format!("{text}!"));
        tampered.body = Bytes::from(altered);
        let stale = valid
            .clone()
            .received_at(SystemTime::now() + Duration::from_secs(600));
        SignedSet {
            valid,
            tampered,
            stale: Some(stale),
        }
    }

    fn handshake(&self) -> Option<(WebhookRequest, Bytes)> {
        Some((
            WebhookRequest::get("http://127.0.0.1/webhooks/mem?challenge=c-123"),
            Bytes::from_static(b"c-123"),
        ))
    }

    fn config(&self) -> ChannelTable {
        Self::table(RenderPolicy::Fallback)
    }

    fn registry(&self) -> Registry {
        Registry::new()
    }

    fn secrets(&self) -> Vec<String> {
        vec![SECRET.to_owned()]
    }
}
