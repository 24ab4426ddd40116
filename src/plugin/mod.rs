//! Plugins: what runs beside the application's handlers on the engine's hooks. The gateway
//! ([`crate::gateway`]) and the support bridge ([`crate::bridge`]) are plugins, and an
//! application adds its own with [`SwitchboardBuilder::plugin`]: one engine runs its plugins
//! and its handlers together, each seeing every event.
//!
//! ```no_run
//! use switchboard::plugin::{EventContext, FailedSend, Plugin};
//! use switchboard::{Result, Switchboard, async_trait};
//!
//! /// Counts what the engine gave up on, per channel.
//! struct Alerts;
//!
//! #[async_trait]
//! impl Plugin for Alerts {
//!     fn name(&self) -> &str {
//!         "alerts"
//!     }
//!
//!     async fn on_event(&self, ctx: &EventContext) -> Result<()> {
//!         tracing::debug!(event = %ctx.event().id, "seen");
//!         Ok(())
//!     }
//!
//!     async fn on_dead_letter(&self, _: &Switchboard, failed: &FailedSend) -> Result<()> {
//!         tracing::warn!(key = %failed.key, kind = %failed.kind, "not delivered: {}", failed.error);
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<()> {
//! let switchboard = Switchboard::builder()
//!     .plugin(Alerts)
//!     .on_message(|ctx| async move { ctx.reply_text("hi")?; Ok(()) })
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Hooks, in the data flow's order (every one has a default that does nothing):
//! - [`attach`](Plugin::attach): once, when [`build`](SwitchboardBuilder::build) has the
//!   engine (channels, store); an error fails the build. Plugins attach in the order they were
//!   added.
//! - [`on_event`](Plugin::on_event): every claimed event, after its receipts are recorded and
//!   numbered options translated, *before* the handler runs, one plugin after the other in the
//!   order they were added. What the hook queues through its [`EventContext`] (messages,
//!   state) commits with the event's completion, in the same transaction as the handler's
//!   replies: if the hook, another plugin's hook or the handler fails, none of it is written
//!   and the event runs again (retried with backoff, then dead-lettered, which drops what every
//!   run queued). So a hook runs again whenever the event does; side effects outside its
//!   context must be idempotent (keyed by [`EventContext::idempotency_key`]). An error from a
//!   hook fails the event like a handler error. Hooks run under the handler's timeout
//!   (`engine.handler_timeout`, counted per hook) and a panic fails the event, not the worker.
//! - [`on_dead_letter`](Plugin::on_dead_letter): the sender gave up on an outbound message
//!   ([`FailedSend`]: a permanent error, the retries used up, a send that may have reached the
//!   provider and is not resent, or a send the channel's policy refused before any request).
//!   Called after the dead letter is committed, once per dead letter, by the instance that
//!   holds the row's lease; see *Dead letters and crashes* below.
//! - [`start`](Plugin::start): background tasks, started with the workers and stopped with
//!   them.
//! - [`routes`](Plugin::routes) and [`admin_routes`](Plugin::admin_routes): HTTP routes merged
//!   into `server.listen`'s router, or `server.admin_listen`'s.
//!
//! **Names and keys.** [`Plugin::name`] is a short stable name (`[a-z0-9_-]`, 1 to 32
//! characters, unique per engine; `build` refuses others). A plugin's messages are outbox rows
//! keyed `{channel}/plugin/{name}/{event id}/{index}` (`channel` is the event's, `index`
//! counts the hook's sends in this event from 0), a namespace of their own beside the
//! handler's `{channel}:{event id}:{index}`: adding a plugin never changes the keys of the
//! application's replies. A plugin's conversation state is kept under [`state_key`], apart
//! from the application's conversation state.
//!
//! **Dead letters and crashes.** The hook runs in the sender right after the store committed
//! the dead letter; each plugin's hook gets `engine.handler_timeout`, and an error or a panic
//! is logged and changes nothing (the dead letter stays). Delivery of the hook is **at most
//! once**: if the process dies between the commit and the end of the hooks, they are not run
//! again at startup. The dead letter itself is durable ([`Switchboard::dead_letters`] lists
//! it, with its error), so the message is not lost silently, but the plugins' reactions to it
//! (the bridge's notice in the agent's thread) are. Re-running at startup would need a
//! "hooks done" mark per dead letter in every store (a schema change) and hooks that are
//! idempotent anyway; the window is one store round trip. A plugin that must not miss one can
//! compare [`Switchboard::dead_letters`] with what it saw when it [`start`](Plugin::start)s.
//!
//! [`SwitchboardBuilder::plugin`]: crate::SwitchboardBuilder::plugin
//! [`SwitchboardBuilder::build`]: crate::SwitchboardBuilder::build

mod context;
mod failed;

use std::sync::Arc;

use switchboard_core::{ConversationRef, Error, ErrorKind, Result};

pub use axum::Router;
pub use context::EventContext;
pub use failed::FailedSend;
pub use tokio::task::JoinHandle;

pub use crate::{Switchboard, SwitchboardBuilder, async_trait};

use crate::engine::Engine;
use crate::handler::{CatchPanic, Context};
use crate::store::conversation_key;

/// Turns `true` when the engine stops: what [`Plugin::start`]'s tasks watch
/// (`stop.changed().await`, or `*stop.borrow()`).
pub type Stop = tokio::sync::watch::Receiver<bool>;

/// A plugin of the engine: hooks the engine calls as events and sends go through it (see the
/// [module docs](self)). Every hook but [`name`](Self::name) does nothing by default.
///
/// The [`Switchboard`] a hook gets is the engine's own handle (cheap to clone). A plugin that
/// keeps one beyond the hook (in a field) keeps the engine alive: hold it only in tasks that
/// end with [`Stop`], or keep what you need from it instead.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// A short, stable name: `[a-z0-9_-]`, 1 to 32 characters, unique per engine. It names the
    /// plugin in logs and prefixes its outbox keys and state keys, so it must not change once
    /// the plugin has queued anything.
    fn name(&self) -> &str;

    /// Checks the built engine (channels named, the store's abilities); an error fails
    /// [`build`](crate::SwitchboardBuilder::build).
    async fn attach(&self, switchboard: &Switchboard) -> Result<()> {
        let _ = switchboard;
        Ok(())
    }

    /// A claimed event, before the handler. What it queues through `ctx` commits with the
    /// event; an error fails the event (it runs again, hooks included).
    async fn on_event(&self, ctx: &EventContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// The sender gave up on a message, and the dead letter is committed. At most once per
    /// dead letter (see the [module docs](self#dead-letters-and-crashes)); an error is logged.
    async fn on_dead_letter(&self, switchboard: &Switchboard, failed: &FailedSend) -> Result<()> {
        let _ = (switchboard, failed);
        Ok(())
    }

    /// Starts the plugin's tasks; they end when `stop` turns `true` (the engine waits for
    /// them).
    fn start(&self, switchboard: Switchboard, stop: Stop) -> Vec<JoinHandle<()>> {
        let _ = (switchboard, stop);
        Vec::new()
    }

    /// Routes served on `server.listen`.
    fn routes(&self, switchboard: Switchboard) -> Option<Router> {
        let _ = switchboard;
        None
    }

    /// Routes served on `server.admin_listen` (only asked when it is set).
    fn admin_routes(&self, switchboard: Switchboard) -> Option<Router> {
        let _ = switchboard;
        None
    }
}

/// The store key of plugin `plugin`'s state in `conversation` (what
/// [`EventContext::state`] reads): `plugin:{plugin}:{channel}/{conversation}`. For reading it
/// outside a hook: `switchboard.store().get_state(&state_key(…))`.
pub fn state_key(plugin: &str, conversation: &ConversationRef) -> String {
    format!("plugin:{plugin}:{}", conversation_key(conversation))
}

/// Refuses a plugin name [`Plugin::name`] does not allow, or one taken already.
pub(crate) fn check_names(plugins: &[Arc<dyn Plugin>]) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for p in plugins {
        let name = p.name();
        let valid = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("plugin name '{name}': use 1 to 32 of a-z, 0-9, '_' and '-'"),
            ));
        }
        if seen.contains(&name) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("plugin name '{name}': two plugins have it"),
            ));
        }
        seen.push(name);
    }
    Ok(())
}

