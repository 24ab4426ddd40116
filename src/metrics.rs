//! Counters and histograms of the engine, served at `GET /metrics` in the Prometheus text
//! (OpenMetrics) format by `prometheus-client`. One registry per engine, no globals.
//!
//! | metric | labels |
//! |---|---|
//! | `switchboard_webhooks_received_total` | channel |
//! | `switchboard_events_received_total` | channel |
//! | `switchboard_events_duplicate_total` | channel |
//! | `switchboard_webhooks_rejected_total` | channel, reason |
//! | `switchboard_events_handled_total` | channel |
//! | `switchboard_handler_failures_total` | channel |
//! | `switchboard_messages_sent_total` | channel |
//! | `switchboard_send_retries_total` | channel (429s included, though they use up no attempt) |
//! | `switchboard_dead_letters_total` | kind (inbound, outbound) |
//! | `switchboard_reconciliations_total` | channel, outcome (proven, delivered, not_delivered, partial, unknown, error) |
//! | `switchboard_send_proofs_total` | channel |
//! | `switchboard_ack_latency_seconds` | channel |
//! | `switchboard_send_latency_seconds` | channel |
//! | `switchboard_rate_limit_fallbacks_total` | channel: sends decided by the local share because Redis (`[rate_limits]`) did not answer |
//! | `switchboard_rate_limits_shared` | none: 1 while the limits are shared through Redis; 0 without `[rate_limits]` or while Redis is unreachable |
//! | `switchboard_gateway_deliveries_total` | endpoint, outcome (delivered, retry, disabled, dead) |
//! | `switchboard_gateway_endpoint_disabled` | endpoint: 1 while the endpoint is disabled (it answered 410, or an operator disabled it) |
//! | `switchboard_webchat_history_pruned_total` | channel: web chat log records the channel's history retention removed |

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms … ~1.6 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// One channel's series, resolved once: recording is an atomic add, with no label allocation
/// or family lookup per event (the webhook path records three of them per request).
struct ChannelMetrics {
    webhooks: Counter,
    received: Counter,
    duplicates: Counter,
    handled: Counter,
    handler_failures: Counter,
    sent: Counter,
    retried: Counter,
    ack_latency: Histogram,
    send_latency: Histogram,
}

/// The engine's metrics.
pub(crate) struct Metrics {
    channels: RwLock<HashMap<String, ChannelMetrics>>,
    registry: Registry,
    webhooks: Family<Labels, Counter>,
    received: Family<Labels, Counter>,
    duplicates: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    handled: Family<Labels, Counter>,
    handler_failures: Family<Labels, Counter>,
    sent: Family<Labels, Counter>,
    retried: Family<Labels, Counter>,
    dead: Family<Labels, Counter>,
    reconciled: Family<Labels, Counter>,
    proofs: Family<Labels, Counter>,
    policy_refused: Family<Labels, Counter>,
    history_pruned: Family<Labels, Counter>,
    ack_latency: HistogramFamily,
    send_latency: HistogramFamily,
    rate_limits: RateLimitMetrics,
    gateway: GatewayMetrics,
}

/// The gateway's series; clones share the values.
#[derive(Clone, Default)]
pub(crate) struct GatewayMetrics {
    deliveries: Family<Labels, Counter>,
    disabled: Family<Labels, Gauge>,
}

