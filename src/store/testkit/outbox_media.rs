//! Byte attachments in outbox rows (issue 15, item 4).

use bytes::Bytes;
use switchboard_core::OutboundMessage;
use switchboard_core::model::{Attachment, AttachmentKind};

use super::prelude::*;

fn with_files(first: Bytes, second: Bytes) -> OutboundMessage {
    OutboundMessage::builder()
        .text("two files")
        .attachment(Attachment::bytes(first, "video/mp4", "clip.mp4"))
        .attachment(Attachment::url(AttachmentKind::Image, "https://e.x/a.png"))
        .attachment(Attachment::bytes(second, "application/pdf", "doc.pdf"))
        .build()
        .unwrap()
}

/// A message with byte attachments comes back from a claim exactly as enqueued (whatever the
/// store does with the bytes); enqueueing it again is a repeat, while the same key with other
/// bytes of the same length is another message (refused); the bytes survive a retry.
pub async fn byte_attachments_round_trip(store: &dyn Store) {
    let clip = Bytes::from(
        (0..3 * 1024 * 1024)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let doc = Bytes::from_static(b"%PDF-1.7 tiny");
    let message = with_files(clip.clone(), doc.clone());
    let to = ConversationRef::parse("mem", "M").unwrap();
    let row = |m: OutboundMessage| crate::store::NewOutbound::new("media:1", to.clone(), m);
    assert_eq!(
        store
            .enqueue_outbound(&[row(message.clone())])
            .await
            .unwrap(),
        vec![true]
    );
    assert_eq!(
        store
            .enqueue_outbound(&[row(message.clone())])
            .await
            .unwrap(),
        vec![false],
        "the same message again is a repeat"
    );
    let mut other = clip.to_vec();
    other[12345] ^= 1;
    let e = store
        .enqueue_outbound(&[row(with_files(Bytes::from(other), doc.clone()))])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e}");

    let now = SystemTime::now();
    let item = store
        .claim_outbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(item.message, message);
    assert!(store.retry_outbox(item.lease, "busy", now).await.unwrap());
    let again = store
        .claim_outbox(Claim::new(now, LEASE, 1))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.message, message, "the bytes survive a retry");
    let sent = SentMessage::new(MessageId::new("m-media").unwrap(), to.clone());
    assert!(
        store
            .outbox_sent(again.lease, &[sent], &[], now)
            .await
            .unwrap()
    );
    let st = store.outbox_status("media:1").await.unwrap().unwrap();
    assert_eq!(st.state, OutboxState::Sent);
}
