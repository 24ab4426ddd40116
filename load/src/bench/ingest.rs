//! `bench ingest`: the no-op server, then `switchboard serve` on each store, each pinned to the
//! server core, under the same closed-loop rounds from the client core; one table.
//!
//! With `--clients K`, K `ingest` processes share the connections (all on the client core):
//! their counts add up; their percentiles cannot be merged, so the table shows the worst of
//! them.

use std::ffi::OsString;
use std::process::Stdio;

use crate::Result;
use crate::bench::{Running, Workdir, header, start_engine, start_noop, start_stub};
use crate::cli::{BenchIngestArgs, LoadArgs};
use crate::config::{APP_SECRET, CHANNEL, PAGE_ID, StoreKind};
use crate::ingest::{Plan, Stop, run};
use crate::report::{LEGEND, Percentiles, Round, cpu, micros, print_rounds, rate};
use crate::sign::Webhooks;

/// Runs the benchmark and prints its table.
///
/// # Errors
/// A server does not start, or a client process fails.
pub(crate) async fn bench(args: &BenchIngestArgs) -> Result<()> {
    let place = &args.placement;
    let dir = Workdir::new(place.keep)?;
    header("bench ingest", place, &dir);
    let l = &args.load;
    println!(
        "   {} connections ({} client process(es)), {} rounds of {:?}, {} conversations, unique signed Messenger webhooks",
        l.connections, args.clients, l.rounds, l.duration, l.conversations
    );
    let (stub_url, _arrivals) = start_stub().await?;

    let noop = start_noop(&dir, place).await?;
    let noop_rounds = measure(&noop, args).await?;
    noop.server.stop().await;
    println!("\nno-op server:");
    print_rounds(&noop_rounds);

    let mut engines = Vec::new();
    for store in args.store.list() {
        let engine = start_engine(
            &dir,
            place,
            &args.switchboard,
            true,
            store,
            None,
            &stub_url,
            false,
        )
        .await?;
        let rounds = measure(&engine, args).await?;
        engine.server.stop().await;
        println!("\nswitchboard serve, {}:", store.label());
        print_rounds(&rounds);
        engines.push((store, rounds));
    }
    table(&noop_rounds, &engines);
    Ok(())
}

