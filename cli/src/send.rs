//! `switchboard send`: one message through a channel's adapter.

use std::path::Path;
use std::sync::Arc;

use switchboard::bridge::split_document;
use switchboard::{
    ChannelName, ConversationId, ConversationRef, Env, MemoryStore, OutboundMessage,
    SwitchboardBuilder, ThreadId,
};

use crate::outcome::{Failure, read_config};

pub(crate) async fn run(
    path: &Path,
    channel: &str,
    to: &str,
    thread: Option<&str>,
    text: &str,
) -> Result<(), Failure> {
    let config = read_config(path)?;
    let (doc, _bridge) = split_document(&config)?;
    let engine_text = toml::to_string(&doc).map_err(|e| Failure::Config(e.to_string()))?;
    let switchboard = SwitchboardBuilder::from_config_str(&engine_text, &Env::process())?
        .store(Arc::new(MemoryStore::new()))
        .build()
        .await?;
    let name = ChannelName::new(channel).map_err(|e| Failure::Config(e.to_string()))?;
    let Some(adapter) = switchboard.adapter(&name) else {
        return Err(Failure::Config(format!(
            "no channel '{channel}' in {}",
            path.display()
        )));
    };
    let mut target = ConversationRef::new(
        name,
        ConversationId::new(to).map_err(|e| Failure::Config(format!("--to: {e}")))?,
    );
    if let Some(ts) = thread {
        target = target
            .in_thread(ThreadId::new(ts).map_err(|e| Failure::Config(format!("--thread: {e}")))?);
    }
    let message = OutboundMessage::text(text).map_err(|e| Failure::Config(e.to_string()))?;
    let receipt = adapter.send(&target, &message).await?;
    for m in &receipt.messages {
        match m.segments {
            Some(n) => println!("sent {} ({n} segment(s))", m.id),
            None => println!("sent {}", m.id),
        }
    }
    for d in &receipt.degradations {
        println!("degraded: {d}");
    }
    Ok(())
}
