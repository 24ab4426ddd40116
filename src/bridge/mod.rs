//! The support bridge: customers write on Messenger, SMS or WhatsApp; agents answer in Slack
//! threads.
//!
//! ```toml
//! [bridge]
//! agents = "team"                   # a [channels.X] whose adapter has threads (Slack)
//! agents_conversation = "C0AGENTS"  # the Slack channel id where threads are opened
//! customers = ["fb", "sms"]         # [channels.X] names
//! thread_cache = 10000              # thread parents kept in memory (least recently used
//!                                   # out first; a miss reads the store)
//! ```
//!
//! - The first message of a customer conversation opens a thread in `agents_conversation`: a
//!   parent message naming the customer's channel and sender, with the customer's text. Later
//!   messages (and button choices) of that customer go into that thread. Attachments are
//!   relayed as files where the agents' channel takes uploads, as links otherwise.
//! - A person's reply in such a thread goes to the customer on the customer's channel, rendered
//!   for it by its adapter (the agent's mrkdwn is read back into markdown first, so it is
//!   converted or stripped; long text is split). An agent adds buttons with `[[Label|PAYLOAD]]`;
//!   where the channel has no buttons they become numbered options, and the customer's answer
//!   ("2") comes back into the thread as the button's choice.
//! - The bot's own messages, and messages outside bridge threads, are ignored. A reply that
//!   cannot be delivered (the engine gave up on it: the provider refused it, its retries ran
//!   out; or a delivery receipt says it failed) is posted back into the thread as a short
//!   notice with the error kind. A reply the engine refused before any request (the customer's
//!   messaging window closed, the customer texted `STOP`) is not sent, and the notice says why
//!   in words: `Not sent to … : the customer's 24-hour window closed on …`.
//! - Agents' replies are marked [`HumanAgent`](switchboard_core::policy::HumanAgent): a person
//!   wrote them. Messenger sends them with the `HUMAN_AGENT` tag, allowed for 7 days after the
//!   customer's last message (a human answering from Slack is what the tag is for).
//! - Everything goes through the engine: webhooks are deduplicated and stored before they are
//!   answered, handlers run in order per conversation, sends go through the outbox with rate
//!   limits and retries.
//!
//! **A plugin.** The bridge is a [`Plugin`] on the engine's public hooks, like the gateway:
//! it owns none of the engine's handlers, so an application runs it beside its own
//! `on_message`/`on_action`/`on_event` handlers, the gateway and other plugins, each seeing
//! every event (an application that should leave the bridge's conversations alone checks
//! [`BridgeConfig::agents`] and [`BridgeConfig::is_customer`]).
//! - Its [`on_event`](Plugin::on_event) hook relays customers' events into threads and agents'
//!   thread replies to customers. What it queues commits with the event (with the handler's
//!   replies, in one transaction), under its own outbox keys
//!   (`{channel}/plugin/bridge/{event id}/{index}`), so the application's reply keys are those
//!   it would have without the bridge. Like everything queued for an event, it is dropped if
//!   the event is dead-lettered (the application's handler kept failing on it).
//! - Its [`on_dead_letter`](Plugin::on_dead_letter) hook hears when the engine gives up on a
//!   reply to a customer and queues the notice into the thread (keyed after the failed row, so
//!   once). The engine decides when a send is over; the bridge does not re-derive the sender's
//!   rule. The hook is at most once: a crash between the dead letter's commit and the notice's
//!   queuing loses the notice (the dead letter stays, see [`crate::plugin`]).
//!
//! **Where the mapping lives.** The customer conversation's link (the outbox key of its
//! thread's parent message, and how the customer is named) is the bridge's plugin state there
//! ([`plugin::state_key`](crate::plugin::state_key)`("bridge", …)`), written in the same
//! transaction as the parent's outbox row; a link kept by an earlier version in the
//! conversation's own state is read, and moved, at the customer's next message. Follow-ups are
//! queued with the parent's key; when the sender sends them (after the parent, since the
//! agents' conversation is sent in order), the bridge's wrapper around the agents' adapter
//! resolves the parent's `ts` and sets `thread_ts`. When the parent is sent, the wrapper
//! records `ts → customer` in the store, which is how an agent's reply finds its customer.
//! Everything is in the store, so a restart keeps every thread.
//!
//! ```no_run
//! # async fn run() -> switchboard::Result<()> {
//! use switchboard::Env;
//! use switchboard::bridge;
//!
//! let text = std::fs::read_to_string("switchboard.toml").unwrap_or_default();
//! let (builder, bridge) = bridge::from_config_str(&text, &Env::process())?;
//! let bridge = bridge.expect("the config has a [bridge] section");
//! // The application's own handlers (and plugins) run beside the bridge.
//! let builder = builder.on_event(|ctx| async move {
//!     tracing::debug!(event = %ctx.event().id, "seen by the app too");
//!     Ok(())
//! });
//! let switchboard = bridge.build(builder).await?;
//! switchboard.serve().await
//! # }
//! ```

mod cache;
mod config;
mod relay;
mod text;
mod wrap;

use std::sync::{Arc, Mutex, OnceLock, Weak};

pub use config::{BridgeConfig, DEFAULT_THREAD_CACHE, split_document};
pub use text::{AgentButton, customer_text, extract_buttons, literal, to_commonmark};

use async_trait::async_trait;
use switchboard_core::{Adapter, Env, Error, ErrorKind, Registry, Result};

