#![doc = include_str!("../README.md")]

mod check;
mod gateway;
mod installs;
mod logging;
mod outcome;
mod sandbox;
mod send;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The process allocator: mimalloc, whose per-thread free lists make the many small
/// allocations of a webhook (headers, JSON, rows) cheaper than glibc's arenas (measured in
/// load/README.md); feature `system-allocator`: the system's, to compare.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLES: &str = "\
Examples:
  switchboard sandbox                          # try everything locally, no accounts needed
  switchboard check --config switchboard.toml  # validate a config (exit 2 lists every problem)
  switchboard serve --config switchboard.toml  # run the webhooks, the engine and the bridge
  switchboard send --config switchboard.toml --channel sms --to +15558675310 'Your order **shipped**'

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config.";

/// Switchboard: one chat application served on Messenger, Twilio (SMS, WhatsApp) and Slack.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the engine: webhooks on `[server] listen`, workers, the sender, and the support
    /// bridge when the config has a `[bridge]` section.
    #[command(after_help = "\
Examples:
  switchboard serve --config switchboard.toml
  RUST_LOG=switchboard=debug switchboard serve --config switchboard.toml --log-format json

Providers call POST {public_url}/webhooks/{channel} (Meta's GET handshake too).
Health: GET /healthz, readiness: GET /readyz, metrics: GET /metrics.
Stops gracefully on Ctrl-C or SIGTERM. Exit codes: 0 stopped, 1 runtime failure, 2 bad config.")]
    Serve(ServeArgs),
    /// Validate a config file: every problem is listed, each naming the channel and the key.
    #[command(after_help = "\
Examples:
  switchboard check --config switchboard.toml
  SLACK_BOT_TOKEN=xoxb-… switchboard check --config switchboard.toml
  switchboard check --config switchboard.toml --live   # also prove the credentials

Secrets written \"${ENV_NAME}\" are read from the environment; a missing one is a problem.
With --live, each channel's adapter makes its provider's cheapest authenticated call, the
Redis of [rate_limits] must answer, and a PostgreSQL [store] must answer, take the credentials
and hold a schema this binary understands (its version is reported; nothing is created).
Exit codes: 0 valid, 1 a provider, Redis or PostgreSQL could not be reached (--live), 2 problems found (listed on stderr).")]
    Check(CheckArgs),
    /// Send one message to a conversation, rendered for the channel (markdown converted or
    /// stripped, long text split, buttons degraded where needed).
    #[command(after_help = "\
Examples:
  switchboard send --config switchboard.toml --channel sms --to +15558675310 'Your order **shipped**'
  switchboard send --config switchboard.toml --channel team --to C0AGENTS --thread 1700000000.000100 'Done'

The message is sent directly by the channel's adapter (no engine, no outbox).
Exit codes: 0 sent, 1 the provider refused or could not be reached, 2 bad usage or config.")]
    Send(SendArgs),
    /// Try everything locally: emulated Slack, Messenger and Twilio, the engine and the support
    /// bridge on a temporary SQLite file, and a scripted conversation through signed webhooks.
    #[command(after_help = "\
Examples:
  switchboard sandbox                 # play the script, print the transcript and the API calls
  switchboard sandbox --interactive   # then keep running: type messages as customers or agents

Needs no account and no network beyond 127.0.0.1.
Exit codes: 0 the script ran as expected, 1 something did not happen.")]
    Sandbox(SandboxArgs),
    /// Gateway mode's forwarding queues: status, enable an endpoint, replay dead letters.
    #[command(after_help = "\
Examples:
  switchboard gateway status --config switchboard.toml
  switchboard gateway enable --config switchboard.toml app   # after it answered 410
  switchboard gateway replay --config switchboard.toml app   # send its dead letters again

With a SQLite store, stop `switchboard serve` first (one process per file).
Exit codes: 0 done, 1 the store could not be opened, 2 bad usage, config or endpoint name.")]
    Gateway(GatewayArgs),
    /// Installations of multi-workspace channels ("Add to Slack"): list them, revoke one.
    #[command(after_help = "\
Examples:
  switchboard installs list --config switchboard.toml
  switchboard installs revoke --config switchboard.toml team T0123ABCD

Tokens are never printed; [installs] keys must open them. Revoking forgets the installation
here (sends to it fail at once); uninstall the app in the workspace to revoke it at Slack.
With a SQLite store, stop `switchboard serve` first (one process per file).
Exit codes: 0 done, 1 the store could not be opened, 2 bad usage, config or unknown installation.")]
    Installs(InstallsArgs),
}

