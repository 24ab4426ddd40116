//! Application handlers and the context they receive.
//!
//! A handler is an async closure `|ctx: Context| async move { … Ok(()) }`. What it sends with
//! [`Context::reply`] / [`Context::send`] and the state it writes with
//! [`Context::set_state`] are buffered and committed *with* the inbox row's completion, in one
//! transaction: a handler that fails, times out or dies with the process leaves nothing behind,
//! and runs again. Handlers should therefore keep other side effects idempotent, keyed by
//! [`Context::idempotency_key`].
//!
//! A [`Context`] is `Clone` (a spawned task may hold a copy), but it only answers while its
//! handler runs: once the handler has returned (or failed, timed out or panicked), queuing a
//! reply or setting state through any copy is an error, never silently dropped.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_core::{ConversationRef, Error, ErrorKind, InboundEvent, OutboundMessage, Result};

use crate::store::{Completion, NewOutbound, Store, conversation_key};

/// The error a handler returns; any error type converts into it with `?`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a handler returns.
pub type HandlerResult = std::result::Result<(), BoxError>;

type BoxFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;

/// A registered handler.
#[derive(Clone)]
pub(crate) struct Handler(Arc<dyn Fn(Context) -> BoxFuture + Send + Sync>);

impl Handler {
    pub(crate) fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        Handler(Arc::new(move |ctx| Box::pin(f(ctx))))
    }

    pub(crate) fn call(&self, ctx: Context) -> BoxFuture {
        (self.0)(ctx)
    }
}

/// A handler's (or a plugin hook's) future with its panics caught: a panic while polling it
/// ends it with `Err(the panic message)` instead of unwinding into the worker or the sender.
/// The future is never polled again after it panicked.
pub(crate) struct CatchPanic<F>(F);

