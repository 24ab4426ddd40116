//! The adapter wrapper the bridge puts around its channels. Toward the agents it threads
//! follow-ups and records which customer a thread belongs to; toward customers it only strips
//! the bridge's extensions (a reply the engine gives up on reaches the thread through the
//! bridge's dead-letter hook, [`super::Bridge`]'s `on_dead_letter`).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_core::model::{Extension, Extensions, InboundAttachment, OutboxKey};
use switchboard_core::{
    Adapter, AdapterInfo, Capabilities, ConversationId, ConversationRef, FetchedAttachment,
    MessageRef, OutboundMessage, PendingSend, RateHint, Reconciled, Result, SendReceipt,
    SentMessage, ThreadId, WebhookOutcome, WebhookRequest,
};

use std::time::SystemTime;

use switchboard_core::{Contact, SendPolicy};

use super::Shared;
use super::relay::thread_header;
use crate::store::OutboxState;

/// Marks a message for the agents' conversation: `parent` is `None` for a thread's parent,
/// else the outbox key of the parent whose thread it goes into.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToAgents {
    pub(crate) customer: ConversationRef,
    pub(crate) parent: Option<String>,
}

impl Extension for ToAgents {
    const KEY: &'static str = "bridge.to_agents";
}

/// Marks an agent's reply relayed to a customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToCustomer {
    pub(crate) thread: String,
}

impl Extension for ToCustomer {
    const KEY: &'static str = "bridge.to_customer";
}

/// The store key of `ts → customer` for a thread in the agents' conversation.
pub(crate) fn thread_key(shared: &Shared, ts: &str) -> String {
    format!(
        "bridge:thread:{}/{}/{ts}",
        shared.config.agents, shared.config.agents_conversation
    )
}

/// The store key of `parent outbox key → ts`.
pub(crate) fn parent_key(key: &str) -> String {
    format!("bridge:parent:{key}")
}

pub(crate) struct BridgeAdapter {
    inner: Arc<dyn Adapter>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BridgeAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeAdapter")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl BridgeAdapter {
    pub(crate) fn new(inner: Arc<dyn Adapter>, shared: Arc<Shared>) -> Self {
        BridgeAdapter { inner, shared }
    }

    /// The `ts` of the parent sent under outbox key `key`, if it was sent.
    async fn resolve_parent(&self, key: &str) -> Option<String> {
        if let Some(ts) = lock(&self.shared.parents).get(key) {
            return Some(ts.clone());
        }
        let engine = self.shared.engine().ok()?;
        if let Ok(Some(v)) = engine.store.get_state(&parent_key(key)).await
            && let Some(ts) = v.as_str()
        {
            lock(&self.shared.parents).insert(key.to_owned(), ts.to_owned());
            return Some(ts.to_owned());
        }
        let status = engine.store.outbox_status(key).await.ok().flatten()?;
        if status.state != OutboxState::Sent {
            return None;
        }
        let ts = status.message_ids.first()?.as_str().to_owned();
        lock(&self.shared.parents).insert(key.to_owned(), ts.clone());
        Some(ts)
    }

    /// Records that thread `ts` belongs to `customer` (and, for a parent, `key → ts`). Failures
    /// are logged, not returned: the message is already with the provider.
    async fn register(&self, key: Option<&str>, ts: &str, customer: &ConversationRef) {
        if let Some(key) = key {
            lock(&self.shared.parents).insert(key.to_owned(), ts.to_owned());
        }
        let Ok(engine) = self.shared.engine() else {
            tracing::error!("bridge: not attached; thread {ts} is not recorded");
            return;
        };
        let customer = serde_json::to_value(customer).unwrap_or_default();
        if let Err(e) = engine
            .store
            .set_state(&thread_key(&self.shared, ts), Some(customer))
            .await
        {
            tracing::error!(error = %e, ts, "bridge: recording the thread failed");
        }
        if let Some(key) = key
            && let Err(e) = engine
                .store
                .set_state(&parent_key(key), Some(serde_json::json!(ts)))
                .await
        {
            tracing::error!(error = %e, ts, "bridge: recording the parent failed");
        }
    }

    async fn send_to_agents(
        &self,
        to: &ConversationRef,
        message: OutboundMessage,
        ext: ToAgents,
    ) -> Result<SendReceipt> {
        let key = message.idempotency_key.clone();
        let mut message = message;
        let parent_ts = match &ext.parent {
            Some(parent) => self.resolve_parent(parent).await,
            None => None,
        };
        match (&ext.parent, &parent_ts) {
            (Some(_), Some(ts)) => message.thread = Some(ThreadId::new(ts.as_str())?),
            (Some(_), None) => {
                // The parent was never posted (dead-lettered): this message opens the thread,
                // so it says whose thread it is.
                message.text = Some(format!(
                    "{}\n\n{}",
                    thread_header(&ext.customer),
                    message.text.as_deref().unwrap_or_default()
                ));
            }
            (None, _) => {}
        }
        let receipt = self.inner.send(to, &message).await?;
        match (&ext.parent, parent_ts) {
            (Some(_), Some(ts)) => {
                // Make sure the reverse mapping exists (it may have been lost to a crash).
                self.register(None, &ts, &ext.customer).await;
            }
            (Some(parent), None) => {
                tracing::warn!(parent, "bridge: thread parent missing; opened a new thread");
                if let Some(ts) = receipt.first_id() {
                    self.register(Some(parent), ts.as_str(), &ext.customer)
                        .await;
                }
            }
            (None, _) => {
                if let Some(ts) = receipt.first_id() {
                    self.register(key.as_deref(), ts.as_str(), &ext.customer)
                        .await;
                }
            }
        }
        Ok(receipt)
    }

