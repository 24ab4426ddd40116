//! `switchboard installs list|revoke`: the installations of multi-tenant channels ("Add to
//! Slack") kept in the store the config names, their tokens decrypted with `[installs] keys`
//! only to prove they open; no token is ever printed. SQLite allows one process per file: stop
//! `serve` first; PostgreSQL works beside running instances.

use std::path::Path;
use std::time::SystemTime;

use switchboard::core::install::Installations;
use switchboard::install::StoreInstallations;
use switchboard::{ChannelName, Env};

use crate::outcome::{Failure, open_store, read_config};

/// What to do.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// One line per installation: channel, tenant, scopes, expiry.
    List,
    /// Forget the installation of (channel, tenant).
    Revoke(String, String),
}

async fn open(text: &str, env: &Env) -> Result<StoreInstallations, Failure> {
    let (config, store) = open_store(text, env, &["store", "installs"]).await?;
    let Some(installs) = config.installs else {
        return Err(Failure::Config(
            "invalid_config: no [installs] keys in the config: installations cannot be read"
                .to_owned(),
        ));
    };
    let keys = std::sync::Arc::new(installs.key_ring()?);
    Ok(StoreInstallations::new(store, keys))
}

fn when(t: SystemTime) -> String {
    let now = SystemTime::now();
    match t.duration_since(now) {
        Ok(left) => format!("in {}s", left.as_secs()),
        Err(e) => format!("{}s ago", e.duration().as_secs()),
    }
}

pub(crate) async fn run(path: &Path, action: Action) -> Result<(), Failure> {
    let text = read_config(path)?;
    let installs = open(&text, &Env::process()).await?;
    match action {
        Action::List => {
            let all = installs.list(None).await?;
            if all.is_empty() {
                println!("no installations");
            }
            for i in all {
                let expiry = i.expires_at.map_or("never".to_owned(), when);
                println!(
                    "{} {} scopes={} expires={} installed={}",
                    i.channel,
                    i.tenant,
                    i.scopes.join(","),
                    expiry,
                    when(i.installed_at)
                );
            }
        }
        Action::Revoke(channel, tenant) => {
            let name =
                ChannelName::new(channel.clone()).map_err(|e| Failure::Config(e.to_string()))?;
            if installs.remove(&name, &tenant).await? {
                println!("revoked {tenant} on {channel}");
            } else {
                return Err(Failure::Config(format!(
                    "no installation of {tenant} on channel {channel}"
                )));
            }
        }
    }
    Ok(())
}
