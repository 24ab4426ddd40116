//! Plugins: what runs beside the application's handlers on the engine's hooks. The gateway is
//! one ([`crate::gateway`]); an engine runs its plugins, its handlers and the bridge together.
//!
//! Hooks, in the data flow's order:
//! - [`on_event`](Plugin::on_event): every claimed event, after its receipts are recorded and
//!   numbered options translated, *before* the handler runs. An error fails the event like a
//!   handler error (retried with backoff, then dead-lettered), so a hook must be idempotent: it
//!   runs again when the event does.
//! - [`start`](Plugin::start): background tasks, started with the workers and stopped with
//!   them.
//! - [`routes`](Plugin::routes) and [`admin_routes`](Plugin::admin_routes): HTTP routes merged
//!   into `server.listen`'s router, or `server.admin_listen`'s.

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_core::{InboundEvent, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::Engine;

/// A plugin of the engine (crate-internal for now: the gateway; see the module docs).
#[async_trait]
pub(crate) trait Plugin: Send + Sync + 'static {
    /// Checks the built engine (channels named, the store's abilities); an error fails
    /// [`build`](crate::SwitchboardBuilder::build).
    async fn attach(&self, engine: &Arc<Engine>) -> Result<()>;

    /// A claimed event, before the handler.
    async fn on_event(&self, engine: &Arc<Engine>, event: &InboundEvent) -> Result<()>;

    /// Starts the plugin's tasks; they end when `stop` turns true.
    fn start(&self, engine: Arc<Engine>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>>;

    /// Routes served on `server.listen`.
    fn routes(&self, engine: Arc<Engine>) -> Option<axum::Router>;

    /// Routes served on `server.admin_listen` (only asked when it is set).
    fn admin_routes(&self, engine: Arc<Engine>) -> Option<axum::Router>;
}

/// Runs every plugin's [`on_event`](Plugin::on_event) hook; the first error stops.
pub(crate) async fn on_event(
    engine: &Arc<Engine>,
    event: &InboundEvent,
) -> std::result::Result<(), String> {
    for p in &engine.plugins {
        p.on_event(engine, event)
            .await
            .map_err(|e| format!("plugin hook failed: {e}"))?;
    }
    Ok(())
}
