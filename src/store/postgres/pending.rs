//! Delivery receipts that arrived before their send was recorded (`pending_receipts`, schema
//! version 5): the PostgreSQL statements (the logic is `store::sql::ops`').
//!
//! Two instances may write a receipt and the send it names at the same time, each unable to
//! see the other's uncommitted row: the receipt would be kept after the send looked for it,
//! and stay unapplied. So both lock the (channel, message id)s with transaction-scoped
//! advisory locks, in key order (no deadlock between them): a receipt exclusively, *before*
//! it looks for the send's row (`Tx::lock_receipts`); a send shared (sends never wait on
//! each other), before it looks for kept receipts. Whichever commits second sees the first's
//! rows. A deadlock with other row locks of a group-committed batch is possible in theory and
//! handled like any other: the writer runs the jobs again.

/// The advisory lock class of (channel, message id) keys: "SBRP".
pub(super) const LOCK_CLASS: i32 = 0x5342_5250;

/// Exclusive locks on channel `$1`'s message ids `$2`, in key order.
pub(super) const LOCK_EXCLUSIVE: &str = "SELECT pg_advisory_xact_lock($3, k)
       FROM (SELECT DISTINCT hashtext($1 || chr(31) || m) AS k FROM UNNEST($2::text[]) AS u(m)) AS l
      ORDER BY k";

/// Shared locks on (channel `$1`, message id `$2`) pairs, in key order.
pub(super) const LOCK_SHARED: &str = "SELECT pg_advisory_xact_lock_shared($3, k)
       FROM (SELECT DISTINCT hashtext(c || chr(31) || m) AS k
               FROM UNNEST($1::text[], $2::text[]) AS u(c, m)) AS l
      ORDER BY k";

/// Keeps status `$3` received at `$4` for each id of `$2` on channel `$1` that no sent row
/// has recorded.
pub(super) const KEEP: &str =
    "INSERT INTO pending_receipts (channel, message_id, status, received_at)
     SELECT $1, u.m, $3, $4 FROM UNNEST($2::text[]) AS u(m)
      WHERE NOT EXISTS (SELECT 1 FROM sent_messages AS s WHERE s.channel = $1 AND s.message_id = u.m)
     ON CONFLICT (channel, message_id, status) DO NOTHING";

/// Takes the receipts kept for (channel `$1`, message id `$2`, seq `$3`) triples just recorded:
/// the row's `seq`, the kept `status` and the row's `delivery`.
pub(super) const TAKE: &str = "WITH taken AS (
       DELETE FROM pending_receipts AS p
        USING UNNEST($1::text[], $2::text[], $3::bigint[]) AS m(channel, message_id, seq)
        WHERE p.channel = m.channel AND p.message_id = m.message_id
        RETURNING m.seq, p.status)
     SELECT t.seq, t.status, o.delivery FROM taken AS t JOIN outbox AS o ON o.seq = t.seq";

/// Receipts received before `$1` whose send never came, a chunk of `$2`.
pub(super) const PRUNE: &str =
    "DELETE FROM pending_receipts WHERE (channel, message_id, status) IN (
       SELECT channel, message_id, status FROM pending_receipts WHERE received_at < $1
        ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use switchboard_core::model::{DeliveryStatus, MessageId};
    use switchboard_core::{ChannelName, SentMessage};

    use crate::store::testkit::{LEASE, reply};
    use crate::store::{Claim, PgStore, Store, StoreExt};
    use crate::testkit::{TestSchema, pg_url};

    /// Two instances: one records a send's message id while the other records a delivery
    /// receipt for it, at the same moment, many times. Without the advisory locks each could
    /// miss the other's uncommitted row, and the receipt would stay kept and unapplied.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pg_a_receipt_racing_its_send_on_another_instance_is_applied() {
        let Some(schema) = TestSchema::new().await else {
            return;
        };
        let url = pg_url();
        let connect = || PgStore::connect_with(&url, schema.options());
        let sender = Arc::new(connect().await.unwrap());
        let receiver = Arc::new(connect().await.unwrap());
        let channel = ChannelName::new("mem").unwrap();
        let rounds = 40;
        for i in 0..rounds {
            let key = format!("race:{i}");
            sender
                .enqueue_outbound(&[reply(&key, &format!("R{i}"), "hi")])
                .await
                .unwrap();
            let now = SystemTime::now();
            let item = sender
                .claim_outbox(Claim::new(now, LEASE, 1))
                .await
                .unwrap()
                .remove(0);
            let id = MessageId::new(format!("m-race-{i}")).unwrap();
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let send = {
                let (store, barrier, id) = (sender.clone(), barrier.clone(), id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let sent = SentMessage::new(id, item.to.clone());
                    store.outbox_sent(item.lease, &[sent], &[], now).await
                })
            };
            let receipt = {
                let (store, channel) = (receiver.clone(), channel.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store
                        .record_delivery(&channel, &[id], DeliveryStatus::Delivered)
                        .await
                })
            };
            assert!(send.await.unwrap().unwrap());
            receipt.await.unwrap().unwrap();
            let status = sender.outbox_status(&key).await.unwrap().unwrap();
            assert_eq!(
                status.delivery,
                Some(DeliveryStatus::Delivered),
                "round {i}: the receipt was lost"
            );
        }
    }
}
