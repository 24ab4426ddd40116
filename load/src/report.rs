//! What a round measured, and how it is printed: latencies as a sorted list of microseconds
//! (exact percentiles), status counts where every non-2xx answer shows, and the CPU each side
//! used, so a reader sees which side was the bottleneck.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Latency samples in microseconds; percentiles are exact (nearest rank on the sorted list).
#[derive(Debug, Default, Clone)]
pub(crate) struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Latencies {
            micros: Vec::with_capacity(n),
            sorted: true,
        }
    }

    pub(crate) fn record(&mut self, d: Duration) {
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    pub(crate) fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    pub(crate) fn len(&self) -> usize {
        self.micros.len()
    }

    /// The `p`-quantile (0.0 ..= 1.0) in microseconds; 0 without samples.
    pub(crate) fn quantile(&mut self, p: f64) -> u32 {
        if self.micros.is_empty() {
            return 0;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let rank = ((self.micros.len() as f64 * p).ceil() as usize).clamp(1, self.micros.len());
        self.micros[rank - 1]
    }

    pub(crate) fn summary(&mut self) -> Percentiles {
        Percentiles {
            p50_us: self.quantile(0.50),
            p90_us: self.quantile(0.90),
            p99_us: self.quantile(0.99),
            max_us: self.quantile(1.0),
        }
    }
}

/// p50, p90, p99 and max, in microseconds.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Percentiles {
    pub(crate) p50_us: u32,
    pub(crate) p90_us: u32,
    pub(crate) p99_us: u32,
    pub(crate) max_us: u32,
}

/// One round of closed-loop load.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Round {
    /// 0 is the warm-up (not counted in the tables).
    pub(crate) round: usize,
    /// Requests answered (any status).
    pub(crate) requests: u64,
    /// Requests answered 2xx.
    pub(crate) acks: u64,
    /// Wall time of the round, seconds.
    pub(crate) secs: f64,
    /// Answers by status code.
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused, reset, closed).
    pub(crate) transport_errors: u64,
    /// Request latency (send to full answer), every status.
    pub(crate) latency: Percentiles,
    /// The pre-signed pool ran out before the round's duration was over.
    pub(crate) pool_exhausted: bool,
    /// CPU used by the server process over the round, in % of one core (`--cpu-pid`).
    pub(crate) server_cpu: Option<f64>,
    /// CPU used by this load generator over the round, in % of one core.
    pub(crate) client_cpu: Option<f64>,
    /// CPU every other process used on the server's core over the round, % of the core.
    pub(crate) server_core_others: Option<f64>,
    /// CPU every other process used on this load generator's core, % of the core.
    pub(crate) client_core_others: Option<f64>,
}

impl Round {
    pub(crate) fn acks_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.acks as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Answers that were not 2xx, and requests that got none.
    pub(crate) fn errors(&self) -> u64 {
        self.requests - self.acks + self.transport_errors
    }

    /// Every status seen (see [`status_line`]).
    pub(crate) fn status_line(&self) -> String {
        status_line(&self.statuses, self.transport_errors)
    }
}

/// `"200: 1234, 503: 5, no answer: 2"`: every status seen, and the requests without an answer.
pub(crate) fn status_line(statuses: &BTreeMap<u16, u64>, transport_errors: u64) -> String {
    let mut parts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    if transport_errors > 0 {
        parts.push(format!("no answer: {transport_errors}"));
    }
    parts.join(", ")
}

/// `12.3k`-style rate.
pub(crate) fn rate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.1}k", r / 1000.0)
    } else {
        format!("{r:.0}")
    }
}

/// Microseconds as `850µs`, `3.2ms`, `1.20s`.
pub(crate) fn micros(us: u32) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", f64::from(us) / 1000.0),
        _ => format!("{:.2}s", f64::from(us) / 1e6),
    }
}

/// `Some(93.5)` as `94%`, `None` as `-`.
pub(crate) fn cpu(c: Option<f64>) -> String {
    c.map_or_else(|| "-".to_owned(), |c| format!("{c:.0}%"))
}

/// The columns' meaning, printed under every table.
pub(crate) const LEGEND: &str = "srvCPU/cliCPU: CPU the server / load generator used, % of one core; \
othSrv/othCli: CPU every other process used on the server's / the load generator's core, \
% of the core (well above 0, the machine was busy and the figure is low); errors: non-2xx \
answers and requests without an answer.";

/// The rounds as a table, one line each.
pub(crate) fn print_rounds(rounds: &[Round]) {
    println!(
        "{:>5} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>7} {:>7}  statuses",
        "round",
        "requests",
        "acks/s",
        "p50",
        "p90",
        "p99",
        "max",
        "errors",
        "srvCPU",
        "cliCPU",
        "othSrv",
        "othCli"
    );
    for r in rounds {
        let name = if r.round == 0 {
            "warm".to_owned()
        } else {
            r.round.to_string()
        };
        println!(
            "{:>5} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>7} {:>7}  {}{}",
            name,
            r.requests,
            rate(r.acks_per_sec()),
            micros(r.latency.p50_us),
            micros(r.latency.p90_us),
            micros(r.latency.p99_us),
            micros(r.latency.max_us),
            r.errors(),
            cpu(r.server_cpu),
            cpu(r.client_cpu),
            cpu(r.server_core_others),
            cpu(r.client_core_others),
            r.status_line(),
            if r.pool_exhausted {
                " (pre-signed pool used up: the round ended early)"
            } else {
                ""
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for us in (1..=100).rev() {
            l.record(Duration::from_micros(us));
        }
        let p = l.summary();
        assert_eq!((p.p50_us, p.p90_us, p.p99_us, p.max_us), (50, 90, 99, 100));
        assert_eq!(Latencies::default().quantile(0.99), 0);
    }

    #[test]
    fn errors_count_every_non_2xx_and_no_answer() {
        let r = Round {
            requests: 10,
            acks: 7,
            transport_errors: 2,
            statuses: BTreeMap::from([(200, 7), (503, 3)]),
            ..Round::default()
        };
        assert_eq!(r.errors(), 5);
        assert_eq!(r.status_line(), "200: 7, 503: 3, no answer: 2");
    }
}
