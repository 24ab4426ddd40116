//! Files web chat keeps in the store: visitors' uploads (`POST uploads`, the server's route)
//! and files outbound messages carry as bytes ([`keep_outbound`], the log's `store_file`).
//! Both are [`Upload`]s of one conversation, served at `GET uploads/{id}` to a holder of a
//! token of that conversation only; names and content types are cleaned the same way.

use std::time::SystemTime;

use switchboard_core::{ConversationRef, Result};
use switchboard_webchat::{OutboundFile, upload_path};

use crate::store::{Store, Upload, conversation_key};

/// The longest file name kept, in characters.
const MAX_FILENAME_CHARS: usize = 255;

/// A content type kept only when it is a plain `type/subtype`.
pub(crate) fn clean_mime(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("").split(';').next().unwrap_or("").trim();
    let ok = raw.split_once('/').is_some_and(|(t, s)| {
        let token = |x: &str| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
        };
        token(t) && token(s)
    });
    if ok {
        raw.to_ascii_lowercase()
    } else {
        "application/octet-stream".into()
    }
}

/// A file name without paths or control characters.
pub(crate) fn clean_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(MAX_FILENAME_CHARS)
        .collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// Keeps `file` for `conversation` and returns its URL: `{public_url}/webchat/{channel}/uploads/{id}`
/// (`public_url` may be empty: a URL relative to the server, which the widget resolves against
/// the server it talks to).
///
/// # Errors
///
/// The store's error.
pub(crate) async fn keep_outbound(
    store: &dyn Store,
    public_url: &str,
    conversation: &ConversationRef,
    file: OutboundFile,
) -> Result<String> {
    let path = upload_path(conversation.channel.as_str(), &file.id);
    let upload = Upload::new(
        file.id,
        conversation_key(conversation),
        clean_filename(&file.filename).unwrap_or_else(|| "file".to_owned()),
        clean_mime(Some(&file.mime_type)),
        file.data,
        SystemTime::now(),
    );
    store.put_upload(&upload).await?;
    Ok(format!("{}{path}", public_url.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn content_types_and_file_names_are_cleaned() {
        assert_eq!(clean_mime(Some("image/PNG; x=1")), "image/png");
        assert_eq!(
            clean_mime(Some("text/html\r\nX: y")),
            "application/octet-stream"
        );
        assert_eq!(clean_mime(None), "application/octet-stream");
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(clean_filename("C:\\a\\b\"c.png").as_deref(), Some("bc.png"));
        assert_eq!(clean_filename("  "), None);
    }

    #[tokio::test]
    async fn an_outbound_file_is_kept_once_for_its_conversation() {
        let store = crate::store::MemoryStore::new();
        let to = ConversationRef::parse("site", "anon:a").unwrap();
        let file = OutboundFile::new(
            "f1",
            "../a\u{7}.pdf",
            "Application/PDF",
            vec![1_u8, 2].into(),
        );
        let url = keep_outbound(&store, "https://chat.example/", &to, file.clone())
            .await
            .unwrap();
        assert_eq!(url, "https://chat.example/webchat/site/uploads/f1");
        assert_eq!(
            keep_outbound(&store, "", &to, file).await.unwrap(),
            "/webchat/site/uploads/f1"
        );
        let kept = store.get_upload("f1").await.unwrap().unwrap();
        assert_eq!(
            (
                kept.conversation.as_str(),
                kept.filename.as_str(),
                kept.mime_type.as_str()
            ),
            ("site/anon:a", "a.pdf", "application/pdf")
        );
        assert_eq!(kept.data.as_ref(), [1, 2]);
    }
}
