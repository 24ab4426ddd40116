//! Files an outbound message carries as bytes (an agent's file relayed by the bridge, an
//! application's attachment): kept by the log's [`ConversationLog::store_file`] like a
//! visitor's upload, at most the channel's `upload_max_bytes` each, and shown in the record
//! by the URL the log answers (served at `GET uploads/{id}` to a holder of a token of the
//! conversation only).
//!
//! A file's id is unguessable and, for a send with an idempotency key, the same at every
//! retry (an HMAC of the key under the channel's token key), so a send retried after a crash
//! keeps one file.

use bytes::Bytes;
use switchboard_core::{ConversationRef, Error, Result};

use crate::log::ConversationLog;
use crate::signature::mac;
use crate::token::{TokenKey, random_bytes};
use crate::wire::MessageEvent;

/// A file to keep for a conversation.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboundFile {
    /// Its id: 32 hex digits, unguessable.
    pub id: String,
    /// The file name shown to the visitor.
    pub filename: String,
    /// Its content type.
    pub mime_type: String,
    /// The bytes.
    pub data: Bytes,
}

impl OutboundFile {
    /// A file `id` of `data`.
    pub fn new(
        id: impl Into<String>,
        filename: impl Into<String>,
        mime_type: impl Into<String>,
        data: Bytes,
    ) -> Self {
        OutboundFile {
            id: id.into(),
            filename: filename.into(),
            mime_type: mime_type.into(),
            data,
        }
    }
}

impl std::fmt::Debug for OutboundFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundFile")
            .field("id", &self.id)
            .field("filename", &self.filename)
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// A byte attachment of a record waiting for its URL: its index in the record's attachments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingFile {
    pub(crate) index: usize,
    pub(crate) data: Bytes,
}

/// The id of file `index` of a send: derived from its idempotency key, else random.
fn file_id(key: &TokenKey, send_key: Option<&str>, index: usize) -> Result<String> {
    match send_key {
        Some(k) => {
            let data = format!("webchat file\0{k}\0{index}");
            Ok(hex::encode(&mac(key.as_bytes(), data.as_bytes())[..16]))
        }
        None => {
            let mut b = [0_u8; 16];
            random_bytes(&mut b)?;
            Ok(hex::encode(b))
        }
    }
}

/// Keeps the `pending` files of `record` in `log` and writes their URLs into it.
///
/// # Errors
///
/// `InvalidMessage` for a file over `max_bytes`; the log's error when it cannot keep one.
pub(crate) async fn store(
    log: &dyn ConversationLog,
    key: &TokenKey,
    to: &ConversationRef,
    send_key: Option<&str>,
    max_bytes: u64,
    pending: Vec<PendingFile>,
    record: &mut MessageEvent,
) -> Result<()> {
    for file in pending {
        if file.data.len() as u64 > max_bytes {
            return Err(Error::invalid_message(
                "attachments",
                format!(
                    "a file of {} bytes is over the channel's upload_max_bytes ({max_bytes})",
                    file.data.len()
                ),
            ));
        }
        let Some(shown) = record.attachments.get_mut(file.index) else {
            continue;
        };
        let id = file_id(key, send_key, file.index)?;
        let kept = OutboundFile::new(
            id,
            shown.filename.clone().unwrap_or_else(|| "file".to_owned()),
            shown
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            file.data,
        );
        shown.url = log.store_file(to, kept).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_repeat_for_a_keyed_send_and_differ_otherwise() {
        let key = TokenKey::from_bytes([7; 32]);
        let id = |k: Option<&str>, i| file_id(&key, k, i).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id(Some("send-1"), 0), id(Some("send-1"), 0));
        assert_eq!(id(Some("send-1"), 0).len(), 32);
        assert_ne!(id(Some("send-1"), 0), id(Some("send-1"), 1));
        assert_ne!(id(Some("send-1"), 0), id(Some("send-2"), 0));
        assert_ne!(id(None, 0), id(None, 0));
        let other = TokenKey::from_bytes([8; 32]);
        assert_ne!(
            id(Some("send-1"), 0),
            file_id(&other, Some("send-1"), 0).unwrap_or_else(|e| panic!("{e}"))
        );
    }
}
