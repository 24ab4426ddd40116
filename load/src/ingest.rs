//! `ingest`: rounds of closed-loop load with pre-signed unique Messenger webhooks.
//!
//! Each round signs its pool first (off the clock), then runs every connection until the
//! round's end. With `--duration`, a 1 s warm-up round comes first (it opens the connections
//! and tells how many requests a round needs); later pools are sized from the round before,
//! capped by `--max-pool`; a round that uses its pool up ends early and says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Result;
use crate::client::{self, Live, Pace, Target};
use crate::process::CpuMeter;
use crate::report::Round;
use crate::sign::Webhooks;

/// How long a round lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stop {
    /// For this long.
    Duration(Duration),
    /// Until this many requests were answered.
    Requests(usize),
}

/// An `ingest` run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) url: String,
    pub(crate) hooks: Webhooks,
    pub(crate) connections: usize,
    pub(crate) stop: Stop,
    pub(crate) rounds: usize,
    /// Most requests pre-signed for one round.
    pub(crate) max_pool: usize,
    /// A server process whose CPU use each round reports.
    pub(crate) cpu_pid: Option<u32>,
}

const WARMUP: Duration = Duration::from_secs(1);

/// Runs the warm-up (with `--duration`) and the rounds; returns them all (the warm-up is
/// round 0).
///
/// # Errors
/// The URL is not usable.
pub(crate) async fn run(plan: &Plan) -> Result<Vec<Round>> {
    let target = Arc::new(Target::parse(&plan.url).await?);
    let mut rounds = Vec::new();
    let mut next_idx: u64 = 0;
    let mut last_rate: Option<f64> = None;
    let numbered = match plan.stop {
        Stop::Duration(_) => 0..=plan.rounds,
        Stop::Requests(_) => 1..=plan.rounds,
    };
    for number in numbered {
        let (pool_size, pace_for) = match plan.stop {
            Stop::Requests(n) => (n, None),
            Stop::Duration(d) => {
                let d = if number == 0 { WARMUP } else { d };
                let size = match last_rate {
                    // Twice what the last round managed, and some.
                    Some(r) => (r * d.as_secs_f64() * 2.0) as usize + 20_000,
                    None => plan.max_pool.min(200_000),
                };
                (size.min(plan.max_pool), Some(d))
            }
        };
        let pool = Arc::new(plan.hooks.presign(next_idx, pool_size));
        next_idx += pool_size as u64;
        let round = one_round(plan, &target, number, pool, pace_for).await;
        last_rate = Some(round.acks_per_sec());
        rounds.push(round);
    }
    Ok(rounds)
}

async fn one_round(
    plan: &Plan,
    target: &Arc<Target>,
    number: usize,
    pool: Arc<Vec<crate::sign::Signed>>,
    duration: Option<Duration>,
) -> Round {
    let server = plan.cpu_pid.map(CpuMeter::start);
    let own = CpuMeter::own();
    let start = Instant::now();
    let until = duration.map_or(start + Duration::from_secs(24 * 3600), |d| start + d);
    let mut r = client::run_round(
        target.clone(),
        pool,
        plan.connections,
        Pace::Closed { until },
        Arc::new(Live::default()),
        false,
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    let requests: u64 = r.statuses.values().sum();
    let acks = r
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    Round {
        round: number,
        requests,
        acks,
        secs,
        statuses: r.statuses.clone(),
        transport_errors: r.transport_errors,
        latency: r.latency.summary(),
        pool_exhausted: duration.is_some() && r.exhausted,
        server_cpu: server.and_then(|m| m.percent()),
        client_cpu: own.percent(),
        server_core_others: server.and_then(|m| m.others_percent()),
        client_core_others: own.others_percent(),
    }
}
