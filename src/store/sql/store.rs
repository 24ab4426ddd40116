//! The [`Store`](crate::store::Store) contract over a dialect: writes go through the writer, reads run the shared
//! statements of [`rows`](super::rows) on the dialect's pool.

use std::future::Future;
use std::time::SystemTime;

use switchboard_core::render::TextOption;
use switchboard_core::{InboundEvent, Result};
use tokio::sync::broadcast;

use super::prepared::{PreparedEvent, PreparedFinish, PreparedOutbound};
use super::rows::{self, Param};
use super::writer::{Answer, Job, Writer, unexpected};
use super::{PRUNE_CHUNK, PruneStep, SqlRow, limit};
use crate::store::{
    Claim, DeadLetter, InboxFinish, InboxItem, Inserted, Lease, NewOutbound, OutboxItem,
    OutboxStatus, OutboxUpdate, Prune, Pruned, Queue, Receipt, SendProof, StoreStats, from_json,
    millis, to_json,
};

/// What a SQL backend decides for itself beside its statements: where reads run, how it
/// prunes, whether other processes wake it.
pub(crate) trait Dialect: Send + Sync + std::fmt::Debug + 'static {
    /// A row this backend reads.
    type Row: SqlRow + Send + Sync;

    /// The web chat retention's statements that compare conversation keys (see
    /// [`RetentionSql`](super::webchat::RetentionSql)).
    const RETENTION: &'static super::webchat::RetentionSql = &super::webchat::RETENTION;

    /// Runs a shared read-only statement (see [`rows`]) outside the writer.
    fn read(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;

    /// Deletes one chunk ([`PRUNE_CHUNK`]) of `step`; how many rows went. SQLite prunes
    /// through its writer (it has one write connection); PostgreSQL beside it.
    fn prune_chunk(
        &self,
        writer: &Writer,
        step: PruneStep,
        cutoff: i64,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Whether the database answers (readiness probes): a trivial read, by default.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send {
        async { self.read("SELECT 1", &[]).await.map(|_| ()) }
    }

    /// See [`Store::wake_ups`](crate::store::Store::wake_ups).
    fn wake_ups(&self) -> Option<broadcast::Receiver<Queue>> {
        None
    }

    /// See [`Store::exclusive`](crate::store::Store::exclusive).
    fn exclusive(&self) -> bool {
        false
    }

    /// See [`Store::log_wake_ups`](crate::store::Store::log_wake_ups).
    fn log_wake_ups(&self) -> Option<broadcast::Receiver<String>> {
        None
    }
}

/// A SQL store: the writer and the dialect. The public stores wrap one and implement
/// [`Store`](crate::store::Store) with `forward_store!`.
pub(crate) struct SqlStore<D> {
    writer: Writer,
    dialect: D,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(writer: Writer, dialect: D) -> Self {
        SqlStore { writer, dialect }
    }

    /// The dialect (its pool, its settings).
    pub(crate) fn dialect(&self) -> &D {
        &self.dialect
    }

    /// The writer (for the jobs of [`super::forward`] and [`super::webchat`]).
    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }

    async fn write(&self, job: Job) -> Result<Answer> {
        self.writer.run(job).await
    }

    /// The first row of a shared read, if any.
    async fn read_one(&self, sql: &'static str, params: &[Param<'_>]) -> Result<Option<D::Row>> {
        Ok(self.dialect.read(sql, params).await?.into_iter().next())
    }

    pub(super) async fn prune_step(&self, step: PruneStep, cutoff: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.dialect.prune_chunk(&self.writer, step, cutoff).await?;
            total += n;
            if n < u64::try_from(PRUNE_CHUNK).unwrap_or(u64::MAX) {
                return Ok(total);
            }
        }
    }
}

