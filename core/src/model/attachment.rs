//! Media attachments of outbound messages.

use serde::{Deserialize, Serialize};

use super::outbound::check_http_url;
use crate::error::Error;

/// The kind of media an attachment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A picture.
    Image,
    /// A sound recording.
    Audio,
    /// A video.
    Video,
    /// Any other file.
    File,
}

impl AttachmentKind {
    /// Guesses the kind from a mime type (`image/png` → Image), defaulting to File.
    pub fn from_mime(mime: &str) -> Self {
        match mime.split('/').next().unwrap_or("") {
            "image" => AttachmentKind::Image,
            "audio" => AttachmentKind::Audio,
            "video" => AttachmentKind::Video,
            _ => AttachmentKind::File,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Audio => "audio",
            AttachmentKind::Video => "video",
            AttachmentKind::File => "file",
        }
    }
}

/// Where an attachment's bytes come from.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentSource {
    /// An absolute http(s) URL the provider fetches.
    Url(String),
    /// The bytes themselves (uploaded by the adapter where the provider allows it).
    Bytes(#[serde(with = "base64_bytes")] bytes::Bytes),
}

impl std::fmt::Debug for AttachmentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttachmentSource::Url(u) => f.debug_tuple("Url").field(u).finish(),
            AttachmentSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

/// A media attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Image, audio, video or file.
    pub kind: AttachmentKind,
    /// URL or bytes.
    pub source: AttachmentSource,
    /// The mime type, e.g. `image/png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The file name shown to the recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A caption or alt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl Attachment {
    /// An attachment fetched by the provider from `url`.
    pub fn url(kind: AttachmentKind, url: impl Into<String>) -> Self {
        Attachment {
            kind,
            source: AttachmentSource::Url(url.into()),
            mime_type: None,
            filename: None,
            caption: None,
        }
    }

    /// An attachment uploaded from bytes; the kind follows the mime type.
    pub fn bytes(
        data: impl Into<bytes::Bytes>,
        mime_type: impl Into<String>,
        filename: impl Into<String>,
    ) -> Self {
        let mime_type = mime_type.into();
        Attachment {
            kind: AttachmentKind::from_mime(&mime_type),
            source: AttachmentSource::Bytes(data.into()),
            mime_type: Some(mime_type),
            filename: Some(filename.into()),
            caption: None,
        }
    }

    /// Sets the caption.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Sets the mime type.
    pub fn with_mime_type(mut self, mime: impl Into<String>) -> Self {
        self.mime_type = Some(mime.into());
        self
    }

    /// Sets the file name.
    pub fn with_filename(mut self, name: impl Into<String>) -> Self {
        self.filename = Some(name.into());
        self
    }

    /// The URL, for URL attachments.
    pub fn as_url(&self) -> Option<&str> {
        match &self.source {
            AttachmentSource::Url(u) => Some(u),
            AttachmentSource::Bytes(_) => None,
        }
    }

    pub(super) fn validate(&self, field: &str) -> crate::Result<()> {
        match &self.source {
            AttachmentSource::Url(u) => check_http_url(&format!("{field}.url"), u),
            AttachmentSource::Bytes(b) if b.is_empty() => Err(Error::invalid_message(
                &format!("{field}.bytes"),
                "must not be empty",
            )),
            AttachmentSource::Bytes(_) => Ok(()),
        }
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(b: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bytes::Bytes, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s)
            .map(bytes::Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}
