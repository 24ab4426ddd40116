//! Fills a store for `bench drain` (a SQLite file, or a schema of a PostgreSQL database),
//! through the library's public store API (and nothing else: this is the one file to adapt
//! when its API changes).
//!
//! Events are what the Messenger adapter decodes from signed webhooks (batches of 1,000
//! entries, one message each), inserted with `Store::insert_inbound`. Retained handled events
//! are inserted first, then claimed and completed with an empty completion (the no-op
//! handler's) with `claim_inbox` / `complete_inbox`; the queued events come after them, so
//! the engine meets both. The SQLite fill writes with `synchronous = "normal"` (a setup step;
//! the engine then opens the file with `"full"`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard::messenger::{MessengerAdapter, MessengerConfig};
use switchboard::store::{
    Claim, Completion, InboxFinish, InboxOutcome, PgOptions, PgStore, Synchronous,
};
use switchboard::{Adapter, ChannelName, InboundEvent, Secret, SqliteStore, Store, WebhookRequest};

use crate::Result;
use crate::config::{APP_SECRET, CHANNEL, PAGE_ID, PgTarget};
use crate::sign::{SIGNATURE_HEADER, Webhooks, envelope, sign};

/// Events per `insert_inbound` call.
const BATCH: u64 = 1_000;

/// What the fill did, and how long each part took.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Filled {
    pub(crate) queued: u64,
    pub(crate) handled: u64,
    pub(crate) insert_secs: f64,
    pub(crate) handle_secs: f64,
}

fn decoder() -> Result<MessengerAdapter> {
    let config = MessengerConfig::builder(
        ChannelName::new(CHANNEL)?,
        PAGE_ID,
        Secret::new("unused"),
        Secret::new(APP_SECRET),
        Secret::new("unused"),
    )
    .build()?;
    Ok(MessengerAdapter::new(config)?)
}

/// Events `first .. first + count`, decoded by the adapter from one signed webhook.
fn decode(
    adapter: &MessengerAdapter,
    hooks: &Webhooks,
    first: u64,
    count: u64,
) -> Result<Vec<InboundEvent>> {
    let entries: Vec<String> = (first..first + count).map(|i| hooks.entry(i)).collect();
    let body = envelope(&entries);
    let signature = sign(APP_SECRET, body.as_bytes());
    let req = WebhookRequest::post("http://127.0.0.1/webhooks/fb", body)
        .with_header(SIGNATURE_HEADER, &signature);
    let out = adapter.handle_webhook(&req);
    match out.accepted_events() {
        Some(events) if events.len() as u64 == count => Ok(events.to_vec()),
        _ => Err(format!("the adapter did not decode the fill's webhook: {out:?}").into()),
    }
}

async fn insert(
    store: &dyn Store,
    adapter: &MessengerAdapter,
    hooks: &Webhooks,
    from: u64,
    count: u64,
) -> Result<()> {
    let mut i = from;
    while i < from + count {
        let n = BATCH.min(from + count - i);
        store.insert_inbound(&decode(adapter, hooks, i, n)?).await?;
        i += n;
    }
    Ok(())
}

/// Claims and completes every pending event (the no-op handler's outcome).
async fn handle_all(store: &dyn Store, expected: u64, progress: &dyn Fn(u64)) -> Result<u64> {
    let mut done = 0;
    while done < expected {
        let items = store
            .claim_inbox(Claim::new(
                SystemTime::now(),
                Duration::from_secs(3600),
                10_000,
            ))
            .await?;
        if items.is_empty() {
            break;
        }
        // The whole claim finished in one call: the store commits it as one batch.
        let finishes = items
            .into_iter()
            .map(|item| InboxFinish::new(item.lease, InboxOutcome::Done(Completion::default())))
            .collect();
        for finished in store.finish_inbox(finishes).await? {
            if finished? {
                done += 1;
            }
        }
        progress(done);
    }
    Ok(done)
}

/// The SQLite file `db`, for [`fill`].
///
/// # Errors
/// The file cannot be opened.
pub(crate) async fn sqlite(db: &Path) -> Result<Arc<dyn Store>> {
    let url = format!("sqlite://{}", db.display());
    Ok(Arc::new(
        SqliteStore::connect_with(&url, Synchronous::Normal).await?,
    ))
}

/// The schema `schema` (created) of the PostgreSQL database at `url`, for [`fill`].
///
/// # Errors
/// The database cannot be reached.
pub(crate) async fn postgres(url: &str, schema: &str) -> Result<Arc<dyn Store>> {
    let options = PgOptions::default().with_schema(schema);
    Ok(Arc::new(PgStore::connect_with(url, options).await?))
}

/// Drops the schema of `pg` with everything in it.
///
/// # Errors
/// The database cannot be reached.
pub(crate) async fn drop_schema(pg: &PgTarget) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg.url).await?;
    // The schema's name is this tool's own (`switchboard_load_PID`), never user input.
    let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", pg.schema);
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Writes `handled` handled events, then `queued` pending ones, over `conversations`
/// conversations, into `store` (then closed).
///
/// # Errors
/// The store fails, or the adapter refuses the webhooks.
pub(crate) async fn fill(
    store: Arc<dyn Store>,
    queued: u64,
    handled: u64,
    conversations: u64,
) -> Result<Filled> {
    let adapter = decoder()?;
    let hooks = Webhooks::new(APP_SECRET, PAGE_ID, conversations);
    let mut filled = Filled::default();
    if handled > 0 {
        let t = Instant::now();
        insert(&*store, &adapter, &hooks, 0, handled).await?;
        let inserted = t.elapsed().as_secs_f64();
        eprintln!(
            "fill: {handled} events inserted in {inserted:.1} s; claiming and completing them…"
        );
        let started = Instant::now();
        let progress = |done: u64| {
            eprintln!(
                "fill: {done} of {handled} handled ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
        };
        filled.handled = handle_all(&*store, handled, &progress).await?;
        filled.handle_secs = started.elapsed().as_secs_f64();
        filled.insert_secs += inserted;
    }
    let t = Instant::now();
    insert(&*store, &adapter, &hooks, handled, queued).await?;
    filled.insert_secs += t.elapsed().as_secs_f64();
    filled.queued = store.stats().await?.inbox_pending;
    drop(store);
    // Let the pool's connections close before the engine opens the store.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fills_queued_and_handled_events() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-load-fill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("fill.db");
        let filled = fill(sqlite(&db).await.unwrap(), 1_500, 30, 7)
            .await
            .unwrap();
        assert_eq!((filled.queued, filled.handled), (1_500, 30));
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.inbox_pending, stats.inbox_done), (1_500, 30));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
