//! Logs for `serve`: human-readable (colours on a terminal) or JSON lines; `RUST_LOG` filters.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber (`RUST_LOG`, default `info`), writing to stderr.
pub(crate) fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        Format::Json => builder.json().try_init(),
        Format::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("warning: logging not set up: {e}");
    }
}
