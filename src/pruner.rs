//! The pruner: deletes what the retention no longer needs (dedupe keys of handled events,
//! sent messages, keyed proofs past `engine.retention`, expired numbered options) and lets the
//! rate limiters forget idle conversations, now and every `engine.prune_interval`.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::engine::Engine;
use crate::store::{Prune, Pruned};

/// Prunes until `stop`.
pub(crate) async fn run(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = SystemTime::now();
        let before = now
            .checked_sub(engine.config.engine.retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        match engine.store.prune(Prune::new(before, now)).await {
            Ok(p) if p != Pruned::default() => tracing::info!(
                inbox = p.inbox,
                outbox = p.outbox,
                options = p.options,
                proofs = p.proofs,
                "pruned rows past retention"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        // The per-conversation limiters forget conversations whose limit has refilled.
        for entry in engine.channels.values() {
            entry.limits.forget_idle();
        }
        tokio::select! {
            () = tokio::time::sleep(engine.config.engine.prune_interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
