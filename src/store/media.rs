//! Byte attachments kept out of outbox rows (issue 15, item 4).
//!
//! An outbox row holds its message as JSON, where [`AttachmentSource::Bytes`] is base64: a
//! 25 MiB file made a 33 MiB row, escaped again into the writer's batch, several copies alive
//! at once. The SQL stores therefore split a message before writing it: each byte
//! attachment's bytes go to a table of their own (`outbox_media`: row, attachment index, the
//! bytes as a BLOB/BYTEA, written and read without any encoding), and the row's JSON keeps the
//! SHA-256 of the bytes in their place (32 bytes, so the JSON stays small, and a repeat of the
//! same key with other bytes is still told apart from a true repeat). A claim puts the bytes
//! back, checking the digest, so the sender sees the message as it was enqueued. The bytes
//! leave with their row: when it is sent, or when a dead row is pruned. The memory store
//! keeps the message itself (`Bytes` are reference counted: no copy is made).

use bytes::Bytes;
use sha2::{Digest, Sha256};
use switchboard_core::model::AttachmentSource;
use switchboard_core::{OutboundMessage, Result};

use super::{store_error, to_json};

/// A message as its row stores it: JSON with digests in place of the bytes, and the bytes by
/// attachment index.
#[derive(Debug)]
pub(crate) struct Split {
    /// The message's JSON, byte attachments replaced by their SHA-256.
    pub(crate) json: String,
    /// (attachment index, bytes) of every byte attachment.
    pub(crate) media: Vec<(i64, Bytes)>,
}

/// Splits `message` for storage (see the module docs).
pub(crate) fn split(message: &OutboundMessage) -> Result<Split> {
    if !has_bytes(message) {
        return Ok(Split {
            json: to_json("message", message)?,
            media: Vec::new(),
        });
    }
    let mut stored = message.clone();
    let mut media = Vec::new();
    for (i, a) in stored.attachments.iter_mut().enumerate() {
        if let AttachmentSource::Bytes(bytes) = &a.source {
            let digest = Bytes::copy_from_slice(&Sha256::digest(bytes));
            media.push((i64::try_from(i).unwrap_or(i64::MAX), bytes.clone()));
            a.source = AttachmentSource::Bytes(digest);
        }
    }
    Ok(Split {
        json: to_json("message", &stored)?,
        media,
    })
}

/// Whether `message` has a byte attachment (whose bytes a claim must put back).
pub(crate) fn has_bytes(message: &OutboundMessage) -> bool {
    message
        .attachments
        .iter()
        .any(|a| matches!(a.source, AttachmentSource::Bytes(_)))
}

/// Puts the stored bytes back into `message` (read from a row), checking each against the
/// digest the row kept.
pub(crate) fn restore(
    message: &mut OutboundMessage,
    media: impl IntoIterator<Item = (i64, Bytes)>,
) -> Result<()> {
    for (i, bytes) in media {
        let attachment = usize::try_from(i)
            .ok()
            .and_then(|i| message.attachments.get_mut(i));
        let Some(attachment) = attachment else {
            return Err(store_error("outbox media", format!("no attachment {i}")));
        };
        match &attachment.source {
            AttachmentSource::Bytes(digest) if digest[..] == Sha256::digest(&bytes)[..] => {
                attachment.source = AttachmentSource::Bytes(bytes);
            }
            _ => {
                return Err(store_error(
                    "outbox media",
                    format!("attachment {i} does not match its digest"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use switchboard_core::model::{Attachment, AttachmentKind};

    use super::*;
    use crate::store::from_json;

    #[test]
    fn bytes_leave_the_json_and_come_back_checked() {
        let big = Bytes::from(vec![7u8; 1024 * 1024]);
        let message = OutboundMessage::builder()
            .text("photo")
            .attachment(Attachment::url(AttachmentKind::Image, "https://e.x/a.png"))
            .attachment(Attachment::bytes(big.clone(), "image/png", "b.png"))
            .build()
            .unwrap();
        let split = split(&message).unwrap();
        assert!(
            split.json.len() < 1024,
            "{} bytes of JSON",
            split.json.len()
        );
        assert_eq!(split.media, vec![(1, big.clone())]);
        let mut back: OutboundMessage = from_json("message", &split.json).unwrap();
        restore(&mut back, split.media.clone()).unwrap();
        assert_eq!(back, message);
        // Other bytes than the digest names are refused.
        let mut wrong: OutboundMessage = from_json("message", &split.json).unwrap();
        let e = restore(&mut wrong, [(1, Bytes::from_static(b"other"))]).unwrap_err();
        assert!(e.to_string().contains("digest"), "{e}");
        // A text message is stored as it is.
        let text = OutboundMessage::text("hi").unwrap();
        assert!(split_is_plain(&text));
    }

    fn split_is_plain(m: &OutboundMessage) -> bool {
        let s = split(m).unwrap();
        s.media.is_empty() && s.json == to_json("message", m).unwrap()
    }
}
