//! The pruner: deletes what the retention no longer needs (dedupe keys of handled events,
//! sent messages, keyed proofs past `engine.retention`, expired numbered options) and lets the
//! rate limiters forget idle conversations, now and every `engine.prune_interval`; and, beside
//! it, the web chat log pruner ([`run_logs`]), started only when a web chat channel sets a
//! retention (`history_ttl`, `history_max_records`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::engine::Engine;
use crate::store::{LogRetention, Prune, Pruned};

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

/// A web chat channel's retention: its name, `history_ttl` and `history_max_records`.
pub(crate) type LogPolicy = (String, Option<Duration>, Option<u64>);

/// The web chat channels of `engine` that set a retention (none: [`run_logs`] is not started).
#[cfg(feature = "webchat")]
pub(crate) fn log_policies(engine: &Engine) -> Vec<LogPolicy> {
    let mut policies: Vec<LogPolicy> = engine
        .webchat
        .channels
        .iter()
        .filter_map(|(name, web)| {
            let c = web.adapter.config();
            (c.history_ttl.is_some() || c.history_max_records.is_some())
                .then(|| (name.clone(), c.history_ttl, c.history_max_records))
        })
        .collect();
    policies.sort();
    policies
}

#[cfg(not(feature = "webchat"))]
pub(crate) fn log_policies(_: &Engine) -> Vec<LogPolicy> {
    Vec::new()
}

/// Prunes the web chat logs of `policies`' channels, now and every `engine.prune_interval`,
/// until `stop`. Each channel's pruning goes in chunks
/// ([`Store::log_prune`](crate::store::Store::log_prune)), so the store's writer is never held
/// long.
pub(crate) async fn run_logs(
    engine: Arc<Engine>,
    policies: Vec<LogPolicy>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let now = SystemTime::now();
        for (channel, ttl, max_records) in &policies {
            let mut retention = LogRetention::new(channel.clone());
            if let Some(ttl) = ttl {
                retention =
                    retention.before(now.checked_sub(*ttl).unwrap_or(SystemTime::UNIX_EPOCH));
            }
            if let Some(keep) = max_records {
                retention = retention.keep(*keep);
            }
            match engine.store.log_prune(&retention).await {
                Ok(0) => {}
                Ok(n) => {
                    engine.metrics.history_pruned(channel, n);
                    tracing::info!(channel = %channel, records = n, "pruned web chat history");
                }
                Err(e) => {
                    tracing::warn!(channel = %channel, error = %e, "pruning web chat history failed")
                }
            }
            if *stop.borrow() {
                return;
            }
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
