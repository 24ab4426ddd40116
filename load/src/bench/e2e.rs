//! `bench e2e`: webhook → handler → reply → provider. `switchboard-echo-app` (pinned to the
//! server core) replies to every message with its text; the Messenger stub and the load
//! generator share this process (the client core), so an arrival at the stub is matched to
//! its webhook's ack on one clock.
//!
//! Closed loop (no `--rate`): full speed; acks/s and arrivals/s second by second, then how
//! long after the load every acknowledged webhook's reply arrived. Open loop (`--rate R`):
//! webhook `i` at `i / R` s; latency from each webhook's ack to the provider call of its reply.
//! `--backlog-check`: a 10 s closed loop, then the time until arrivals = acks (target: 3 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::Result;
use crate::bench::{Workdir, header, start_engine, start_stub};
use crate::cli::E2eArgs;
use crate::client::{ConnResult, LATE, Live, Pace, Target, run_round};
use crate::config::{APP_SECRET, CHANNEL, PAGE_ID};
use crate::process::CpuMeter;
use crate::report::{Latencies, cpu, micros, rate, status_line};
use crate::sign::Webhooks;
use crate::stub::Arrivals;

const BACKLOG_LOAD: Duration = Duration::from_secs(10);
const BACKLOG_TARGET: Duration = Duration::from_secs(3);

/// (seconds since the load started, acks, arrivals), once a second.
type Samples = Vec<(f64, u64, u64)>;

/// Runs the benchmark and prints what it saw.
///
/// # Errors
/// The application does not start, or the URL is unusable.
pub(crate) async fn bench(args: &E2eArgs) -> Result<()> {
    let place = &args.placement;
    let dir = Workdir::new(place.keep)?;
    header("bench e2e", place, &dir);
    let duration = if args.backlog_check {
        BACKLOG_LOAD
    } else {
        args.duration
    };
    let (stub_url, arrivals) = start_stub().await?;
    let app = start_engine(
        &dir,
        place,
        &args.switchboard_app,
        false,
        args.store,
        None,
        &stub_url,
        true,
    )
    .await?;
    println!(
        "   switchboard-echo-app, store {}, {} connections, {} conversations; [channels.{CHANNEL}.rate] is 1,000,000/s (channel and per conversation): rate limits do not cap this test",
        args.store.label(),
        args.connections,
        args.conversations
    );
    let target = Arc::new(Target::parse(&format!("{}/webhooks/{CHANNEL}", app.base)).await?);
    let hooks = Webhooks::new(APP_SECRET, PAGE_ID, args.conversations);
    let pool_size = match args.rate {
        Some(r) => (r * duration.as_secs_f64()).ceil() as usize,
        None => args
            .max_pool
            .min(50_000 * duration.as_secs().max(1) as usize),
    };
    let pool = Arc::new(hooks.presign(0, pool_size));
    let live = Arc::new(Live::default());
    let meter = CpuMeter::start(app.server.pid());
    let own = CpuMeter::own();
    let start = Instant::now();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample(
        start,
        live.clone(),
        arrivals.clone(),
        sampling.clone(),
    ));
    let pace = match args.rate {
        Some(per_sec) => Pace::Open { start, per_sec },
        None => Pace::Closed {
            until: start + duration,
        },
    };
    let mut result = run_round(
        target,
        pool,
        args.connections,
        pace,
        live.clone(),
        args.rate.is_some(),
    )
    .await;
    let load_secs = start.elapsed().as_secs_f64();
    let acked_during = live.acks.load(Ordering::Relaxed);
    let arrived_during = arrivals.count.load(Ordering::Relaxed);
    let (server_cpu, server_others) = (meter.percent(), meter.others_percent());
    let (client_cpu, client_others) = (own.percent(), own.others_percent());
    // Then wait for the replies still on their way.
    let load_end = Instant::now();
    while arrivals.count.load(Ordering::Relaxed) < acked_during
        && load_end.elapsed() < args.drain_timeout
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let catch_up = load_end.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await.unwrap_or_default();
    app.server.stop().await;

    let arrived = arrivals.count.load(Ordering::Relaxed);
    println!(
        "load: {acked_during} webhooks acknowledged in {load_secs:.1} s = {}/s; replies at the stub meanwhile: {arrived_during} = {}/s",
        rate(acked_during as f64 / load_secs),
        rate(arrived_during as f64 / load_secs)
    );
    println!(
        "webhook answers: {}; latency p50 {} p99 {} max {}",
        status_line(&result.statuses, result.transport_errors),
        micros(result.latency.quantile(0.5)),
        micros(result.latency.quantile(0.99)),
        micros(result.latency.quantile(1.0)),
    );
    println!(
        "during the load: app CPU {} (other processes on its core {}); load generator and stub CPU {} (others on its core {})",
        cpu(server_cpu),
        cpu(server_others),
        cpu(client_cpu),
        cpu(client_others)
    );
    print_samples(&samples);
    if arrived >= acked_during {
        println!(
            "after the load: every reply ({arrived}) had arrived {:.2} s after the load ended",
            catch_up.as_secs_f64()
        );
    } else {
        println!(
            "after the load: only {arrived} of {acked_during} replies had arrived {:.0} s after the load ended",
            catch_up.as_secs_f64()
        );
    }
    if args.backlog_check {
        let ok = arrived >= acked_during && catch_up <= BACKLOG_TARGET;
        println!(
            "backlog check (every acknowledged event handled within {BACKLOG_TARGET:?} of a {BACKLOG_LOAD:?} load): {}",
            if ok { "met" } else { "NOT met" }
        );
    }
    let (first, duplicates) = first_arrivals(&arrivals, pool_size);
    println!("replies that reached the stub twice (exactly-once broken): {duplicates}");
    if let Some(r) = args.rate {
        open_loop_latency(&mut result, &first, r, load_secs);
    }
    let unmatched = arrivals.unmatched.load(Ordering::Relaxed);
    if unmatched > 0 {
        println!("{unmatched} messages reached the stub without a load request's text");
    }
    Ok(())
}