async fn measure(server: &Running, args: &BenchIngestArgs) -> Result<Vec<Round>> {
    let url = format!("{}/webhooks/{CHANNEL}", server.base);
    let pid = server.server.pid();
    if args.clients <= 1 {
        let plan = Plan {
            url,
            hooks: Webhooks::new(APP_SECRET, PAGE_ID, args.load.conversations),
            connections: args.load.connections,
            stop: Stop::Duration(args.load.duration),
            rounds: args.load.rounds,
            max_pool: args.load.max_pool,
            cpu_pid: Some(pid),
        };
        return run(&plan).await;
    }
    let children: Vec<_> = (0..args.clients)
        .map(|k| spawn_client(&url, &args.load, args.clients, k, pid))
        .collect::<Result<_>>()?;
    let mut all: Vec<Vec<Round>> = Vec::new();
    for child in children {
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            return Err(format!(
                "a client process failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        all.push(serde_json::from_slice(&out.stdout)?);
    }
    Ok(combine(all))
}

fn spawn_client(
    url: &str,
    l: &LoadArgs,
    clients: usize,
    k: usize,
    pid: u32,
) -> Result<tokio::process::Child> {
    let share = l.connections / clients + usize::from(k < l.connections % clients);
    let args: Vec<OsString> = [
        "ingest".to_owned(),
        format!("--url={url}"),
        format!("--app-secret={APP_SECRET}"),
        format!("--connections={}", share.max(1)),
        format!("--duration={}ms", l.duration.as_millis()),
        format!("--rounds={}", l.rounds),
        format!("--conversations={}", l.conversations),
        format!("--max-pool={}", l.max_pool / clients),
        format!("--cpu-pid={pid}"),
        "--json".to_owned(),
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    Ok(tokio::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?)
}

/// Adds up the clients' rounds (same numbers, run side by side).
fn combine(all: Vec<Vec<Round>>) -> Vec<Round> {
    let mut out: Vec<Round> = Vec::new();
    for rounds in all {
        for r in rounds {
            match out.iter_mut().find(|o| o.round == r.round) {
                None => out.push(r),
                Some(o) => {
                    o.requests += r.requests;
                    o.acks += r.acks;
                    o.secs = o.secs.max(r.secs);
                    for (s, n) in r.statuses {
                        *o.statuses.entry(s).or_default() += n;
                    }
                    o.transport_errors += r.transport_errors;
                    o.latency = worst(o.latency, r.latency);
                    o.pool_exhausted |= r.pool_exhausted;
                    // The server is measured by each client over the same round: the most.
                    o.server_cpu = both(o.server_cpu, r.server_cpu, f64::max);
                    o.server_core_others =
                        both(o.server_core_others, r.server_core_others, f64::min);
                    // The clients are separate processes: their sum.
                    o.client_cpu = both(o.client_cpu, r.client_cpu, |a, b| a + b);
                    // Each client counts its siblings among the others on the core.
                    o.client_core_others = o
                        .client_core_others
                        .zip(r.client_cpu)
                        .map(|(others, sibling)| (others - sibling).max(0.0));
                }
            }
        }
    }
    out.sort_by_key(|r| r.round);
    out
}

/// Acks per second of server CPU: the rate a whole core would give if the server scaled with
/// the CPU it got (a figure less sensitive to the machine's other load, not a measurement).
fn per_cpu_second(r: &Round) -> String {
    match r.server_cpu {
        Some(c) if c > 1.0 => rate(r.acks_per_sec() / (c / 100.0)),
        _ => "-".to_owned(),
    }
}

fn both(a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

fn worst(a: Percentiles, b: Percentiles) -> Percentiles {
    Percentiles {
        p50_us: a.p50_us.max(b.p50_us),
        p90_us: a.p90_us.max(b.p90_us),
        p99_us: a.p99_us.max(b.p99_us),
        max_us: a.max_us.max(b.max_us),
    }
}

fn table(noop: &[Round], engines: &[(StoreKind, Vec<Round>)]) {
    let counted = |rs: &[Round]| {
        rs.iter()
            .filter(|r| r.round > 0)
            .cloned()
            .collect::<Vec<_>>()
    };
    let noop = counted(noop);
    let reference = noop.iter().map(Round::acks_per_sec).sum::<f64>() / noop.len().max(1) as f64;
    println!(
        "\n{:<14} {:>5} {:>9} {:>8} {:>9} {:>8} {:>8} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "target",
        "round",
        "acks/s",
        "×no-op",
        "acks/cpu",
        "p50",
        "p99",
        "srvCPU",
        "cliCPU",
        "othSrv",
        "othCli",
        "errors"
    );
    let line = |name: &str, r: &Round| {
        println!(
            "{:<14} {:>5} {:>9} {:>8.3} {:>9} {:>8} {:>8} {:>6} {:>6} {:>7} {:>7} {:>7}",
            name,
            r.round,
            rate(r.acks_per_sec()),
            if reference > 0.0 {
                r.acks_per_sec() / reference
            } else {
                0.0
            },
            per_cpu_second(r),
            micros(r.latency.p50_us),
            micros(r.latency.p99_us),
            cpu(r.server_cpu),
            cpu(r.client_cpu),
            cpu(r.server_core_others),
            cpu(r.client_core_others),
            r.errors()
        );
    };
    for r in &noop {
        line("no-op", r);
    }
    for (store, rounds) in engines {
        let rounds = counted(rounds);
        for r in &rounds {
            line(store.label(), r);
        }
        if let (Some(first), Some(last)) = (rounds.first(), rounds.last())
            && first.acks_per_sec() > 0.0
        {
            println!(
                "{:<14} round {} / round {}: {:.2}",
                store.label(),
                last.round,
                first.round,
                last.acks_per_sec() / first.acks_per_sec()
            );
        }
    }
    println!(
        "×no-op: against the no-op's mean over its rounds, {}/s. acks/cpu: acks per second of \
         server CPU. {LEGEND}",
        rate(reference)
    );
}
