//! `switchboard gateway status|enable|replay`: the forwarding queues of the store the config
//! names. SQLite allows one process per file: stop `serve` first (the command says so when the
//! file is locked); PostgreSQL works beside running instances.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use switchboard::gateway::GatewayConfig;
use switchboard::{Env, Store};

use crate::outcome::{Failure, open_store, read_config};

/// What to do.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// List the endpoints: enabled or why disabled, pending, dead letters.
    Status,
    /// Enable an endpoint (disabled by a 410 or an operator).
    Enable(String),
    /// Queue an endpoint's dead letters again.
    Replay(String),
}

async fn open(text: &str, env: &Env) -> Result<(Arc<dyn Store>, Option<GatewayConfig>), Failure> {
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Failure::Config(format!("invalid_config: config: {}", e.message()))
    })?;
    let gateway = GatewayConfig::from_document(&doc, env)?;
    let (_, store) = open_store(text, env, &["store"]).await?;
    Ok((store, gateway))
}

pub(crate) async fn run(path: &Path, action: Action) -> Result<(), Failure> {
    let text = read_config(path)?;
    let (store, gateway) = open(&text, &Env::process()).await?;
    let known = store.forward_endpoints().await?;
    let name_ok = |name: &str| {
        known.iter().any(|e| e.name == name)
            || gateway.as_ref().is_some_and(|g| g.target(name).is_some())
    };
    let names = || {
        let mut all: Vec<String> = known.iter().map(|e| e.name.clone()).collect();
        for t in gateway.iter().flat_map(|g| g.forward.iter()) {
            if !all.contains(&t.name) {
                all.push(t.name.clone());
            }
        }
        all.join(", ")
    };
    match action {
        Action::Status => {
            if known.is_empty() {
                println!("no forwarding queue yet");
            }
            for e in &known {
                let state = match &e.disabled {
                    Some(why) => format!("disabled ({why})"),
                    None => "enabled".to_owned(),
                };
                println!(
                    "{}: {state}, {} pending, {} dead",
                    e.name, e.pending, e.dead
                );
            }
        }
        Action::Enable(name) => {
            if !name_ok(&name) {
                return Err(Failure::Config(format!(
                    "no endpoint '{name}' (known: {})",
                    names()
                )));
            }
            store
                .set_forward_disabled(&name, None, SystemTime::now())
                .await?;
            println!("{name}: enabled");
        }
        Action::Replay(name) => {
            if !name_ok(&name) {
                return Err(Failure::Config(format!(
                    "no endpoint '{name}' (known: {})",
                    names()
                )));
            }
            let n = store.replay_forwards(&name, SystemTime::now()).await?;
            println!("{name}: {n} dead letter(s) queued again");
        }
    }
    Ok(())
}
