//! Byte attachments of outbox rows in `outbox_media` (schema version 5; see
//! [`store::media`](crate::store::media) for why and how a message is split): the PostgreSQL
//! statements. The bytes are bound as BYTEA, never encoded.

/// One attachment's bytes of row `$1`, index `$2`.
pub(super) const INSERT: &str = "INSERT INTO outbox_media (seq, idx, bytes) VALUES ($1, $2, $3)";

/// The bytes of the rows `$1`.
pub(super) const SELECT: &str =
    "SELECT seq, idx, bytes FROM outbox_media WHERE seq = ANY($1) ORDER BY seq, idx";

/// Drops the bytes of the rows `$1`: they were sent.
pub(super) const DROP: &str = "DELETE FROM outbox_media WHERE seq = ANY($1)";

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
        let pool = &store.core.dialect().pool;
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
