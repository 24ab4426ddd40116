#![doc = include_str!("../README.md")]

pub use switchboard_core as core;
pub use switchboard_core::*;

mod backoff;
pub mod bridge;
mod claim_loop;
pub mod config;
pub mod docs;
mod engine;
pub mod handler;
mod inbox;
mod lease;
mod metrics;
mod outbox;
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
/// The web chat provider crate (protocol, tokens, sessions, rendering, decoding). Not in
/// [`registry()`] until the engine's web chat module exists: see [`docs`](crate::docs#web-chat).
#[cfg(feature = "webchat")]
pub use switchboard_webchat as webchat;

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
        assert!(
            !providers.contains(&"webchat"),
            "web chat waits for the engine's module (the durable log) before it is served"
        );
    }
}