impl<F> CatchPanic<F> {
    pub(crate) fn new(future: F) -> Self {
        CatchPanic(future)
    }
}

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = std::result::Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.get_mut().0;
        // Unwind safety: after a panic the future is dropped unpolled, and the context's buffer
        // (the only state shared with the engine) is discarded with the failed run.
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *future).poll(cx))) {
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

/// The text of a panic payload (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The handlers of an engine: one for messages, one for actions, one for everything else
/// (and for messages or actions when their own handler is not set).
#[derive(Clone, Default)]
pub(crate) struct Handlers {
    pub(crate) message: Option<Handler>,
    pub(crate) action: Option<Handler>,
    pub(crate) event: Option<Handler>,
}

impl Handlers {
    pub(crate) fn for_event(&self, event: &InboundEvent) -> Option<&Handler> {
        let specific = match event.kind.name() {
            "message" => self.message.as_ref(),
            "action" => self.action.as_ref(),
            _ => None,
        };
        specific.or(self.event.as_ref())
    }
}

#[derive(Default)]
struct Buffer {
    outbox: Vec<(ConversationRef, OutboundMessage)>,
    state: Option<Option<serde_json::Value>>,
    /// What plugins' hooks queued for this event (they run before the handler), with the keys
    /// they chose ([`crate::plugin::EventContext`]).
    keyed: Vec<NewOutbound>,
    /// State writes of plugins' hooks, in order: (state key, value or `None` to delete).
    keyed_state: Vec<(String, Option<serde_json::Value>)>,
    /// The handler has returned: nothing more may be queued.
    closed: bool,
}

/// What a handler gets: the event, and ways to answer that commit with its completion.
#[derive(Clone)]
pub struct Context {
    event: Arc<InboundEvent>,
    attempt: u32,
    key: Arc<str>,
    store: Arc<dyn Store>,
    channels: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    buffer: Arc<Mutex<Buffer>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("event", &self.event.id)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl Context {
    pub(crate) fn new(
        event: InboundEvent,
        attempt: u32,
        store: Arc<dyn Store>,
        channels: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    ) -> Self {
        let key = format!("{}:{}", event.conversation.channel, event.id);
        Context {
            event: Arc::new(event),
            attempt,
            key: key.into(),
            store,
            channels,
            buffer: Arc::default(),
        }
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The buffer, if the handler is still running.
    fn open_buffer(&self, what: &str) -> Result<std::sync::MutexGuard<'_, Buffer>> {
        let b = self.buffer();
        if b.closed {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                format!(
                    "{what} after the handler of event {} returned: a Context only answers while its handler runs",
                    self.key
                ),
            ));
        }
        Ok(b)
    }

    /// The event being handled.
    pub fn event(&self) -> &InboundEvent {
        &self.event
    }

    /// Where the event happened (replies go here).
    pub fn conversation(&self) -> &ConversationRef {
        &self.event.conversation
    }

    /// `"{channel}:{event id}"`: the same on every run of this event, so side effects keyed by
    /// it happen once. Replies get `"{key}:{index}"` as their outbox idempotency key.
    pub fn idempotency_key(&self) -> &str {
        &self.key
    }

    /// Which run of the handler this is for this event (1 on the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Queues a reply into the event's conversation (and thread, if any).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn reply(&self, message: OutboundMessage) -> Result<()> {
        self.send(self.event.conversation.clone(), message)
    }

    /// Queues a plain markdown text reply.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` for text an [`OutboundMessage`] cannot hold, else as [`send`](Self::send).
    pub fn reply_text(&self, text: impl Into<String>) -> Result<()> {
        self.reply(OutboundMessage::text(text)?)
    }

    /// Queues a message to any conversation on any configured channel.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when `message` does not validate, or when the handler has already returned
    /// (a copy of the context used late); `NotFound` when no channel has `to`'s name.
    pub fn send(&self, to: ConversationRef, message: OutboundMessage) -> Result<()> {
        message.validate()?;
        if !(self.channels)(to.channel.as_str()) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no channel named '{}'", to.channel),
            ));
        }
        self.open_buffer("reply")?.outbox.push((to, message));
        Ok(())
    }

    /// The conversation's state: what the last successful handler stored (or what this run
    /// set), deserialized into `T`.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read; `InvalidMessage` when the stored value does not
    /// deserialize into `T`.
    pub async fn state<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let pending = self.buffer().state.clone();
        let value = match pending {
            Some(v) => v,
            None => {
                self.store
                    .get_state(&conversation_key(&self.event.conversation))
                    .await?
            }
        };
        value
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("state: {e}")))
    }

    /// Sets the conversation's state (committed when the handler succeeds).
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when `value` does not serialize to JSON, or when the handler has already
    /// returned.
    pub fn set_state<T: Serialize>(&self, value: &T) -> Result<()> {
        let v = serde_json::to_value(value)
            .map_err(|e| Error::new(ErrorKind::InvalidMessage, format!("state: {e}")))?;
        self.open_buffer("set_state")?.state = Some(Some(v));
        Ok(())
    }

    /// Deletes the conversation's state (when the handler succeeds).
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when the handler has already returned.
    pub fn clear_state(&self) -> Result<()> {
        self.open_buffer("clear_state")?.state = Some(None);
        Ok(())
    }

    /// Queues a plugin's message under `key` (see [`crate::plugin::EventContext::send`]).
    pub(crate) fn queue_keyed(
        &self,
        key: String,
        to: ConversationRef,
        mut message: OutboundMessage,
    ) -> Result<()> {
        message.validate()?;
        if !(self.channels)(to.channel.as_str()) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no channel named '{}'", to.channel),
            ));
        }
        message.idempotency_key = Some(key.clone());
        self.open_buffer("plugin send")?
            .keyed
            .push(NewOutbound { key, to, message });
        Ok(())
    }

    /// A plugin's state under `key`: what this run set, else what the store holds.
    pub(crate) async fn keyed_state(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let pending = self
            .buffer()
            .keyed_state
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone());
        match pending {
            Some(v) => Ok(v),
            None => self.store.get_state(key).await,
        }
    }

    /// Sets (or with `None` deletes) a plugin's state under `key`, committed with the event.
    pub(crate) fn set_keyed_state(
        &self,
        key: String,
        value: Option<serde_json::Value>,
    ) -> Result<()> {
        let mut b = self.open_buffer("plugin set_state")?;
        // One write per key: the last.
        b.keyed_state.retain(|(k, _)| *k != key);
        b.keyed_state.push((key, value));
        Ok(())
    }

    /// Closes the context (every copy: later replies and state changes are errors) and
    /// returns everything the plugins' hooks and the handler queued, with outbox keys: the
    /// plugins' first (they ran first), then the handler's.
    pub(crate) fn finish(&self) -> Completion {
        let mut b = self.buffer();
        b.closed = true;
        let mut outbox: Vec<NewOutbound> = b.keyed.drain(..).collect();
        outbox.extend(
            b.outbox
                .drain(..)
                .enumerate()
                .map(|(i, (to, mut message))| {
                    let key = format!("{}:{i}", self.key);
                    message.idempotency_key = Some(key.clone());
                    NewOutbound { key, to, message }
                }),
        );
        let mut state: Vec<(String, Option<serde_json::Value>)> = b.keyed_state.drain(..).collect();
        if let Some(v) = b.state.take() {
            state.push((conversation_key(&self.event.conversation), v));
        }
        Completion { outbox, state }
    }
}
