//! [`EventContext`]: what a plugin's `on_event` hook gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_core::{ConversationRef, Error, ErrorKind, InboundEvent, OutboundMessage, Result};

use crate::Switchboard;
use crate::handler::Context;

/// What a plugin's [`on_event`](super::Plugin::on_event) hook gets: the event, the engine, and
/// ways to answer that commit with the event's completion, in the same transaction as the
/// handler's replies (see the [module docs](super)).
pub struct EventContext {
    switchboard: Switchboard,
    plugin: Arc<str>,
    ctx: Context,
    /// Sends queued by this hook in this run (the next index).
    sends: AtomicUsize,
}

impl std::fmt::Debug for EventContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventContext")
            .field("plugin", &self.plugin)
            .field("event", &self.ctx.event().id)
            .field("attempt", &self.ctx.attempt())
            .finish()
    }
}

impl EventContext {
    pub(crate) fn new(switchboard: Switchboard, plugin: &str, ctx: Context) -> Self {
        EventContext {
            switchboard,
            plugin: plugin.into(),
            ctx,
            sends: AtomicUsize::new(0),
        }
    }

    /// The event, as the handler will get it (receipts recorded, a numbered option's answer
    /// already turned into its Action).
    pub fn event(&self) -> &InboundEvent {
        self.ctx.event()
    }

    /// The engine: its store, channels' adapters, configuration, and
    /// [`send`](Switchboard::send) for messages that must not wait for the event's commit.
    pub fn switchboard(&self) -> &Switchboard {
        &self.switchboard
    }

    /// `"{channel}:{event id}"`: the same on every run of this event (as
    /// [`Context::idempotency_key`]).
    pub fn idempotency_key(&self) -> &str {
        self.ctx.idempotency_key()
    }

    /// Which run of this event it is (1 on the first).
    pub fn attempt(&self) -> u32 {
        self.ctx.attempt()
    }

    /// Queues a message to any conversation on any configured channel, committed with the
    /// event. Returns its outbox key, `{channel}/plugin/{name}/{event id}/{index}` (`index`
    /// counts this hook's sends in this event from 0), the same on every run that queues the
    /// same messages in the same order; the message's `idempotency_key` is set to it.
    ///
    /// # Errors
    ///
    /// As [`Context::send`].
    pub fn send(&self, to: ConversationRef, message: OutboundMessage) -> Result<String> {
        let event = self.ctx.event();
        let index = self.sends.load(Ordering::SeqCst);
        let key = format!(
            "{}/plugin/{}/{}/{index}",
            event.conversation.channel, self.plugin, event.id
        );
        self.ctx.queue_keyed(key.clone(), to, message)?;
        self.sends.store(index + 1, Ordering::SeqCst);
        Ok(key)
    }

    /// This plugin's state in the event's conversation (apart from the application's
    /// conversation state, under [`state_key`](super::state_key)): what this run set, else
    /// what the store holds.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read; `InvalidMessage` when the stored value does
    /// not deserialize into `T`.
    pub async fn state<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.ctx
            .keyed_state(&self.key())
            .await?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("plugin state: {e}")))
    }

    /// Sets this plugin's state in the event's conversation (committed with the event).
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when `value` does not serialize to JSON, or when the event's run is
    /// over.
    pub fn set_state<T: Serialize>(&self, value: &T) -> Result<()> {
        let v = serde_json::to_value(value)
            .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("plugin state: {e}")))?;
        self.ctx.set_keyed_state(self.key(), Some(v))
    }

    /// Deletes this plugin's state in the event's conversation (committed with the event).
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when the event's run is over.
    pub fn clear_state(&self) -> Result<()> {
        self.ctx.set_keyed_state(self.key(), None)
    }

    fn key(&self) -> String {
        super::state_key(&self.plugin, &self.ctx.event().conversation)
    }
}
