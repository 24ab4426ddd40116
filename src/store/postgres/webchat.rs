//! The web chat log on PostgreSQL (migration 0007): what is PostgreSQL's own beside the shared
//! logic of [`sql::webchat`](crate::store::sql::webchat). An append locks its conversation's
//! head row ([`LOCK_LOG`]), so sequence numbers only grow across instances; the writer's
//! commit sends `NOTIFY` on the store's log channel with each conversation key appended to
//! (`super::writer`), delivered to every instance's listener ([`listen`]), which wakes that
//! conversation's streams there.

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use crate::store::sql::webchat::RetentionSql;

/// The retention's statements over a channel's range of conversation keys, compared in byte
/// order (`COLLATE "C"`) whatever the database's collation: in a linguistic one (`en_US`)
/// punctuation may weigh nothing, and `"site/…"` would not fall between `"site/"` and
/// `"site0"`. `webchat_heads_bytes` (migration 10) indexes the heads in that order.
pub(super) const RETENTION: RetentionSql = RetentionSql {
    old: r#"SELECT conversation, MAX(seq) AS seq FROM (
       SELECT conversation, seq FROM webchat_log
        WHERE at < $1 AND conversation COLLATE "C" >= $2 AND conversation COLLATE "C" < $3
        ORDER BY at LIMIT $4) AS old
     GROUP BY conversation"#,
    over: r#"SELECT conversation FROM webchat_heads
     WHERE conversation COLLATE "C" > $1 AND conversation COLLATE "C" < $2
       AND last_seq - pruned_seq > $3
     ORDER BY conversation COLLATE "C" LIMIT $4"#,
};

/// The notification channel of the web chat log of the store in `schema`.
pub(super) fn channel(schema: &str) -> String {
    format!("switchboard_{schema}_log")
}

/// Locks conversation `$1`'s head row before an append: appends to one conversation queue
/// here, and the key lookup then sees what the one before committed.
pub(super) const LOCK_LOG: &str =
    "SELECT last_seq FROM webchat_heads WHERE conversation = $1 FOR UPDATE";

/// Listens on `channel` and passes each appended conversation key on to `wakes`, until
/// `alive` is gone. A lost connection is reopened (appends announced meanwhile are missed:
/// streams also poll, see the engine's web chat module).
pub(super) fn listen(
    pool: PgPool,
    channel: String,
    wakes: broadcast::Sender<String>,
    alive: Weak<()>,
) {
    tokio::spawn(async move {
        let mut listener: Option<PgListener> = None;
        loop {
            if alive.strong_count() == 0 {
                return;
            }
            let Some(l) = listener.as_mut() else {
                listener = subscribe(&pool, &channel).await;
                if listener.is_none() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(1), l.try_recv()).await {
                Err(_) | Ok(Ok(None)) => {}
                Ok(Ok(Some(n))) => {
                    let _ = wakes.send(n.payload().to_owned());
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "store: log listener failed; reconnecting");
                    listener = None;
                }
            }
        }
    });
}

async fn subscribe(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    match listener.listen(channel).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "store: cannot listen for log appends; polling meanwhile");
            None
        }
    }
}
