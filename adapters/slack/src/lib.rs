#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod api;
pub mod config;
mod error_map;
mod extension;
mod install;
mod outbound;
mod reconcile;
mod render;
pub mod signature;
mod tenancy;
mod webhook;
mod wire;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::sync::Arc;

pub use adapter::{BotIdentity, MAX_TEXT_CHARS, SlackAdapter, capabilities};
pub use config::{DEFAULT_MAX_MEDIA_BYTES, SlackConfig, SlackConfigBuilder, SlackOAuthConfig};
pub use extension::{SlackBlocks, SlackEphemeral, SlackPostOptions};
pub use reconcile::{OUTBOX_EVENT_TYPE, RECONCILE_LOOKBACK};
pub use webhook::{RETRY_NUM_HEADER, RETRY_REASON_HEADER};

/// The provider's registry name: `provider = "slack"` in a channel table.
pub const PROVIDER: &str = "slack";

/// Registers the Slack adapter factory under [`PROVIDER`].
pub fn register(registry: &mut switchboard_core::Registry) {
    registry.register(PROVIDER, |table| {
        SlackAdapter::from_table(table).map(|a| Arc::new(a) as Arc<dyn switchboard_core::Adapter>)
    });
}
