//! The engine's context, passed down to every room of the data flow: configuration, channels,
//! the store, handlers, metrics and the wake-ups of the two claim loops. The rooms ([`inbox`],
//! [`worker`], [`outbox`], [`sender`], [`claim_loop`], [`lease`], [`receipts`], [`pruner`])
//! take an `Engine`; none of them knows [`Switchboard`](crate::Switchboard), which only builds
//! the context and starts them.
//!
//! [`inbox`]: crate::inbox
//! [`worker`]: crate::worker
//! [`outbox`]: crate::outbox
//! [`sender`]: crate::sender
//! [`claim_loop`]: crate::claim_loop
//! [`lease`]: crate::lease
//! [`receipts`]: crate::receipts
//! [`pruner`]: crate::pruner

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_core::{Adapter, InboundEvent};

use crate::config::{Config, DeliveryPolicy, RateConfig};
use crate::handler::{Context, Handlers};
use crate::metrics::Metrics;
use crate::ratelimit::ChannelLimits;
use crate::store::Store;

mod wake;

pub(crate) use wake::{Wake, forward_wake_ups};

/// One configured channel.
pub(crate) struct ChannelEntry {
    pub(crate) adapter: Arc<dyn Adapter>,
    pub(crate) rate: RateConfig,
    pub(crate) limits: ChannelLimits,
    pub(crate) delivery: Option<DeliveryPolicy>,
}

/// What every room of the engine works with.
pub(crate) struct Engine {
    pub(crate) config: Config,
    pub(crate) channels: HashMap<String, ChannelEntry>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) handlers: Handlers,
    pub(crate) metrics: Metrics,
    /// Wakes the workers' claim loop.
    pub(crate) inbox_ready: Wake,
    /// Wakes the sender's claim loop.
    pub(crate) outbox_ready: Wake,
    /// The inbox backlog, bounded by `server.max_backlog` ([`crate::backlog`]).
    pub(crate) backlog: crate::backlog::Backlog,
    /// The web chat channels, their logs and streams.
    #[cfg(feature = "webchat")]
    pub(crate) webchat: crate::webchat::Channels,
    /// Plugins on the engine's hooks (the gateway, the bridge, the application's own).
    pub(crate) plugins: Vec<Arc<dyn crate::plugin::Plugin>>,
    /// The installations of multi-tenant channels (`[installs]` configured).
    pub(crate) installations: Option<Arc<crate::install::StoreInstallations>>,
}

impl Engine {
    /// The handler context for a claimed event, on its `attempt`-th claim.
    pub(crate) fn context(self: &Arc<Self>, event: InboundEvent, attempt: u32) -> Context {
        let me = Arc::downgrade(self);
        Context::new(
            event,
            attempt,
            self.store.clone(),
            Arc::new(move |name| me.upgrade().is_some_and(|e| e.channels.contains_key(name))),
        )
    }
}
