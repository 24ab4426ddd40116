//! `switchboard serve`: the engine, its webhooks, and the bridge when configured.

use std::path::Path;

use switchboard::Env;
use switchboard::bridge;

use crate::logging;
use crate::outcome::{Failure, read_config};

pub(crate) async fn run(path: &Path, format: logging::Format) -> Result<(), Failure> {
    logging::init(format);
    let text = read_config(path)?;
    // [gateway] is read here; the engine and the bridge get the rest of the document.
    let mut whole: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Failure::Config(format!("invalid_config: config: {}", e.message()))
    })?;
    let gateway = switchboard::gateway::GatewayConfig::from_document(&whole, &Env::process())?;
    whole.remove("gateway");
    let text = toml::to_string(&whole).map_err(|e| Failure::Config(e.to_string()))?;
    let (doc, _) = bridge::split_document(&text)?;
    let names: Vec<String> = doc
        .get("channels")
        .and_then(|c| c.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let (builder, bridge) = bridge::from_config_str(&text, &Env::process())?;
    let gateway_on = gateway.is_some();
    let builder = match gateway {
        Some(g) => {
            tracing::info!(
                endpoints = g.forward.len(),
                api = !g.api_keys.is_empty(),
                "gateway on"
            );
            builder.gateway(g)
        }
        None => builder,
    };
    let switchboard = match &bridge {
        Some(bridge) => bridge.build(builder).await?,
        None => builder.build().await?,
    };
    let server = &switchboard.config().server;
    let base = server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", server.listen));
    for line in crate::sandbox::webhook_lines(&switchboard, &base, &names) {
        tracing::info!("{line}");
    }
    match &bridge {
        Some(b) => tracing::info!(
            agents = %b.config().agents,
            conversation = %b.config().agents_conversation,
            customers = ?b.config().customers.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "support bridge on"
        ),
        None if gateway_on => {}
        None => tracing::info!(
            "no [bridge] or [gateway] section: events are stored and acknowledged, no handler runs"
        ),
    }
    switchboard
        .serve()
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))
}
