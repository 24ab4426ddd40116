//! Byte attachments of outbox rows in `outbox_media` (schema version 5; see
//! [`store::media`](crate::store::media) for why and how a message is split).

use std::collections::HashMap;

use bytes::Bytes;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use switchboard_core::Result;

use super::db;
use crate::store::OutboxItem;
use crate::store::media::{has_bytes, restore};

/// One attachment's bytes of row `$1`, index `$2`.
pub(super) const INSERT: &str = "INSERT INTO outbox_media (seq, idx, bytes) VALUES ($1, $2, $3)";

/// The bytes of the rows `$1`.
pub(super) const SELECT: &str =
    "SELECT seq, idx, bytes FROM outbox_media WHERE seq = ANY($1) ORDER BY seq, idx";

/// Drops the bytes of the rows `$1`: they were sent.
pub(super) const DROP: &str = "DELETE FROM outbox_media WHERE seq = ANY($1)";

/// Writes the bytes of row `seq`, bound as BYTEA (no encoding, no copy into a batch).
pub(super) async fn insert(
    conn: &mut PgConnection,
    seq: i64,
    media: &[(i64, Bytes)],
) -> Result<()> {
    for (idx, bytes) in media {
        sqlx::query(INSERT)
            .bind(seq)
            .bind(idx)
            .bind(bytes.as_ref())
            .execute(&mut *conn)
            .await
            .map_err(db("outbox media"))?;
    }
    Ok(())
}

/// Puts the bytes back into the claimed messages that had byte attachments (one query, and
/// none when no message has any).
pub(super) async fn restore_claimed(
    conn: &mut PgConnection,
    items: &mut [OutboxItem],
) -> Result<()> {
    let seqs: Vec<i64> = items
        .iter()
        .filter(|i| has_bytes(&i.message))
        .map(|i| i.lease.seq)
        .collect();
    if seqs.is_empty() {
        return Ok(());
    }
    let mut found: HashMap<i64, Vec<(i64, Bytes)>> = HashMap::new();
    for row in sqlx::query(SELECT)
        .bind(&seqs)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("outbox media"))?
    {
        let seq: i64 = row.try_get(0).map_err(db("outbox media"))?;
        let idx: i64 = row.try_get(1).map_err(db("outbox media"))?;
        let bytes: Vec<u8> = row.try_get(2).map_err(db("outbox media"))?;
        found
            .entry(seq)
            .or_default()
            .push((idx, Bytes::from(bytes)));
    }
    for item in items.iter_mut() {
        if let Some(media) = found.remove(&item.lease.seq) {
            restore(&mut item.message, media)?;
        }
    }
    Ok(())
}

/// Drops the bytes of rows just sent.
pub(super) async fn drop_sent(conn: &mut PgConnection, seqs: &[i64]) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query(DROP)
        .bind(seqs)
        .execute(&mut *conn)
        .await
        .map_err(db("outbox media"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sqlx::Row;
    use switchboard_core::model::{Attachment, MessageId};
    use switchboard_core::{ConversationRef, OutboundMessage, SentMessage};

    use crate::store::testkit::LEASE;
    use crate::store::{Claim, NewOutbound, PgStore, Store, StoreExt};
    use crate::testkit::{TestSchema, pg_url};

    /// Issue 15, item 4, on PostgreSQL: the row's JSON stays small, the bytes sit once in
    /// `outbox_media`, a claim returns them, and they leave when the row is sent.
    #[tokio::test]
    async fn pg_byte_attachments_stay_out_of_outbox_rows() {
        let Some(schema) = TestSchema::new().await else {
            return;
        };
        let store = PgStore::connect_with(&pg_url(), schema.options())
            .await
            .unwrap();
        let size = 8 * 1024 * 1024;
        let message = OutboundMessage::builder()
            .attachment(Attachment::bytes(
                Bytes::from(vec![0x5a_u8; size]),
                "video/mp4",
                "big.mp4",
            ))
            .build()
            .unwrap();
        let to = ConversationRef::parse("mem", "B").unwrap();
        let row = NewOutbound::new("big:1", to.clone(), message.clone());
        assert_eq!(store.enqueue_outbound(&[row]).await.unwrap(), vec![true]);
        let pool = &store.pool;
        let json_len: i32 = sqlx::query("SELECT length(message) FROM outbox WHERE key = 'big:1'")
            .fetch_one(pool)
            .await
            .unwrap()
            .get(0);
        assert!(json_len < 1024, "the row's message is {json_len} bytes");
        let stored: i64 = sqlx::query("SELECT sum(length(bytes))::bigint FROM outbox_media")
            .fetch_one(pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, size as i64);

        let now = std::time::SystemTime::now();
        let item = store
            .claim_outbox(Claim::new(now, LEASE, 1))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(item.message, message);
        let sent = SentMessage::new(MessageId::new("m1").unwrap(), to);
        assert!(
            store
                .outbox_sent(item.lease, &[sent], &[], now)
                .await
                .unwrap()
        );
        let left: i64 = sqlx::query("SELECT count(*) FROM outbox_media")
            .fetch_one(pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "sent: the bytes are gone");
    }
}
