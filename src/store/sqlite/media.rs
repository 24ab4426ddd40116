//! Byte attachments of outbox rows in `outbox_media` (schema version 5; see
//! [`store::media`](crate::store::media) for why and how a message is split): the SQLite
//! statements. The bytes are bound as BLOBs, never encoded.

/// One attachment's bytes of row `?1`, index `?2`.
pub(super) const INSERT: &str = "INSERT INTO outbox_media (seq, idx, bytes) VALUES (?1, ?2, ?3)";

/// The bytes of the rows `?1` (a JSON array of seqs).
pub(super) const SELECT: &str = "SELECT seq, idx, bytes FROM outbox_media
      WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq, idx";

/// Drops the bytes of the rows `?1` (a JSON array of seqs): they were sent.
pub(super) const DROP: &str =
    "DELETE FROM outbox_media WHERE seq IN (SELECT value FROM json_each(?1))";

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sqlx::{ConnectOptions, Row};
    use switchboard_core::model::{Attachment, MessageId};
    use switchboard_core::{ConversationRef, OutboundMessage, SentMessage};

    use crate::store::sqlite::tests::TempDb;
    use crate::store::testkit::LEASE;
    use crate::store::{Claim, NewOutbound, SqliteStore, Store, StoreExt};

    /// Issue 15, item 4: a 48 MiB attachment left a 64 MB outbox row (base64 in the message
    /// JSON). Now the row's JSON is under a kilobyte, the bytes sit once in `outbox_media` as
    /// a BLOB, a claim returns them, and they leave when the row is sent.
    #[tokio::test]
    async fn byte_attachments_stay_out_of_outbox_rows() {
        let db = TempDb::new();
        let store = SqliteStore::connect(&db.url()).await.unwrap();
        let size = 48 * 1024 * 1024;
        let file = Bytes::from(vec![0x5a_u8; size]);
        let message = OutboundMessage::builder()
            .attachment(Attachment::bytes(file.clone(), "video/mp4", "big.mp4"))
            .build()
            .unwrap();
        let to = ConversationRef::parse("mem", "B").unwrap();
        let row = NewOutbound::new("big:1", to.clone(), message.clone());
        assert_eq!(store.enqueue_outbound(&[row]).await.unwrap(), vec![true]);

        let mut conn = db
            .url()
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap();
        conn = conn.read_only(true);
        let mut conn = conn.connect().await.unwrap();
        let sizes = |sql: &'static str| sqlx::query(sql);
        let row = sizes("SELECT length(message) FROM outbox WHERE key = 'big:1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let json_len: i64 = row.get(0);
        assert!(json_len < 1024, "the row's message is {json_len} bytes");
        let row = sizes("SELECT count(*), sum(length(bytes)) FROM outbox_media")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            (row.get::<i64, _>(0), row.get::<i64, _>(1)),
            (1, size as i64)
        );

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
        let row = sizes("SELECT count(*) FROM outbox_media")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>(0), 0, "sent: the bytes are gone");
    }
}
