//! `bench drain`: a SQLite file filled with queued events (see `fill.rs`), then `switchboard
//! serve` on it, pinned to the server core, followed through `GET /metrics` every 100 ms
//! until every event is handled: time to drain, events/s overall and second by second.

use std::time::{Duration, Instant};

use crate::Result;
use crate::bench::{Workdir, header, start_engine, start_stub};
use crate::cli::DrainArgs;
use crate::config::StoreKind;
use crate::fill::fill;
use crate::metrics::{HANDLED, scrape};
use crate::process::CpuMeter;
use crate::report::{cpu, rate};

const POLL: Duration = Duration::from_millis(100);

/// Runs the benchmark and prints what it saw.
///
/// # Errors
/// The fill fails, or the server does not start.
pub(crate) async fn bench(args: &DrainArgs) -> Result<()> {
    let place = &args.placement;
    let dir = Workdir::new(place.keep)?;
    header("bench drain", place, &dir);
    println!(
        "   {} queued events over {} conversations, {} handled events retained; SQLite synchronous = \"full\", no handler",
        args.events, args.conversations, args.retained_handled
    );
    let db = dir.path.join("bench-sqlite.db");
    let t = Instant::now();
    let filled = fill(&db, args.events, args.retained_handled, args.conversations).await?;
    println!(
        "fill: {} queued, {} handled in {:.1} s (inserts {:.1} s, claiming and completing the handled ones {:.1} s)",
        filled.queued,
        filled.handled,
        t.elapsed().as_secs_f64(),
        filled.insert_secs,
        filled.handle_secs
    );
    let (stub_url, _arrivals) = start_stub().await?;
    let spawned = Instant::now();
    let engine = start_engine(
        &dir,
        place,
        &args.switchboard,
        true,
        StoreKind::Sqlite,
        &stub_url,
        false,
    )
    .await?;
    let ready = spawned.elapsed();
    let meter = CpuMeter::start(engine.server.pid());
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", engine.base);
    // Time counts from the process start: the engine handles events before it answers /readyz.
    let start = spawned;
    let deadline = start + args.timeout;
    let mut samples: Vec<(f64, u64)> = vec![(0.0, 0)];
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        let handled = scrape(&http, &url, HANDLED).await?;
        samples.push((start.elapsed().as_secs_f64(), handled));
        if handled >= filled.queued || Instant::now() >= deadline {
            break;
        }
    }
    let server_cpu = (meter.percent(), meter.others_percent());
    engine.server.stop().await;
    report(&samples, filled.queued, ready, args.timeout, server_cpu);
    Ok(())
}

fn report(
    samples: &[(f64, u64)],
    queued: u64,
    ready: Duration,
    timeout: Duration,
    (server_cpu, others): (Option<f64>, Option<f64>),
) {
    let (secs, handled) = samples.last().copied().unwrap_or_default();
    println!(
        "serve answered /readyz {:.2} s after it started; times below count from the start",
        ready.as_secs_f64()
    );
    // Handled per whole second, from the samples nearest each second.
    let mut per_second = Vec::new();
    let mut prev = 0;
    for k in 1..=(secs as usize) {
        let at = samples
            .iter()
            .rfind(|(t, _)| *t <= k as f64)
            .map_or(prev, |s| s.1);
        per_second.push(at.saturating_sub(prev));
        prev = at;
    }
    println!("handled per second:");
    for chunk in per_second.chunks(10) {
        let line: Vec<String> = chunk.iter().map(|n| format!("{n:>7}")).collect();
        println!("  {}", line.join(""));
    }
    let overall = if secs > 0.0 {
        handled as f64 / secs
    } else {
        0.0
    };
    let state = if handled >= queued {
        format!("drained {handled} events in {secs:.1} s")
    } else {
        format!(
            "NOT drained: {handled} of {queued} events handled when the {timeout:?} timeout stopped the run"
        )
    };
    println!(
        "{state}: {}/s overall; from readiness on, server CPU {}, other processes on its core {}",
        rate(overall),
        cpu(server_cpu),
        cpu(others)
    );
    if per_second.len() >= 4 {
        let n = (per_second.len() / 4).max(1);
        let first: u64 = per_second[..n].iter().sum();
        let last: u64 = per_second[per_second.len() - n..].iter().sum();
        println!(
            "first {n} s: {}/s, last {n} s: {}/s",
            rate(first as f64 / n as f64),
            rate(last as f64 / n as f64)
        );
    }
}
