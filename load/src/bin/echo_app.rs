//! `switchboard-echo-app`: the application `bench e2e` measures. It embeds the library exactly
//! as a user's application would: reads a TOML config file with
//! `Switchboard::from_config_file`, registers an `on_message` handler that replies with the
//! message's own text, and serves until Ctrl-C / SIGTERM.
//!
//! Run with: `cargo run --release -p switchboard-load --bin switchboard-echo-app -- CONFIG`

use std::process::ExitCode;

use switchboard::Switchboard;

/// mimalloc, as the `switchboard` binary uses (cli/src/main.rs): an application serving this
/// load picks its allocator, and glibc's cost the echo app 25-40% of its messages per
/// CPU-second (load/README.md, "End to end: the sender's policy read and the allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn run(config: &str) -> switchboard::Result<()> {
    Switchboard::from_config_file(config)?
        .on_message(|ctx| async move {
            let text = ctx.event().text().unwrap_or("(no text)").to_owned();
            ctx.reply_text(text)?;
            Ok(())
        })
        .build()
        .await?
        .serve()
        .await
}

#[tokio::main]
async fn main() -> ExitCode {
    let Some(config) = std::env::args().nth(1) else {
        eprintln!("usage: switchboard-echo-app CONFIG (a switchboard TOML config file)");
        return ExitCode::from(2);
    };
    match run(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
