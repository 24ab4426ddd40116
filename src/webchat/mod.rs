//! Web chat in the engine (issue 13, phase 2): what the `switchboard-webchat` provider crate
//! cannot do alone because it needs the store. The crate decodes visitors' requests, signs
//! tokens and renders messages; this module gives each web chat channel
//!
//! - a **durable conversation log** (`StoreLog`, the crate's
//!   [`ConversationLog`] over
//!   [`Store::log_append`]): the adapter's `send` appends the
//!   rendered records when the sender sends the outbox row, after the attempt is recorded
//!   (the outbox's transaction discipline). Each record is keyed `{outbox key}:{part}`, so a
//!   send retried after a crash appends nothing new; sequence numbers only grow per
//!   conversation, across instances and restarts;
//! - **live streams** woken after the commit (`hub`): on this instance directly, on the
//!   others through [`Store::log_wake_ups`] (PostgreSQL `NOTIFY`,
//!   delivered at commit). Streams also re-read the log every 30 s as the safety net;
//! - a **durable token key**: `token_secret` from the channel table, or else 32 random bytes
//!   generated once and kept in the store (one key for the channels without a secret) ([`Store::keep_secret`],
//!   the first instance's proposal wins), so tokens survive restarts and are valid on every
//!   instance sharing the store.
//!
//! The HTTP routes under `/webchat/{channel}/` are the server's (`src/server/webchat`).
//!
//! This module also re-exports the provider crate (`switchboard-webchat`): its protocol
//! types ([`wire`]), tokens ([`token`]), [`WebchatAdapter`], [`ConversationLog`] and the
//! open protocol ([`PROTOCOL`]).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use switchboard_core::{ChannelTable, Error, ErrorKind, Result};
use tokio::sync::watch;

use crate::store::Store;

pub use switchboard_webchat::*;

mod files;
mod hub;
mod log;
mod streams;

pub(crate) use files::{clean_filename, clean_mime};
#[cfg(test)]
pub(crate) use hub::SIGNALS;
pub(crate) use hub::{Hub, Signal, Subscription};
use log::StoreLog;
pub(crate) use log::{read_after, record, truncated};
pub(crate) use streams::{PER_TOKEN, Slot, Streams};

/// How often a stream re-reads its conversation's log without a wake-up (a wake-up another
/// instance sent while this one's listener was reconnecting).
pub(crate) const POLL: Duration = Duration::from_secs(30);

/// The name the token key is kept under in the store: one key for every web chat channel
/// without a `token_secret` (a token names its channel, so a token of another channel is
/// refused `foreign_token`, as the protocol says, not just `bad_token`).
const KEY_NAME: &str = "webchat/token_key";

/// One served web chat channel.
#[derive(Debug)]
pub(crate) struct WebChannel {
    pub(crate) adapter: Arc<WebchatAdapter>,
}

/// The web chat channels of an engine and their streams.
#[derive(Debug)]
pub(crate) struct Channels {
    pub(crate) channels: HashMap<String, Arc<WebChannel>>,
    pub(crate) hub: Arc<Hub>,
    /// The open streams by token (at most five each).
    pub(crate) streams: Arc<Streams>,
    /// Set when the server shuts down: open streams end (their clients reconnect elsewhere).
    closing: watch::Sender<bool>,
}

impl Channels {
    /// No channel yet; the store's wake-ups from other instances (if it has any) wake this
    /// hub's streams until the hub is gone.
    pub(crate) fn new(store: &Arc<dyn Store>) -> Self {
        let hub = Arc::new(Hub::default());
        if let Some(wake_ups) = store.log_wake_ups() {
            tokio::spawn(forward(wake_ups, Arc::downgrade(&hub)));
        }
        Channels {
            channels: HashMap::new(),
            hub,
            streams: Arc::default(),
            closing: watch::channel(false).0,
        }
    }

    /// Ends every open stream (the server is shutting down).
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// What a stream watches to end when the server shuts down.
    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Builds the channel of a `provider = "webchat"` table: the adapter, its log in `store`,
    /// its durable token key.
    pub(crate) async fn build(
        &mut self,
        table: ChannelTable,
        store: &Arc<dyn Store>,
        public_url: Option<&str>,
    ) -> Result<Arc<WebchatAdapter>> {
        let adapter = WebchatAdapter::from_table(table)?;
        let name = adapter.channel().as_str().to_owned();
        let adapter = match adapter.config().token_secret {
            Some(_) => adapter,
            None => {
                let proposed = TokenKey::random()?;
                let kept = store.keep_secret(KEY_NAME, proposed.as_bytes()).await?;
                let kept: [u8; 32] = kept.try_into().map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidConfig,
                        format!(
                            "store: the token key of web chat channel {name:?} is not 32 bytes"
                        ),
                    )
                })?;
                adapter.with_token_key(TokenKey::from_bytes(kept))
            }
        };
        let log = StoreLog {
            store: store.clone(),
            hub: self.hub.clone(),
            public_url: public_url.unwrap_or_default().to_owned(),
        };
        let adapter = Arc::new(adapter.with_log(Arc::new(log)));
        self.channels.insert(
            name,
            Arc::new(WebChannel {
                adapter: adapter.clone(),
            }),
        );
        Ok(adapter)
    }

    /// The channel named `name`, if it is a web chat channel.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<WebChannel>> {
        self.channels.get(name)
    }
}

async fn forward(mut wake_ups: tokio::sync::broadcast::Receiver<String>, hub: Weak<Hub>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let got = wake_ups.recv().await;
        let Some(hub) = hub.upgrade() else { return };
        match got {
            Ok(conversation) => hub.wake(&conversation),
            // Missed some: every stream re-reads (a read that finds nothing costs one query).
            Err(RecvError::Lagged(_)) => hub.wake_all(),
            Err(RecvError::Closed) => return,
        }
    }
}
