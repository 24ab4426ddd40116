#![doc = include_str!("../README.md")]

mod bench;
mod cli;
mod client;
mod config;
mod fill;
mod ingest;
mod machine;
mod metrics;
mod noop;
mod process;
mod report;
mod sign;
mod stub;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Bench, Cli, Command, IngestArgs};
use crate::ingest::{Plan, Stop};
use crate::sign::Webhooks;

/// Every failure of the tool: a message for the operator.
pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The benchmarks run on the client core: re-run this command pinned there first.
    if let Command::Bench(b) = &cli.command {
        let place = match b {
            Bench::Ingest(a) => &a.placement,
            Bench::Drain(a) => &a.placement,
            Bench::E2e(a) => &a.placement,
            Bench::Webchat(a) => &a.placement,
        };
        match process::pin_self(place.client()) {
            Ok(None) => {}
            Ok(Some(code)) => return ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // The no-op server runs on the same runtime as `switchboard serve` (multi-thread: one worker
    // per core it may use); the load side on one thread (it has one core).
    let runtime = match &cli.command {
        Command::Noop { .. } => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Noop { listen } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("bind {listen}: {e}"))?;
            eprintln!("no-op server on http://{listen}");
            noop::serve(listener).await
        }
        Command::Ingest(args) => ingest(args).await,
        Command::Bench(Bench::Ingest(args)) => bench::ingest::bench(&args).await,
        Command::Bench(Bench::Drain(args)) => bench::drain::bench(&args).await,
        Command::Bench(Bench::E2e(args)) => bench::e2e::bench(&args).await,
        Command::Bench(Bench::Webchat(args)) => bench::webchat::bench(&args).await,
    }
}

async fn ingest(args: IngestArgs) -> Result<()> {
    let plan = Plan {
        url: args.url,
        hooks: Webhooks::new(&args.app_secret, &args.page_id, args.load.conversations),
        connections: args.load.connections,
        stop: match args.requests {
            Some(n) => Stop::Requests(n),
            None => Stop::Duration(args.load.duration),
        },
        rounds: args.load.rounds,
        max_pool: args.load.max_pool,
        cpu_pid: args.cpu_pid,
    };
    let rounds = ingest::run(&plan).await?;
    if args.json {
        println!("{}", serde_json::to_string(&rounds)?);
    } else {
        report::print_rounds(&rounds);
    }
    Ok(())
}
