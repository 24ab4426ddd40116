//! [`StoreExt`]: one-row conveniences over the batched [`Store`] calls, for every store.

use std::time::SystemTime;

use async_trait::async_trait;
use switchboard_core::model::{DeliveryStatus, MessageId};
use switchboard_core::render::TextOption;
use switchboard_core::{ChannelName, Result, SentMessage};

use super::{
    Completion, InboxFinish, InboxOutcome, Lease, OutboxChange, OutboxUpdate, Queue, Receipt,
    SendProof, Store, store_error,
};

/// The one answer a batched call gave for a batch of one.
fn only<T>(mut answers: Vec<T>) -> Result<T> {
    match answers.pop() {
        Some(a) if answers.is_empty() => Ok(a),
        _ => Err(store_error("store", "a batch of one got no single answer")),
    }
}

/// Conveniences for users of a [`Store`]: each finishes, changes or records *one* thing through
/// the store's batched calls. Implemented for every store (`use switchboard::store::StoreExt`).
#[async_trait]
pub trait StoreExt: Store {
    /// Marks the row done and writes the completion ([`InboxOutcome::Done`]). `Ok(false)` if
    /// the lease was lost; an error (nothing written) if an outbox key is taken.
    async fn complete_inbox(&self, lease: Lease, completion: Completion) -> Result<bool> {
        let finish = InboxFinish::new(lease, InboxOutcome::Done(completion));
        only(self.finish_inbox(vec![finish]).await?)?
    }

    /// Releases the row to run again at `at`, recording `error` ([`InboxOutcome::Retry`]).
    async fn retry_inbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        let error = error.to_owned();
        let finish = InboxFinish::new(lease, InboxOutcome::Retry { at, error });
        only(self.finish_inbox(vec![finish]).await?)?
    }

    /// Dead-letters the row with `error` ([`InboxOutcome::DeadLetter`]).
    async fn dead_letter_inbox(&self, lease: Lease, error: &str) -> Result<bool> {
        let error = error.to_owned();
        let finish = InboxFinish::new(lease, InboxOutcome::DeadLetter { error });
        only(self.finish_inbox(vec![finish]).await?)?
    }

    /// Applies one change to a claimed outbox row.
    async fn update_one(&self, lease: Lease, change: OutboxChange) -> Result<bool> {
        only(
            self.update_outbox(vec![OutboxUpdate::new(lease, change)])
                .await?,
        )
    }

    /// Records that a send begins at `at` ([`OutboxChange::Attempt`]).
    async fn outbox_attempt(&self, lease: Lease, at: SystemTime) -> Result<bool> {
        self.update_one(lease, OutboxChange::Attempt { at }).await
    }

    /// Marks the row sent ([`OutboxChange::Sent`]).
    async fn outbox_sent(
        &self,
        lease: Lease,
        messages: &[SentMessage],
        options: &[TextOption],
        options_expire: SystemTime,
    ) -> Result<bool> {
        let change = OutboxChange::Sent {
            messages: messages.to_vec(),
            options: options.to_vec(),
            options_expire,
        };
        self.update_one(lease, change).await
    }

    /// Records the parts sent before a failure ([`OutboxChange::Partial`]).
    async fn outbox_partial(&self, lease: Lease, messages: &[SentMessage]) -> Result<bool> {
        let messages = messages.to_vec();
        self.update_one(lease, OutboxChange::Partial { messages })
            .await
    }

    /// Releases the row to be retried at `at` ([`OutboxChange::Retry`]).
    async fn retry_outbox(&self, lease: Lease, error: &str, at: SystemTime) -> Result<bool> {
        let error = error.to_owned();
        self.update_one(lease, OutboxChange::Retry { at, error })
            .await
    }

    /// Releases the row uncertain ([`OutboxChange::RetryUncertain`]).
    async fn retry_outbox_uncertain(
        &self,
        lease: Lease,
        error: &str,
        at: SystemTime,
    ) -> Result<bool> {
        let error = error.to_owned();
        self.update_one(lease, OutboxChange::RetryUncertain { at, error })
            .await
    }

    /// Releases the row without counting an attempt ([`OutboxChange::Defer`]).
    async fn defer_outbox(&self, lease: Lease, why: &str, at: SystemTime) -> Result<bool> {
        let why = why.to_owned();
        self.update_one(lease, OutboxChange::Defer { at, why })
            .await
    }

    /// Releases an uncertain row to be reconciled again ([`OutboxChange::ReconcileLater`]).
    async fn reconcile_outbox_later(
        &self,
        lease: Lease,
        why: &str,
        at: SystemTime,
    ) -> Result<bool> {
        let why = why.to_owned();
        self.update_one(lease, OutboxChange::ReconcileLater { at, why })
            .await
    }

    /// Dead-letters the row ([`OutboxChange::DeadLetter`]).
    async fn dead_letter_outbox(&self, lease: Lease, error: &str) -> Result<bool> {
        let error = error.to_owned();
        self.update_one(lease, OutboxChange::DeadLetter { error })
            .await
    }

    /// Extends a held inbox lease to `until`.
    async fn renew_inbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        only(self.renew(Queue::Inbox, &[lease], until).await?)
    }

    /// Extends a held outbox lease to `until`.
    async fn renew_outbox(&self, lease: Lease, until: SystemTime) -> Result<bool> {
        only(self.renew(Queue::Outbox, &[lease], until).await?)
    }

    /// Records a keyed proof ([`Receipt::Proof`]); `true` when it completed a pending row's
    /// proofs.
    async fn record_proof(&self, proof: &SendProof, now: SystemTime) -> Result<bool> {
        let receipt = Receipt::Proof(proof.clone());
        Ok(only(self.record_receipts(&[receipt], now).await?)? > 0)
    }

    /// Applies a delivery status to the rows that became `messages` ([`Receipt::Delivery`]).
    async fn record_delivery(
        &self,
        channel: &ChannelName,
        messages: &[MessageId],
        status: DeliveryStatus,
    ) -> Result<u64> {
        let receipt = Receipt::Delivery {
            channel: channel.clone(),
            messages: messages.to_vec(),
            status,
        };
        only(self.record_receipts(&[receipt], SystemTime::now()).await?)
    }

    /// Applies a delivery watermark to a conversation's sent rows ([`Receipt::Watermark`]).
    async fn record_delivery_watermark(
        &self,
        conversation: &str,
        watermark: SystemTime,
        status: DeliveryStatus,
    ) -> Result<u64> {
        let receipt = Receipt::Watermark {
            conversation: conversation.to_owned(),
            watermark,
            status,
        };
        only(self.record_receipts(&[receipt], SystemTime::now()).await?)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
