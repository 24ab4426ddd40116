#![doc = include_str!("../README.md")]

pub use switchboard_core as core;
pub use switchboard_core::*;

mod backoff;
pub mod config;
pub mod docs;
pub mod handler;
mod metrics;
mod ratelimit;
mod sender;
mod server;
pub mod store;
mod switchboard;
mod worker;

pub use config::{Config, EngineConfig, RateConfig, ServerConfig, StoreConfig};
pub use handler::{BoxError, Context, HandlerResult};
pub use store::{DeadLetter, DeadLetterKind, MemoryStore, SqliteStore, Store};
pub use switchboard::{
    ChannelSettings, Running, Switchboard, SwitchboardBuilder, Workers, shutdown_signal,
};

/// A registry that knows every provider enabled by this crate's features (and `memory`).
pub fn registry() -> Registry {
    Registry::new()
}
