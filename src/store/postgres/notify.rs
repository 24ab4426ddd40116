//! Wake-ups across instances: a transaction that made rows ready sends `NOTIFY` on the
//! store's channel (delivered at commit), and every instance's listener passes it on to its
//! claim loops ([`Store::wake_ups`](crate::store::Store::wake_ups)). A listener that lost its
//! connection reconnects and wakes both loops (notifications sent meanwhile are lost; polling
//! is the safety net).

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use crate::store::Queue;

/// The payloads of the store's notifications.
pub(super) const INBOX: &str = "inbox";
/// See [`INBOX`].
pub(super) const OUTBOX: &str = "outbox";

/// The notification channel of the store in `schema`.
pub(super) fn channel(schema: &str) -> String {
    format!("switchboard_{schema}")
}

/// Starts the listener on `channel` (once it listens, or has failed to: then it retries in
/// the background). It stops when `alive` is gone.
pub(super) async fn listen(
    pool: PgPool,
    channel: String,
    wakes: broadcast::Sender<Queue>,
    alive: Weak<()>,
) {
    let first = subscribe(&pool, &channel).await;
    tokio::spawn(run(pool, channel, wakes, alive, first));
}

async fn subscribe(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "store: cannot listen for wake-ups; polling meanwhile");
            return None;
        }
    };
    match listener.listen(channel).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "store: cannot listen for wake-ups; polling meanwhile");
            None
        }
    }
}

async fn run(
    pool: PgPool,
    channel: String,
    wakes: broadcast::Sender<Queue>,
    alive: Weak<()>,
    mut listener: Option<PgListener>,
) {
    loop {
        if alive.strong_count() == 0 {
            return;
        }
        let Some(l) = listener.as_mut() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            listener = subscribe(&pool, &channel).await;
            if listener.is_some() {
                wake_all(&wakes);
            }
            continue;
        };
        // Checks `alive` at least every second.
        match tokio::time::timeout(Duration::from_secs(1), l.try_recv()).await {
            Err(_) => {}
            Ok(Ok(Some(n))) => {
                let queue = match n.payload() {
                    INBOX => Queue::Inbox,
                    _ => Queue::Outbox,
                };
                let _ = wakes.send(queue);
            }
            // The connection was lost; the next call reconnects (and re-listens).
            Ok(Ok(None)) => wake_all(&wakes),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "store: wake-up listener failed; reconnecting");
                listener = None;
            }
        }
    }
}

fn wake_all(wakes: &broadcast::Sender<Queue>) {
    let _ = wakes.send(Queue::Inbox);
    let _ = wakes.send(Queue::Outbox);
}