/// The engine's handle, for a hook.
pub(crate) fn handle(engine: &Arc<Engine>) -> Switchboard {
    Switchboard {
        inner: engine.clone(),
    }
}

/// Runs every plugin's [`on_event`](Plugin::on_event) hook with `ctx`'s buffer; the first
/// error stops.
pub(crate) async fn on_event(
    engine: &Arc<Engine>,
    ctx: &Context,
) -> std::result::Result<(), String> {
    let switchboard = handle(engine);
    for p in &engine.plugins {
        let name = p.name();
        let pctx = EventContext::new(switchboard.clone(), name, ctx.clone());
        let run = tokio::time::timeout(
            engine.config.engine.handler_timeout,
            CatchPanic::new(p.on_event(&pctx)),
        );
        match run.await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(format!("plugin '{name}' hook failed: {e}")),
            Ok(Err(panic)) => return Err(format!("plugin '{name}' hook panicked: {panic}")),
            Err(_) => return Err(format!("plugin '{name}' hook timed out")),
        }
    }
    Ok(())
}

/// Runs every plugin's [`on_dead_letter`](Plugin::on_dead_letter) hook; failures are logged.
pub(crate) async fn on_dead_letter(engine: &Arc<Engine>, failed: &FailedSend) {
    if engine.plugins.is_empty() {
        return;
    }
    let switchboard = handle(engine);
    for p in &engine.plugins {
        let name = p.name();
        let run = tokio::time::timeout(
            engine.config.engine.handler_timeout,
            CatchPanic::new(p.on_dead_letter(&switchboard, failed)),
        );
        let error = match run.await {
            Ok(Ok(Ok(()))) => continue,
            Ok(Ok(Err(e))) => e.to_string(),
            Ok(Err(panic)) => format!("panicked: {panic}"),
            Err(_) => "timed out".to_owned(),
        };
        tracing::error!(plugin = name, key = %failed.key, %error, "plugin dead-letter hook failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);

    impl Plugin for Named {
        fn name(&self) -> &str {
            self.0
        }
    }

    fn names(list: &[&'static str]) -> Result<()> {
        let plugins: Vec<Arc<dyn Plugin>> = list
            .iter()
            .map(|n| Arc::new(Named(n)) as Arc<dyn Plugin>)
            .collect();
        check_names(&plugins)
    }

    #[test]
    fn names_are_short_plain_and_unique() {
        assert!(names(&["gateway", "bridge", "my_app-2"]).is_ok());
        for bad in ["", "Bridge", "a/b", "a:b", "x y", &"x".repeat(33)] {
            let bad: &'static str = Box::leak(bad.to_owned().into_boxed_str());
            let e = names(&[bad]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{bad:?}");
        }
        let e = names(&["bridge", "bridge"]).unwrap_err();
        assert!(e.to_string().contains("two plugins"), "{e}");
    }
}
