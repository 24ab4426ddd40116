//! How a command fails, and the exit code each failure means.

use std::fmt;

use switchboard::{Error, ErrorKind};

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or configuration: exit code 2.
    Config(String),
    /// Something failed at run time: exit code 1.
    Runtime(String),
}

impl Failure {
    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::Config(_) => 2,
            Failure::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config(m) | Failure::Runtime(m) => write!(f, "error: {m}"),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        if e.kind() == ErrorKind::InvalidConfig {
            Failure::Config(e.to_string())
        } else {
            Failure::Runtime(e.to_string())
        }
    }
}

/// Reads a config file (a missing or unreadable file is a config failure).
pub(crate) fn read_config(path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Config(format!("config {}: {e}", path.display())))
}

/// Opens the store of a config document with only `sections` of it (`store` and what the
/// command needs) read: the engine's configuration and its store.
pub(crate) async fn open_store(
    text: &str,
    env: &switchboard::Env,
    sections: &[&str],
) -> Result<(switchboard::Config, std::sync::Arc<dyn switchboard::Store>), Failure> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Failure::Config(format!("invalid_config: config: {}", e.message()))
    })?;
    let mut only = toml::Table::new();
    for section in sections {
        if let Some(v) = doc.get(*section) {
            only.insert((*section).to_owned(), v.clone());
        }
    }
    let config = switchboard::Config::from_document_with_env(&only, env)?;
    let sb = switchboard::SwitchboardBuilder::new()
        .config(config.clone())
        .build()
        .await
        .map_err(|e| {
            Failure::Runtime(format!(
                "{e} (with a SQLite store, stop `switchboard serve` first: one process per file)"
            ))
        })?;
    Ok((config, sb.store().clone()))
}