/// Implements [`Store`](crate::store::Store) for a public store type by forwarding to its `SqlStore` field.
macro_rules! forward_store {
    // `{ … }`: more `Store` methods of the backend's own, in the same impl.
    ($ty:ty, $field:ident) => {
        $crate::store::sql::forward_store!($ty, $field, {});
    };
    ($ty:ty, $field:ident, { $($extra:item)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            async fn recover(&self) -> switchboard_core::Result<()> {
                self.$field.recover().await
            }
            async fn insert_inbound(
                &self,
                events: &[switchboard_core::InboundEvent],
            ) -> switchboard_core::Result<Vec<$crate::store::Inserted>> {
                self.$field.insert_inbound(events).await
            }
            async fn claim_inbox(
                &self,
                claim: $crate::store::Claim,
            ) -> switchboard_core::Result<Vec<$crate::store::InboxItem>> {
                self.$field.claim_inbox(claim).await
            }
            async fn finish_inbox(
                &self,
                finishes: Vec<$crate::store::InboxFinish>,
            ) -> switchboard_core::Result<Vec<switchboard_core::Result<bool>>> {
                self.$field.finish_inbox(finishes).await
            }
            async fn enqueue_outbound(
                &self,
                rows: &[$crate::store::NewOutbound],
            ) -> switchboard_core::Result<Vec<bool>> {
                self.$field.enqueue_outbound(rows).await
            }
            async fn claim_outbox(
                &self,
                claim: $crate::store::Claim,
            ) -> switchboard_core::Result<Vec<$crate::store::OutboxItem>> {
                self.$field.claim_outbox(claim).await
            }
            async fn update_outbox(
                &self,
                updates: Vec<$crate::store::OutboxUpdate>,
            ) -> switchboard_core::Result<Vec<bool>> {
                self.$field.update_outbox(updates).await
            }
            async fn renew(
                &self,
                queue: $crate::store::Queue,
                leases: &[$crate::store::Lease],
                until: std::time::SystemTime,
            ) -> switchboard_core::Result<Vec<bool>> {
                self.$field.renew(queue, leases, until).await
            }
            async fn record_receipts(
                &self,
                receipts: &[$crate::store::Receipt],
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<Vec<u64>> {
                self.$field.record_receipts(receipts, now).await
            }
            async fn proofs(
                &self,
                key: &str,
            ) -> switchboard_core::Result<Vec<$crate::store::SendProof>> {
                self.$field.proofs(key).await
            }
            async fn outbox_status(
                &self,
                key: &str,
            ) -> switchboard_core::Result<Option<$crate::store::OutboxStatus>> {
                self.$field.outbox_status(key).await
            }
            async fn get_state(
                &self,
                conversation: &str,
            ) -> switchboard_core::Result<Option<serde_json::Value>> {
                self.$field.get_state(conversation).await
            }
            async fn set_state(
                &self,
                conversation: &str,
                value: Option<serde_json::Value>,
            ) -> switchboard_core::Result<()> {
                self.$field.set_state(conversation, value).await
            }
            async fn get_options(
                &self,
                conversation: &str,
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<Vec<switchboard_core::render::TextOption>> {
                self.$field.get_options(conversation, now).await
            }
            async fn dead_letters(
                &self,
                limit: usize,
            ) -> switchboard_core::Result<Vec<$crate::store::DeadLetter>> {
                self.$field.dead_letters(limit).await
            }
            async fn stats(&self) -> switchboard_core::Result<$crate::store::StoreStats> {
                self.$field.stats().await
            }
            async fn prune(
                &self,
                prune: $crate::store::Prune,
            ) -> switchboard_core::Result<$crate::store::Pruned> {
                self.$field.prune(prune).await
            }
            async fn ping(&self) -> switchboard_core::Result<()> {
                self.$field.ping().await
            }
            fn wake_ups(&self) -> Option<tokio::sync::broadcast::Receiver<$crate::store::Queue>> {
                self.$field.wake_ups()
            }
            fn exclusive(&self) -> bool {
                self.$field.exclusive()
            }
            async fn contact(
                &self,
                conversation: &str,
                scope: Option<&str>,
            ) -> switchboard_core::Result<$crate::store::Contact> {
                self.$field.contact(conversation, scope).await
            }
            // The web chat log, uploads and secrets (`sql::webchat`).
            async fn log_append(
                &self,
                appends: &[$crate::store::LogAppend],
            ) -> switchboard_core::Result<Vec<u64>> {
                self.$field.log_append(appends).await
            }
            async fn log_read(
                &self,
                conversation: &str,
                after: u64,
                limit: usize,
            ) -> switchboard_core::Result<Vec<$crate::store::LogEntry>> {
                self.$field.log_read(conversation, after, limit).await
            }
            fn log_wake_ups(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
                self.$field.log_wake_ups()
            }
            async fn log_prune(
                &self,
                retention: &$crate::store::LogRetention,
            ) -> switchboard_core::Result<u64> {
                self.$field.log_prune(retention).await
            }
            async fn log_pruned(&self, conversation: &str) -> switchboard_core::Result<u64> {
                self.$field.log_pruned(conversation).await
            }
            async fn put_upload(
                &self,
                upload: &$crate::store::Upload,
            ) -> switchboard_core::Result<()> {
                self.$field.put_upload(upload).await
            }
            async fn get_upload(
                &self,
                id: &str,
            ) -> switchboard_core::Result<Option<$crate::store::Upload>> {
                self.$field.get_upload(id).await
            }
            async fn keep_secret(
                &self,
                name: &str,
                proposed: &[u8],
            ) -> switchboard_core::Result<Vec<u8>> {
                self.$field.keep_secret(name, proposed).await
            }
            $($extra)*
            // Installations: one module for both dialects (`sql::installs`).
            async fn put_install(
                &self,
                row: &$crate::store::InstallRow,
            ) -> switchboard_core::Result<()> {
                self.$field.put_install(row).await
            }
            async fn get_install(
                &self,
                channel: &str,
                tenant: &str,
            ) -> switchboard_core::Result<Option<$crate::store::InstallRow>> {
                self.$field.get_install(channel, tenant).await
            }
            async fn list_installs(
                &self,
                channel: Option<&str>,
            ) -> switchboard_core::Result<Vec<$crate::store::InstallRow>> {
                self.$field.list_installs(channel).await
            }
            async fn delete_install(
                &self,
                channel: &str,
                tenant: &str,
            ) -> switchboard_core::Result<bool> {
                self.$field.delete_install(channel, tenant).await
            }
            async fn claim_install_refresh(
                &self,
                channel: &str,
                tenant: &str,
                now: std::time::SystemTime,
                until: std::time::SystemTime,
            ) -> switchboard_core::Result<bool> {
                self.$field
                    .claim_install_refresh(channel, tenant, now, until)
                    .await
            }
            async fn spend_oauth_state(
                &self,
                nonce: &str,
                expires_at: std::time::SystemTime,
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<bool> {
                self.$field.spend_oauth_state(nonce, expires_at, now).await
            }
            // The gateway's forwarding queue (`sql::forward`).
            async fn enqueue_forwards(
                &self,
                rows: &[$crate::store::NewForward],
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<Vec<bool>> {
                self.$field.forward_enqueue(rows, now).await
            }
            async fn claim_forwards(
                &self,
                claim: $crate::store::Claim,
            ) -> switchboard_core::Result<Vec<$crate::store::ForwardItem>> {
                self.$field.forward_claim(claim).await
            }
            async fn finish_forwards(
                &self,
                finishes: Vec<$crate::store::ForwardFinish>,
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<Vec<switchboard_core::Result<bool>>> {
                self.$field.forward_finish(finishes, now).await
            }
            async fn set_forward_disabled(
                &self,
                endpoint: &str,
                reason: Option<&str>,
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<()> {
                self.$field.forward_set_disabled(endpoint, reason, now).await
            }
            async fn forward_endpoints(
                &self,
            ) -> switchboard_core::Result<Vec<$crate::store::ForwardEndpoint>> {
                self.$field.forward_endpoints().await
            }
            async fn forward_dead_letters(
                &self,
                endpoint: Option<&str>,
                limit: usize,
            ) -> switchboard_core::Result<Vec<$crate::store::ForwardDead>> {
                self.$field.forward_dead(endpoint, limit).await
            }
            async fn replay_forwards(
                &self,
                endpoint: &str,
                now: std::time::SystemTime,
            ) -> switchboard_core::Result<u64> {
                self.$field.forward_replay(endpoint, now).await
            }
            async fn prune_forwards(
                &self,
                before: std::time::SystemTime,
            ) -> switchboard_core::Result<u64> {
                self.$field.forward_prune(before).await
            }
        }
    };
}

pub(crate) use forward_store;

/// The [`Store`](crate::store::Store) methods, with the contract's meaning.
impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn recover(&self) -> Result<()> {
        match self.write(Job::Recover(millis(SystemTime::now()))).await? {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn insert_inbound(&self, events: &[InboundEvent]) -> Result<Vec<Inserted>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let rows = PreparedEvent::all(events, millis(SystemTime::now()))?;
        match self.write(Job::Insert(rows)).await? {
            Answer::Inserted(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn claim_inbox(&self, claim: Claim) -> Result<Vec<InboxItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        match self.write(Job::ClaimInbox(claim)).await? {
            Answer::Inbox(items) => Ok(items),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn finish_inbox(
        &self,
        finishes: Vec<InboxFinish>,
    ) -> Result<Vec<Result<bool>>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = PreparedFinish::all(finishes, millis(SystemTime::now()))?;
        match self.write(Job::FinishInbox(prepared)).await? {
            Answer::Finished(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn enqueue_outbound(&self, rows: &[NewOutbound]) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = rows
            .iter()
            .map(PreparedOutbound::new)
            .collect::<Result<Vec<_>>>()?;
        let now = millis(SystemTime::now());
        match self.write(Job::Enqueue(prepared, now)).await? {
            Answer::Enqueued(r) => r,
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn claim_outbox(&self, claim: Claim) -> Result<Vec<OutboxItem>> {
        if claim.limit == 0 {
            return Ok(Vec::new());
        }
        match self.write(Job::ClaimOutbox(claim)).await? {
            Answer::Outbox(items) => Ok(items),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<Vec<bool>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        match self.write(Job::UpdateOutbox(updates)).await? {
            Answer::Flags(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn renew(
        &self,
        queue: Queue,
        leases: &[Lease],
        until: SystemTime,
    ) -> Result<Vec<bool>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .write(Job::Renew(queue, leases.to_vec(), millis(until)))
            .await?
        {
            Answer::Flags(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn record_receipts(
        &self,
        receipts: &[Receipt],
        now: SystemTime,
    ) -> Result<Vec<u64>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        match self
            .write(Job::Receipts(receipts.to_vec(), millis(now)))
            .await?
        {
            Answer::Counts(r) => Ok(r),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn proofs(&self, key: &str) -> Result<Vec<SendProof>> {
        self.dialect
            .read(rows::PROOFS, &[Param::Text(key)])
            .await?
            .iter()
            .map(rows::proof)
            .collect()
    }

    pub(crate) async fn outbox_status(&self, key: &str) -> Result<Option<OutboxStatus>> {
        self.read_one(rows::STATUS, &[Param::Text(key)])
            .await?
            .map(|row| rows::outbox_status(&row))
            .transpose()
    }

    pub(crate) async fn contact(
        &self,
        conversation: &str,
        scope: Option<&str>,
    ) -> Result<crate::store::Contact> {
        let last = self
            .read_one(rows::LAST_INBOUND, &[Param::Text(conversation)])
            .await?
            .map(|row| row.int("last_inbound_at"))
            .transpose()?;
        let mut opted_out = None;
        if let Some(scope) = scope
            && let Some(row) = self
                .read_one(
                    rows::OPTED_OUT,
                    &[Param::Text(conversation), Param::Text(scope)],
                )
                .await?
        {
            opted_out = Some(crate::store::OptOut {
                keyword: row.text("keyword")?,
                at: switchboard_core::model::time::from_millis(row.int("at")?),
            });
        }
        Ok(crate::store::Contact::new(
            last.map(switchboard_core::model::time::from_millis),
            opted_out,
        ))
    }

    pub(crate) async fn get_state(&self, conversation: &str) -> Result<Option<serde_json::Value>> {
        self.read_one(rows::STATE, &[Param::Text(conversation)])
            .await?
            .map(|row| from_json("state", &row.text("value")?))
            .transpose()
    }

    pub(crate) async fn set_state(
        &self,
        conversation: &str,
        value: Option<serde_json::Value>,
    ) -> Result<()> {
        let value = value.map(|v| to_json("state", &v)).transpose()?;
        let now = millis(SystemTime::now());
        match self
            .write(Job::SetState(conversation.to_owned(), value, now))
            .await?
        {
            Answer::Done => Ok(()),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn get_options(
        &self,
        conversation: &str,
        now: SystemTime,
    ) -> Result<Vec<TextOption>> {
        let params = [Param::Text(conversation), Param::Int(millis(now))];
        match self.read_one(rows::OPTIONS, &params).await? {
            None => Ok(Vec::new()),
            Some(row) => from_json("options", &row.text("options")?),
        }
    }

    pub(crate) async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>> {
        self.dialect
            .read(rows::DEAD_LETTERS, &[Param::Int(limit(max))])
            .await?
            .iter()
            .map(rows::dead_letter)
            .collect()
    }

    pub(crate) async fn stats(&self) -> Result<StoreStats> {
        match self.read_one(rows::STATS, &[]).await? {
            Some(row) => rows::stats(&row),
            None => Err(crate::store::store_error("stats", "no row")),
        }
    }

    pub(crate) async fn prune(&self, prune: Prune) -> Result<Pruned> {
        let before = millis(prune.done_before);
        Ok(Pruned {
            inbox: self.prune_step(PruneStep::Keys, before).await?,
            outbox: self.prune_step(PruneStep::Sent, before).await?,
            proofs: self.prune_step(PruneStep::Proofs, before).await?,
            options: self
                .prune_step(PruneStep::Options, millis(prune.now))
                .await?,
            receipts: self.prune_step(PruneStep::Receipts, before).await?,
            raw_payloads: self.prune_step(PruneStep::RawPayloads, before).await?,
        })
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        self.dialect.ping().await
    }

    pub(crate) fn wake_ups(&self) -> Option<broadcast::Receiver<Queue>> {
        self.dialect.wake_ups()
    }

    pub(crate) fn exclusive(&self) -> bool {
        self.dialect.exclusive()
    }
}
