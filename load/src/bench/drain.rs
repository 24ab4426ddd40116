//! `bench drain`: a SQLite file (or, with `--postgres`, a schema of a PostgreSQL database)
//! filled with queued events (see `fill.rs`), then `switchboard serve` on it (`--instances`
//! of it on PostgreSQL), pinned to the server core, followed through `GET /metrics` every
//! 100 ms until every event is handled: time to drain, events/s overall and second by second,
//! and on PostgreSQL the CPU per event of the engines and of the database server.

use std::time::{Duration, Instant};

use crate::Result;
use crate::bench::{Workdir, header, start_engine, start_stub};
use crate::cli::DrainArgs;
use crate::config::{PgTarget, StoreKind};
use crate::fill;
use crate::metrics::{HANDLED, scrape};
use crate::process::{CpuMeter, cpu_seconds_named};
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
    let pg = args.postgres.as_ref().map(|url| PgTarget {
        url: url.clone(),
        schema: format!("switchboard_load_{}", std::process::id()),
    });
    let (kind, instances) = match &pg {
        Some(pg) => {
            println!(
                "   PostgreSQL schema {} ({} instance(s) of serve; PostgreSQL not pinned)",
                pg.schema, args.instances
            );
            (StoreKind::Postgres, args.instances.max(1))
        }
        None => {
            println!("   SQLite synchronous = \"full\"");
            (StoreKind::Sqlite, 1)
        }
    };
    println!(
        "   {} queued events over {} conversations, {} handled events retained, no handler",
        args.events, args.conversations, args.retained_handled
    );
    let store = match &pg {
        Some(pg) => {
            fill::drop_schema(pg).await?;
            fill::postgres(&pg.url, &pg.schema).await?
        }
        None => fill::sqlite(&dir.path.join("bench-sqlite.db")).await?,
    };
    let t = Instant::now();
    let filled = fill::fill(
        store,
        args.events,
        args.retained_handled,
        args.conversations,
    )
    .await?;
    println!(
        "fill: {} queued, {} handled in {:.1} s (inserts {:.1} s, claiming and completing the handled ones {:.1} s)",
        filled.queued,
        filled.handled,
        t.elapsed().as_secs_f64(),
        filled.insert_secs,
        filled.handle_secs
    );
    let drained = drain(args, &dir, kind, pg.as_ref(), instances, filled.queued).await;
    if let Some(pg) = &pg {
        fill::drop_schema(pg).await?;
    }
    drained
}

/// Starts `instances` engines on the filled store and follows them until the queue is empty.
async fn drain(
    args: &DrainArgs,
    dir: &Workdir,
    kind: StoreKind,
    pg: Option<&PgTarget>,
    instances: usize,
    queued: u64,
) -> Result<()> {
    let place = &args.placement;
    let (stub_url, _arrivals) = start_stub().await?;
    let spawned = Instant::now();
    let mut engines = Vec::with_capacity(instances);
    for _ in 0..instances {
        engines.push(
            start_engine(
                dir,
                place,
                &args.switchboard,
                true,
                kind,
                pg,
                &stub_url,
                false,
            )
            .await?,
        );
    }
    let ready = spawned.elapsed();
    let meters: Vec<CpuMeter> = engines
        .iter()
        .map(|e| CpuMeter::start(e.server.pid()))
        .collect();
    let postgres_ready = cpu_seconds_named("postgres");
    let http = reqwest::Client::new();
    let urls: Vec<String> = engines
        .iter()
        .map(|e| format!("{}/metrics", e.base))
        .collect();
    // Time counts from the first process start: an engine handles events before it answers
    // /readyz.
    let start = spawned;
    let deadline = start + args.timeout;
    let mut samples: Vec<(f64, u64)> = vec![(0.0, 0)];
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        let mut handled = 0;
        for url in &urls {
            handled += scrape(&http, url, HANDLED).await?;
        }
        samples.push((start.elapsed().as_secs_f64(), handled));
        if handled >= queued || Instant::now() >= deadline {
            break;
        }
    }
    let sum = |f: &dyn Fn(&CpuMeter) -> Option<f64>| meters.iter().map(f).sum::<Option<f64>>();
    let engines_cpu = sum(&|m| m.percent());
    // Every instance shares the core: the others are what the first meter sees beside it,
    // less the other instances.
    let others = meters.first().and_then(|first| {
        let beside = first.others_percent()?;
        Some((beside - (engines_cpu? - first.percent()?)).max(0.0))
    });
    let server_cpu = (engines_cpu, others);
    let engine_secs = sum(&|m| m.seconds());
    let postgres_secs = cpu_seconds_named("postgres") - postgres_ready;
    for e in engines {
        e.server.stop().await;
    }
    report(&samples, queued, ready, args.timeout, server_cpu);
    if kind == StoreKind::Postgres {
        let handled = samples.last().map_or(0, |s| s.1).max(1) as f64;
        println!(
            "CPU per event, from readiness on: engines {} µs, PostgreSQL server {:.1} µs",
            engine_secs.map_or("?".to_owned(), |s| format!("{:.1}", s / handled * 1e6)),
            postgres_secs / handled * 1e6
        );
    }
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