#[derive(Debug, Args)]
struct InstallsArgs {
    #[command(subcommand)]
    action: InstallsAction,
}

#[derive(Debug, Subcommand)]
enum InstallsAction {
    /// Each installation: channel, tenant, scopes, token expiry (never a token).
    List(ConfigArg),
    /// Forget one installation.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
struct RevokeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The channel (`[channels.NAME]`).
    channel: String,
    /// The tenant: the Slack team (`T…`) or enterprise (`E…`) id.
    tenant: String,
}

#[derive(Debug, Args)]
struct GatewayArgs {
    #[command(subcommand)]
    action: GatewayAction,
}

#[derive(Debug, Subcommand)]
enum GatewayAction {
    /// Each endpoint: enabled or why disabled, events pending, dead letters.
    Status(ConfigArg),
    /// Enable an endpoint again (one that answered 410, or was disabled by an operator).
    Enable(EndpointArgs),
    /// Queue an endpoint's dead letters again, at the end of their conversations.
    Replay(EndpointArgs),
}

#[derive(Debug, Args)]
struct EndpointArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The endpoint's name (`[[gateway.forward]] name`, else its url).
    name: String,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The TOML config file.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Log format: human (the default; colours on a terminal) or json (one object per line).
    #[arg(long, value_enum, default_value_t = logging::Format::Human)]
    log_format: logging::Format,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Also call each provider's cheapest authenticated endpoint to prove the credentials.
    #[arg(long)]
    live: bool,
}

#[derive(Debug, Args)]
struct SendArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The channel (a `[channels.NAME]` of the config).
    #[arg(long, value_name = "NAME")]
    channel: String,
    /// The conversation in the provider's form: a Slack channel id, a PSID, a phone number.
    #[arg(long, value_name = "ID")]
    to: String,
    /// A thread to post into (Slack: the parent's ts).
    #[arg(long, value_name = "TS")]
    thread: Option<String>,
    /// The text, in markdown.
    text: String,
}

#[derive(Debug, Args)]
struct SandboxArgs {
    /// After the script, keep running, print the URLs and read messages from standard input.
    #[arg(long)]
    interactive: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(&a.config.config, a.log_format).await,
            Command::Check(a) => check::run(&a.config.config, a.live).await,
            Command::Send(a) => {
                send::run(
                    &a.config.config,
                    &a.channel,
                    &a.to,
                    a.thread.as_deref(),
                    &a.text,
                )
                .await
            }
            Command::Sandbox(a) => sandbox::run(a.interactive).await,
            Command::Gateway(a) => match a.action {
                GatewayAction::Status(c) => gateway::run(&c.config, gateway::Action::Status).await,
                GatewayAction::Enable(e) => {
                    gateway::run(&e.config.config, gateway::Action::Enable(e.name)).await
                }
                GatewayAction::Replay(e) => {
                    gateway::run(&e.config.config, gateway::Action::Replay(e.name)).await
                }
            },
            Command::Installs(a) => match a.action {
                InstallsAction::List(c) => installs::run(&c.config, installs::Action::List).await,
                InstallsAction::Revoke(r) => {
                    installs::run(
                        &r.config.config,
                        installs::Action::Revoke(r.channel, r.tenant),
                    )
                    .await
                }
            },
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.code())
        }
    }
}
