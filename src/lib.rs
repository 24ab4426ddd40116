#![doc = include_str!("../README.md")]

/// The channel-neutral contract every adapter implements (`switchboard-core`): modules such as
/// `switchboard::core::model` and `switchboard::core::testkit` are reached through it.
pub use switchboard_core as core;

// What an application names most, re-exported by name (not a glob) so the root has one
// `config` module (the engine's) and no `registry` module beside the `registry()` function.
// Conversations, messages and the handles an application replies through.
pub use switchboard_core::{
    Channel, ChannelName, Conversation, ConversationId, ConversationRef, EventKind, InboundEvent,
    MessageId, MessageRef, OutboundMessage, OutboxKey, SendReceipt, SentMessage, ThreadId, UserId,
};
// Errors, configuration values and secrets shared by the engine and every adapter.
pub use switchboard_core::{ChannelTable, Env, Error, ErrorKind, Result, Retry, Secret};
// What a channel can carry, and how content it cannot carry is degraded, refused or dropped.
pub use switchboard_core::{
    AttachmentCapabilities, Capabilities, Degradation, LengthUnit, MarkdownDialect, RateHint,
    RenderPlan, RenderPolicy, TextLimit,
};
// The adapter contract, for custom adapters and the providers' registry.
pub use switchboard_core::{
    Adapter, AdapterFactory, AdapterInfo, FetchedAttachment, MemoryAdapter, PendingSend,
    Reconciled, Registry, RejectReason, Rejection, WebhookOutcome, WebhookRequest, WebhookResponse,
    async_trait,
};

mod backlog;
mod backoff;
pub mod bridge;
mod claim_loop;
pub mod config;
pub mod docs;
mod engine;
pub mod gateway;
pub mod handler;
mod inbox;
pub mod install;
mod lease;
mod metrics;
mod outbox;
pub mod plugin;
mod pruner;
mod ratelimit;
mod receipts;
mod redact;
mod sender;
mod server;
pub mod store;
mod switchboard;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod worker;

pub use config::{
    Config, DeliveryPolicy, EngineConfig, RateConfig, RateLimitsConfig, ServerConfig, StoreConfig,
    UncertainSends,
};
pub use handler::{BoxError, Context, HandlerResult};
pub use store::{DeadLetter, DeadLetterKind, MemoryStore, SqliteStore, Store, StoreExt};
pub use switchboard::{
    ChannelSettings, Running, Switchboard, SwitchboardBuilder, Workers, shutdown_signal,
};

#[cfg(feature = "messenger")]
pub use switchboard_messenger as messenger;
#[cfg(feature = "slack")]
pub use switchboard_slack as slack;
#[cfg(feature = "twilio")]
pub use switchboard_twilio as twilio;
#[cfg(feature = "webchat")]
pub mod webchat;

/// A registry that knows every provider enabled by this crate's features (and `memory`).
pub fn registry() -> Registry {
    #[allow(unused_mut)]
    let mut registry = Registry::new();
    #[cfg(feature = "slack")]
    switchboard_slack::register(&mut registry);
    #[cfg(feature = "messenger")]
    switchboard_messenger::register(&mut registry);
    #[cfg(feature = "twilio")]
    switchboard_twilio::register(&mut registry);
    #[cfg(feature = "webchat")]
    switchboard_webchat::register(&mut registry);
    registry
}

#[cfg(test)]
mod registry_tests {
    #[test]
    fn every_enabled_provider_is_registered() {
        let registry = super::registry();
        let providers = registry.providers();
        assert!(providers.contains(&"memory"));
        assert_eq!(providers.contains(&"slack"), cfg!(feature = "slack"));
        assert_eq!(
            providers.contains(&"messenger"),
            cfg!(feature = "messenger")
        );
        assert_eq!(providers.contains(&"twilio"), cfg!(feature = "twilio"));
        assert_eq!(providers.contains(&"webchat"), cfg!(feature = "webchat"));
    }
}