use crate::engine::Engine;
use crate::plugin::{EventContext, FailedSend, Plugin};
use crate::switchboard::{Switchboard, SwitchboardBuilder};

/// State shared by the hooks and the adapter wrappers of one bridge.
pub(crate) struct Shared {
    pub(crate) config: BridgeConfig,
    engine: OnceLock<Weak<Engine>>,
    /// Parent outbox key → the parent's `ts`: a bounded cache (`[bridge] thread_cache`) of
    /// what the store holds.
    pub(crate) parents: Mutex<cache::Lru>,
}

impl Shared {
    pub(crate) fn engine(&self) -> Result<Arc<Engine>> {
        self.engine.get().and_then(Weak::upgrade).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfig,
                "bridge: not attached to an engine (add it with SwitchboardBuilder::plugin, or use Bridge::install or Bridge::build)",
            )
        })
    }
}

/// A support bridge. Cheap to clone; every clone is the same bridge.
#[derive(Clone)]
pub struct Bridge {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// A bridge for `config`; give it to an engine with [`build`](Self::build) (or
    /// [`install`](Self::install) and [`SwitchboardBuilder::build`]).
    pub fn new(config: BridgeConfig) -> Self {
        let parents = Mutex::new(cache::Lru::new(config.thread_cache));
        Bridge {
            shared: Arc::new(Shared {
                config,
                engine: OnceLock::new(),
                parents,
            }),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &BridgeConfig {
        &self.shared.config
    }

    /// `base` with every factory wrapped so that the bridge's channels get the bridge's adapter
    /// wrapper (which threads follow-ups and records where replies must go).
    pub fn registry(&self, base: Registry) -> Registry {
        let mut wrapped = base.clone();
        for provider in base.providers() {
            let base = base.clone();
            let me = self.clone();
            wrapped.register(provider, move |table| {
                let adapter = base.build(table)?;
                Ok(me.wrap(adapter))
            });
        }
        wrapped
    }

    /// Wraps an adapter built in code if it serves one of the bridge's channels (others are
    /// returned as they are). Use it for channels added with `SwitchboardBuilder::channel`.
    pub fn wrap(&self, adapter: Arc<dyn Adapter>) -> Arc<dyn Adapter> {
        let channel = &adapter.info().channel;
        if *channel == self.shared.config.agents || self.shared.config.is_customer(channel) {
            Arc::new(wrap::BridgeAdapter::new(adapter, self.shared.clone()))
        } else {
            adapter
        }
    }

    /// Adds the bridge to `builder` as a [`Plugin`] with the default registry
    /// ([`crate::registry()`]) wrapped with [`registry`](Self::registry). Handlers and other
    /// plugins added before or after run beside it. For a custom registry or channels built
    /// in code, use [`registry`](Self::registry), [`wrap`](Self::wrap) and
    /// [`SwitchboardBuilder::plugin`] instead.
    pub fn install(&self, builder: SwitchboardBuilder) -> SwitchboardBuilder {
        builder
            .registry(self.registry(crate::registry()))
            .plugin(self.clone())
    }

    /// Installs the bridge into `builder` and builds the engine (which attaches the bridge:
    /// see [`Plugin::attach`]).
    ///
    /// # Errors
    ///
    /// As [`SwitchboardBuilder::build`], and `InvalidConfig` for the first problem of the
    /// bridge's: a channel the bridge names that the engine does not have, or an agents'
    /// channel whose adapter has no threads.
    pub async fn build(&self, builder: SwitchboardBuilder) -> Result<Switchboard> {
        self.install(builder).build().await
    }
}

#[async_trait]
impl Plugin for Bridge {
    fn name(&self) -> &str {
        relay::NAME
    }

    /// Checks that the channels exist and that the agents' channel has threads, and gives the
    /// wrappers the engine's store.
    async fn attach(&self, switchboard: &Switchboard) -> Result<()> {
        let inner = &switchboard.inner;
        let config = &self.shared.config;
        let mut problems = config.check_channels(inner.channels.keys().map(String::as_str));
        if let Some(agents) = inner.channels.get(config.agents.as_str()) {
            let info = agents.adapter.info();
            if !info.capabilities.threads {
                problems.push(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "bridge: key 'agents': channel '{}' ({}) has no threads",
                        config.agents, info.provider
                    ),
                ));
            }
        }
        if let Some(first) = problems.into_iter().next() {
            return Err(first);
        }
        let _ = self.shared.engine.set(Arc::downgrade(inner));
        Ok(())
    }

    async fn on_event(&self, ctx: &EventContext) -> Result<()> {
        relay::on_event(self.shared.clone(), ctx).await
    }

    async fn on_dead_letter(&self, switchboard: &Switchboard, failed: &FailedSend) -> Result<()> {
        relay::dead_letter(&self.shared, switchboard, failed).await
    }
}

/// Reads a whole config document: the engine's builder (from everything but `[bridge]`) and
/// the bridge, when the document has a `[bridge]` section.
///
/// # Errors
///
/// `InvalidConfig` as [`split_document`] and [`SwitchboardBuilder::from_config_str`].
pub fn from_config_str(text: &str, env: &Env) -> Result<(SwitchboardBuilder, Option<Bridge>)> {
    let (doc, bridge) = split_document(text)?;
    let engine_text = toml::to_string(&doc)
        .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("config: {e}")))?;
    let builder = SwitchboardBuilder::from_config_str(&engine_text, env)?;
    Ok((builder, bridge.map(Bridge::new)))
}