    /// Looks for a message to the agents where [`send_to_agents`](Self::send_to_agents) put
    /// it: a reply in its parent's thread. The queued message does not carry the thread (it is
    /// resolved when sending, once the parent has its `ts`), so without this a reply that
    /// reached Slack before a crash is looked for among the channel's top-level messages, not
    /// found, and posted again.
    async fn reconcile_to_agents(
        &self,
        key: &OutboxKey,
        pending: &PendingSend,
        ext: ToAgents,
    ) -> Result<Reconciled> {
        let mut pending = pending.clone();
        pending.message = strip(&pending.message);
        let parent_ts = match &ext.parent {
            Some(parent) => self.resolve_parent(parent).await,
            None => None,
        };
        if let Some(ts) = &parent_ts {
            pending.message.thread = Some(ThreadId::new(ts.as_str())?);
        }
        let answer = self.inner.reconcile(key, &pending).await?;
        if let Reconciled::Delivered(sent) | Reconciled::Partial(sent) = &answer
            && let Some(first) = sent.first()
        {
            // What `send_to_agents` records after a send, in case the crash came before it.
            match (&ext.parent, &parent_ts) {
                (Some(_), Some(ts)) => self.register(None, ts, &ext.customer).await,
                (Some(parent), None) => {
                    self.register(Some(parent), first.id.as_str(), &ext.customer)
                        .await
                }
                (None, _) => {
                    self.register(Some(key.as_str()), first.id.as_str(), &ext.customer)
                        .await
                }
            }
        }
        Ok(answer)
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The message without the bridge's own extensions (adapters never see them).
fn strip(message: &OutboundMessage) -> OutboundMessage {
    let mut m = message.clone();
    if m.extensions.keys().any(|k| k.starts_with("bridge.")) {
        let mut map = match serde_json::to_value(&m.extensions) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        map.retain(|k, _| !k.starts_with("bridge."));
        m.extensions = serde_json::from_value::<Extensions>(serde_json::Value::Object(map))
            .unwrap_or_default();
    }
    m
}

#[async_trait]
impl Adapter for BridgeAdapter {
    fn info(&self) -> &AdapterInfo {
        self.inner.info()
    }

    fn capabilities_for(&self, conversation: &ConversationId) -> Capabilities {
        self.inner.capabilities_for(conversation)
    }

    fn rate_hint(&self) -> RateHint {
        self.inner.rate_hint()
    }

    fn send_policy(&self, to: &ConversationRef, message: &OutboundMessage) -> SendPolicy {
        self.inner.send_policy(to, message)
    }

    /// The inner adapter's check (a refusal is dead-lettered by the engine, and the bridge's
    /// dead-letter hook tells the thread).
    async fn check_send(
        &self,
        to: &ConversationRef,
        message: &OutboundMessage,
        contact: &Contact,
        now: SystemTime,
    ) -> Result<()> {
        self.inner.check_send(to, message, contact, now).await
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        if let Some(ext) = message.extensions.get::<ToAgents>() {
            let ext = ext?;
            return self.send_to_agents(to, strip(message), ext).await;
        }
        if message.extensions.contains_key(ToCustomer::KEY) {
            return self.inner.send(to, &strip(message)).await;
        }
        self.inner.send(to, message).await
    }

    async fn edit(&self, target: &MessageRef, message: &OutboundMessage) -> Result<SentMessage> {
        self.inner.edit(target, &strip(message)).await
    }

    async fn delete(&self, target: &MessageRef) -> Result<()> {
        self.inner.delete(target).await
    }

    async fn react(&self, target: &MessageRef, reaction: &str, add: bool) -> Result<()> {
        self.inner.react(target, reaction, add).await
    }

    async fn typing(&self, to: &ConversationRef) -> Result<()> {
        self.inner.typing(to).await
    }

    async fn fetch_attachment(&self, attachment: &InboundAttachment) -> Result<FetchedAttachment> {
        self.inner.fetch_attachment(attachment).await
    }

    async fn verify_credentials(&self) -> Result<()> {
        self.inner.verify_credentials().await
    }

    fn send_timeout(&self) -> std::time::Duration {
        self.inner.send_timeout()
    }

    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        if let Some(ext) = pending.message.extensions.get::<ToAgents>() {
            return self.reconcile_to_agents(key, pending, ext?).await;
        }
        if pending.message.extensions.contains_key(ToCustomer::KEY) {
            let mut pending = pending.clone();
            pending.message = strip(&pending.message);
            return self.inner.reconcile(key, &pending).await;
        }
        self.inner.reconcile(key, pending).await
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        self.inner.handle_webhook(request)
    }

    fn precheck_webhook(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
    ) -> Option<switchboard_core::Rejection> {
        self.inner.precheck_webhook(method, headers)
    }
}