impl GatewayMetrics {
    /// Counts one delivery attempt's outcome.
    pub(crate) fn delivery(&self, endpoint: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&vec![
                ("endpoint", endpoint.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// Whether `endpoint` is disabled.
    pub(crate) fn set_disabled(&self, endpoint: &str, disabled: bool) {
        self.disabled
            .get_or_create(&vec![("endpoint", endpoint.to_owned())])
            .set(i64::from(disabled));
    }
}

/// The series the shared rate limits record into; clones share the values.
#[derive(Clone, Default)]
pub(crate) struct RateLimitMetrics {
    fallbacks: Family<Labels, Counter>,
    shared: Gauge,
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl RateLimitMetrics {
    /// The channel's count of sends decided by the local share.
    pub(crate) fn fallbacks(&self, channel: &str) -> Counter {
        self.fallbacks.get_or_create(&ch(channel)).clone()
    }

    /// Whether the limits are shared through Redis right now.
    pub(crate) fn set_shared(&self, shared: bool) {
        self.shared.set(i64::from(shared));
    }

    /// The value of the `rate_limits_shared` gauge.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.get() == 1
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn ch(channel: &str) -> Labels {
    vec![("channel", channel.to_owned())]
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let m = Metrics {
            webhooks: Family::default(),
            received: Family::default(),
            duplicates: Family::default(),
            rejected: Family::default(),
            handled: Family::default(),
            handler_failures: Family::default(),
            sent: Family::default(),
            retried: Family::default(),
            dead: Family::default(),
            reconciled: Family::default(),
            proofs: Family::default(),
            policy_refused: Family::default(),
            history_pruned: Family::default(),
            ack_latency: Family::new_with_constructor(latency_histogram),
            send_latency: Family::new_with_constructor(latency_histogram),
            rate_limits: RateLimitMetrics::default(),
            gateway: GatewayMetrics::default(),
            registry: Registry::default(),
            channels: RwLock::default(),
        };
        registry.register(
            "webhooks_received",
            "Webhook requests accepted",
            m.webhooks.clone(),
        );
        registry.register(
            "events_received",
            "Events stored in the inbox",
            m.received.clone(),
        );
        registry.register(
            "events_duplicate",
            "Events already in the inbox",
            m.duplicates.clone(),
        );
        registry.register(
            "webhooks_rejected",
            "Webhooks refused, by reason",
            m.rejected.clone(),
        );
        registry.register(
            "events_handled",
            "Events handled successfully",
            m.handled.clone(),
        );
        registry.register(
            "handler_failures",
            "Handler runs that failed",
            m.handler_failures.clone(),
        );
        registry.register(
            "messages_sent",
            "Outbox rows accepted by the provider",
            m.sent.clone(),
        );
        registry.register(
            "send_retries",
            "Send attempts scheduled again",
            m.retried.clone(),
        );
        registry.register("dead_letters", "Rows given up, by kind", m.dead.clone());
        registry.register(
            "policy_refusals",
            "Sends refused before any request by the channel's policy (a closed messaging \
             window, an opted-out recipient), by channel and error kind",
            m.policy_refused.clone(),
        );
        registry.register(
            "reconciliations",
            "Sends that may have reached the provider, settled before any resend, by outcome \
             (proven, delivered, not_delivered, partial, unknown, error)",
            m.reconciled.clone(),
        );
        registry.register(
            "send_proofs",
            "Keyed proofs of sends recorded from provider webhooks",
            m.proofs.clone(),
        );
        registry.register(
            "webchat_history_pruned",
            "Web chat log records removed by the channel's history retention",
            m.history_pruned.clone(),
        );
        registry.register(
            "ack_latency_seconds",
            "Webhook arrival to answer",
            m.ack_latency.clone(),
        );
        registry.register(
            "send_latency_seconds",
            "Duration of one provider send",
            m.send_latency.clone(),
        );
        registry.register(
            "rate_limit_fallbacks",
            "Sends decided by the local share of the limits because Redis did not answer",
            m.rate_limits.fallbacks.clone(),
        );
        registry.register(
            "rate_limits_shared",
            "1 while the rate limits are shared through Redis, else 0",
            m.rate_limits.shared.clone(),
        );
        registry.register(
            "gateway_deliveries",
            "Event deliveries to gateway endpoints, by outcome",
            m.gateway.deliveries.clone(),
        );
        registry.register(
            "gateway_endpoint_disabled",
            "1 while a gateway endpoint is disabled (it answered 410, or an operator disabled it)",
            m.gateway.disabled.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The series the gateway records into.
    pub(crate) fn gateway(&self) -> GatewayMetrics {
        self.gateway.clone()
    }

    /// The series the shared rate limits record into.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn rate_limits(&self) -> RateLimitMetrics {
        self.rate_limits.clone()
    }

    /// Runs `f` on the channel's series, creating them on first use.
    fn with<R>(&self, channel: &str, f: impl FnOnce(&ChannelMetrics) -> R) -> R {
        {
            let map = self
                .channels
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(m) = map.get(channel) {
                return f(m);
            }
        }
        let mut map = self
            .channels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let m = map.entry(channel.to_owned()).or_insert_with(|| {
            let l = ch(channel);
            ChannelMetrics {
                webhooks: self.webhooks.get_or_create(&l).clone(),
                received: self.received.get_or_create(&l).clone(),
                duplicates: self.duplicates.get_or_create(&l).clone(),
                handled: self.handled.get_or_create(&l).clone(),
                handler_failures: self.handler_failures.get_or_create(&l).clone(),
                sent: self.sent.get_or_create(&l).clone(),
                retried: self.retried.get_or_create(&l).clone(),
                ack_latency: self.ack_latency.get_or_create(&l).clone(),
                send_latency: self.send_latency.get_or_create(&l).clone(),
            }
        });
        f(m)
    }

    pub(crate) fn webhook(&self, channel: &str) {
        self.with(channel, |m| m.webhooks.inc());
    }
    pub(crate) fn received(&self, channel: &str, new: u64, duplicates: u64) {
        self.with(channel, |m| {
            m.received.inc_by(new);
            m.duplicates.inc_by(duplicates);
        });
    }
    pub(crate) fn rejected(&self, channel: &str, reason: &str) {
        self.rejected
            .get_or_create(&vec![
                ("channel", channel.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }
    pub(crate) fn handled(&self, channel: &str) {
        self.with(channel, |m| m.handled.inc());
    }
    pub(crate) fn handler_failed(&self, channel: &str) {
        self.with(channel, |m| m.handler_failures.inc());
    }
    pub(crate) fn sent(&self, channel: &str, took: Duration) {
        self.with(channel, |m| {
            m.sent.inc();
            m.send_latency.observe(took.as_secs_f64());
        });
    }
    pub(crate) fn send_failed(&self, channel: &str, took: Duration) {
        self.with(channel, |m| m.send_latency.observe(took.as_secs_f64()));
    }
    pub(crate) fn retried(&self, channel: &str) {
        self.with(channel, |m| m.retried.inc());
    }
    pub(crate) fn policy_refused(&self, channel: &str, kind: switchboard_core::ErrorKind) {
        self.policy_refused
            .get_or_create(&vec![
                ("channel", channel.to_owned()),
                ("kind", kind.as_str().to_owned()),
            ])
            .inc();
    }
    pub(crate) fn dead_lettered(&self, kind: &'static str) {
        self.dead
            .get_or_create(&vec![("kind", kind.to_owned())])
            .inc();
    }
    pub(crate) fn reconciled(&self, channel: &str, outcome: &'static str) {
        self.reconciled
            .get_or_create(&vec![
                ("channel", channel.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }
    pub(crate) fn proof(&self, channel: &str) {
        self.proofs.get_or_create(&ch(channel)).inc();
    }
    /// `records` of the channel's web chat log went to its history retention.
    pub(crate) fn history_pruned(&self, channel: &str, records: u64) {
        self.history_pruned
            .get_or_create(&ch(channel))
            .inc_by(records);
    }
    pub(crate) fn ack(&self, channel: &str, took: Duration) {
        self.with(channel, |m| m.ack_latency.observe(took.as_secs_f64()));
    }

    /// The text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric the registry serves is in the table at the top of this file.
    #[test]
    fn the_docs_table_lists_every_metric() {
        let m = Metrics::new();
        let took = Duration::from_millis(1);
        m.webhook("c");
        m.received("c", 1, 1);
        m.rejected("c", "signature");
        m.handled("c");
        m.handler_failed("c");
        m.sent("c", took);
        m.send_failed("c", took);
        m.retried("c");
        m.dead_lettered("inbound");
        m.reconciled("c", "proven");
        m.proof("c");
        m.ack("c", took);
        m.history_pruned("c", 2);
        m.rate_limits().fallbacks("c").inc();
        m.rate_limits().set_shared(true);
        let doc: String = include_str!("metrics.rs")
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = m.encode();
        let mut names = 0;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let mut parts = rest.split(' ');
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let served = if kind == "counter" {
                format!("`{name}_total`")
            } else {
                format!("`{name}`")
            };
            assert!(
                doc.contains(&served),
                "{served} is not in the metrics table"
            );
            names += 1;
        }
        assert!(names >= 15, "{text}");
    }
}
