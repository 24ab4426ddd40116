//! The command line: `noop`, `ingest`, and `bench ingest|drain|e2e`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use switchboard::config::parse_duration;

use crate::config::StoreKind;

const EXAMPLES: &str = "\
Examples:
  cargo build --release -p switchboard-cli -p switchboard-load
  B=target/release
  $B/switchboard-load bench ingest --switchboard $B/switchboard --store both
  $B/switchboard-load bench drain --switchboard $B/switchboard --events 1000000 --conversations 10000
  $B/switchboard-load bench e2e --switchboard-app $B/switchboard-echo-app --duration 60s
  $B/switchboard-load noop --listen 127.0.0.1:9000 &
  $B/switchboard-load ingest --url http://127.0.0.1:9000/webhooks/fb --app-secret S --duration 5s

The benchmarks pin the servers to core 0 and themselves to core 1 (taskset).";

/// Load tools for Switchboard: a no-op reference server, a load generator of signed Messenger
/// webhooks, and the benchmarks of `switchboard serve`.
#[derive(Debug, Parser)]
#[command(name = "switchboard-load", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// The reference server: reads each request's whole body and answers 200 `ok`, on the
    /// same HTTP stack as `switchboard serve` (axum/hyper, HTTP/1.1 keep-alive).
    #[command(after_help = "\
Examples:
  taskset -c 0 switchboard-load noop --listen 127.0.0.1:9000")]
    Noop {
        /// Where to listen.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
    },
    /// Closed-loop load: pre-signed unique Messenger webhooks over keep-alive connections;
    /// prints acks/s, every status, latency p50/p90/p99/max per round.
    #[command(after_help = "\
Examples:
  switchboard-load ingest --url http://127.0.0.1:8080/webhooks/fb --app-secret \"$FB_APP_SECRET\"
  switchboard-load ingest --url http://127.0.0.1:9000/webhooks/fb --app-secret x --requests 100000 --rounds 1 --json

With --duration, a 1 s warm-up round (shown as `warm`) comes first. Signing happens before each
round's clock starts. Non-2xx answers are errors, listed by status.")]
    Ingest(IngestArgs),
    /// The benchmarks: the release binaries, pinned to their cores, measured as a user runs them.
    #[command(subcommand)]
    Bench(Bench),
}

/// `ingest`'s options.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The webhook URL of a Messenger channel (`http://HOST:PORT/webhooks/NAME`).
    #[arg(long)]
    pub(crate) url: String,
    /// The channel's `app_secret`.
    #[arg(long, value_name = "S")]
    pub(crate) app_secret: String,
    /// The `page_id` the webhooks name.
    #[arg(long, default_value = crate::config::PAGE_ID)]
    pub(crate) page_id: String,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Stop each round after this many requests instead of after --duration.
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub(crate) requests: Option<usize>,
    /// Also report the CPU this process (the server) uses per round.
    #[arg(long, value_name = "PID")]
    pub(crate) cpu_pid: Option<u32>,
    /// One line of JSON on stdout instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// How the load is shaped (shared by `ingest` and `bench ingest`).
#[derive(Debug, Clone, Args)]
pub(crate) struct LoadArgs {
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 50)]
    pub(crate) connections: usize,
    /// How long each round lasts.
    #[arg(long, value_parser = parse_duration, default_value = "8s")]
    pub(crate) duration: Duration,
    /// Consecutive rounds.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
    /// Messages are spread over this many PSIDs (conversations).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) conversations: u64,
    /// Most requests pre-signed for one round (about 400 bytes each).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) max_pool: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Bench {
    /// The no-op server, then `switchboard serve` on each store, under the same closed-loop
    /// load; one table with the ratio to the no-op and round 3 / round 1.
    #[command(after_help = "\
Examples:
  switchboard-load bench ingest --switchboard target/release/switchboard
  switchboard-load bench ingest --switchboard target/release/switchboard --store both --clients 2

`serve` runs without [bridge] (no handler), with [store] synchronous = \"full\" on a fresh
temporary directory; the rounds run back to back on the same growing database.")]
    Ingest(BenchIngestArgs),
    /// A SQLite file filled with queued events through the store API, then `switchboard
    /// serve` on it until every event is handled (followed through GET /metrics).
    #[command(after_help = "\
Examples:
  switchboard-load bench drain --switchboard target/release/switchboard --events 1000000 --conversations 10000
  switchboard-load bench drain --switchboard target/release/switchboard --events 100000 --retained-handled 10000
  switchboard-load bench drain --switchboard target/release/switchboard --events 100000 --conversations 1000 \\
      --postgres postgres://postgres@127.0.0.1:5432/test --instances 3

With --postgres, the PostgreSQL server is not pinned; the report gives the CPU of the engines
and of every `postgres` process per event.")]
    Drain(DrainArgs),
    /// Webhook → handler → reply → a fast Messenger stub, through `switchboard-echo-app`.
    #[command(after_help = "\
Examples:
  switchboard-load bench e2e --switchboard-app target/release/switchboard-echo-app --duration 60s
  switchboard-load bench e2e --switchboard-app target/release/switchboard-echo-app --rate 5000 --duration 30s
  switchboard-load bench e2e --switchboard-app target/release/switchboard-echo-app --backlog-check

Without --rate: closed loop at full speed (acks/s and arrivals at the stub per second). With
--rate: open loop, latency from each webhook's ack to the provider call of its reply.
The channel's rate limits are set far above the load so they never cap it.")]
    E2e(E2eArgs),
    /// Many open web chat event streams on `switchboard serve`: memory per idle stream, and
    /// the latency from an append to the conversation's log to the SSE write.
    #[command(after_help = "\
