#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod api;
pub mod config;
mod error_map;
mod extension;
mod managed;
mod media;
pub mod policy;
mod reconcile;
mod render;
pub mod signature;
mod webhook;
mod wire;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::sync::Arc;

pub use adapter::{MessengerAdapter, capabilities};
pub use config::{MessengerConfig, MessengerConfigBuilder};
pub use error_map::GraphError;
pub use extension::{
    DefaultAction, GenericElement, GenericTemplate, MessagingType, NotificationType, SendOptions,
    TemplateButton,
};
pub use managed::{ManagedPage, managed_pages};

/// The provider's registry name: `provider = "messenger"` in a channel table.
pub const PROVIDER: &str = "messenger";

/// The largest inbound attachment `fetch_attachment` downloads: 25 MiB, Messenger's own
/// attachment limit. Larger bodies are a `TooLarge` error, found by `Content-Length` or while
/// streaming.
pub const MAX_MEDIA_BYTES: u64 = 25 * 1024 * 1024;

/// Registers the Messenger factory under [`PROVIDER`].
pub fn register(registry: &mut switchboard_core::Registry) {
    registry.register(PROVIDER, |table| {
        MessengerAdapter::from_table(table)
            .map(|a| Arc::new(a) as Arc<dyn switchboard_core::Adapter>)
    });
}