async fn sample(
    start: Instant,
    live: Arc<Live>,
    arrivals: Arc<Arrivals>,
    on: Arc<AtomicBool>,
) -> Samples {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    while on.load(Ordering::Relaxed) {
        tick.tick().await;
        out.push((
            start.elapsed().as_secs_f64(),
            live.acks.load(Ordering::Relaxed),
            arrivals.count.load(Ordering::Relaxed),
        ));
    }
    out
}

fn print_samples(samples: &Samples) {
    let (mut acks, mut arrivals) = (Vec::new(), Vec::new());
    let (mut pa, mut pr) = (0, 0);
    for &(_, a, r) in samples {
        acks.push(a - pa);
        arrivals.push(r - pr);
        (pa, pr) = (a, r);
    }
    let row = |name: &str, v: &[u64]| {
        println!("{name}");
        for chunk in v.chunks(10) {
            let line: Vec<String> = chunk.iter().map(|n| format!("{n:>7}")).collect();
            println!("  {}", line.join(""));
        }
    };
    row("acks per second:", &acks);
    row("replies at the stub per second:", &arrivals);
}

/// Open loop: the time from each webhook's ack to its reply's arrival at the stub.
/// The first arrival of each request's reply, and how many replies arrived again.
fn first_arrivals(arrivals: &Arrivals, pool_size: usize) -> (Vec<Option<Instant>>, u64) {
    let mut first: Vec<Option<Instant>> = vec![None; pool_size];
    let mut duplicates = 0u64;
    for (idx, at) in arrivals.take() {
        let Some(slot) = first.get_mut(idx as usize) else {
            continue;
        };
        if slot.is_some() {
            duplicates += 1;
        } else {
            *slot = Some(at);
        }
    }
    (first, duplicates)
}

fn open_loop_latency(
    result: &mut ConnResult,
    first: &[Option<Instant>],
    per_sec: f64,
    load_secs: f64,
) {
    let sent: u64 = result.statuses.values().sum();
    println!(
        "open loop: {per_sec}/s offered, {}/s sent; {} requests went out more than {LATE:?} late (every connection busy, or the client core busy elsewhere)",
        rate(sent as f64 / load_secs),
        result.late
    );
    let mut lat = Latencies::with_capacity(result.acked_at.len());
    let (mut missing, mut before_ack) = (0u64, 0u64);
    for &(idx, acked) in &result.acked_at {
        match first.get(idx).copied().flatten() {
            None => missing += 1,
            Some(at) if at < acked => {
                before_ack += 1;
                lat.record(Duration::ZERO);
            }
            Some(at) => lat.record(at - acked),
        }
    }
    println!(
        "ack → provider call: p50 {} p90 {} p99 {} max {} over {} replies; {missing} acknowledged without a reply, {before_ack} replies before the client saw the ack (counted as 0)",
        micros(lat.quantile(0.5)),
        micros(lat.quantile(0.9)),
        micros(lat.quantile(0.99)),
        micros(lat.quantile(1.0)),
        lat.len()
    );
}