Examples:
  switchboard-load bench webchat --switchboard target/release/switchboard
  switchboard-load bench webchat --switchboard target/release/switchboard --streams 10000 --rate 1000 --duration 10s

The server runs a webchat channel on the memory store; this tool signs the visitors' tokens
(the channel's token_secret) and keeps one raw HTTP/1.1 connection per stream. It raises its
open-file limit (inherited by the server) to what the streams need.")]
    Webchat(WebchatArgs),
}

#[derive(Debug, Args)]
pub(crate) struct WebchatArgs {
    /// The `switchboard` binary (release build).
    #[arg(long, value_name = "PATH")]
    pub(crate) switchboard: PathBuf,
    /// Event streams kept open, one conversation each.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) streams: usize,
    /// Messages per second (open loop), each to a random conversation.
    #[arg(long, default_value_t = 1000.0)]
    pub(crate) rate: f64,
    /// How long the messages are sent.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) duration: Duration,
    /// What makes the records: the application's `send` (the gateway's `POST /v1/messages`:
    /// outbox, sender, the adapter's append) or visitors' `POST messages` (their echoes).
    #[arg(long, value_enum, default_value_t = Via::Send)]
    pub(crate) via: Via,
    #[command(flatten)]
    pub(crate) placement: Placement,
}

/// How `bench webchat` makes its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Via {
    /// Outbound sends through the gateway's REST API.
    Send,
    /// Visitor messages (their echoes).
    Message,
}

/// Where the processes run (every benchmark).
#[derive(Debug, Clone, Args)]
pub(crate) struct Placement {
    /// The core the server under test is pinned to.
    #[arg(long, default_value_t = 0)]
    pub(crate) server_cpu: usize,
    /// The core the load generator (this process) is pinned to.
    #[arg(long, default_value_t = 1)]
    pub(crate) client_cpu: usize,
    /// Do not pin anything (no taskset).
    #[arg(long)]
    pub(crate) no_pin: bool,
    /// Keep the temporary directory (configs, databases, server logs).
    #[arg(long)]
    pub(crate) keep: bool,
}

impl Placement {
    pub(crate) fn server(&self) -> Option<usize> {
        (!self.no_pin).then_some(self.server_cpu)
    }

    pub(crate) fn client(&self) -> Option<usize> {
        (!self.no_pin).then_some(self.client_cpu)
    }
}

/// Which stores `bench ingest` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Stores {
    Sqlite,
    Memory,
    Both,
}

impl Stores {
    pub(crate) fn list(self) -> Vec<StoreKind> {
        match self {
            Stores::Sqlite => vec![StoreKind::Sqlite],
            Stores::Memory => vec![StoreKind::Memory],
            Stores::Both => vec![StoreKind::Sqlite, StoreKind::Memory],
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct BenchIngestArgs {
    /// The `switchboard` binary (release build).
    #[arg(long, value_name = "PATH")]
    pub(crate) switchboard: PathBuf,
    #[arg(long, value_enum, default_value_t = Stores::Sqlite)]
    pub(crate) store: Stores,
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Load generator processes (all on the client core), sharing the connections: with 2,
    /// a no-op figure equal to 1's shows the client was not the limit.
    #[arg(long, default_value_t = 1)]
    pub(crate) clients: usize,
    #[command(flatten)]
    pub(crate) placement: Placement,
}

#[derive(Debug, Args)]
pub(crate) struct DrainArgs {
    /// The `switchboard` binary (release build).
    #[arg(long, value_name = "PATH")]
    pub(crate) switchboard: PathBuf,
    /// Queued events to drain.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) events: u64,
    /// Conversations they are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) conversations: u64,
    /// Handled events retained in the inbox beside them.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) retained_handled: u64,
    /// Give up (and report what drained) after this long.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub(crate) timeout: Duration,
    /// Drain a PostgreSQL store instead of SQLite: the database's URL (a schema of this run
    /// is created in it and dropped at the end).
    #[arg(long, value_name = "URL")]
    pub(crate) postgres: Option<String>,
    /// `switchboard serve` instances draining the one PostgreSQL schema together, all on the
    /// server core.
    #[arg(long, default_value_t = 1, requires = "postgres")]
    pub(crate) instances: usize,
    #[command(flatten)]
    pub(crate) placement: Placement,
}

#[derive(Debug, Args)]
pub(crate) struct E2eArgs {
    /// The `switchboard-echo-app` binary (release build).
    #[arg(long, value_name = "PATH")]
    pub(crate) switchboard_app: PathBuf,
    /// Open loop at this many webhooks per second (else closed loop at full speed).
    #[arg(long, value_name = "R")]
    pub(crate) rate: Option<f64>,
    /// How long the load lasts.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub(crate) duration: Duration,
    /// A 10 s closed loop at full speed, then how long until every acknowledged webhook's
    /// reply reached the stub.
    #[arg(long, conflicts_with_all = ["rate", "duration"])]
    pub(crate) backlog_check: bool,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 50)]
    pub(crate) connections: usize,
    /// Conversations (PSIDs) the messages are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) conversations: u64,
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    pub(crate) store: StoreKind,
    /// Most requests pre-signed (closed loop).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) max_pool: usize,
    /// How long to wait, after the load, for the replies still on their way.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    pub(crate) drain_timeout: Duration,
    #[command(flatten)]
    pub(crate) placement: Placement,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
