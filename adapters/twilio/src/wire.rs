//! Twilio's wire types: the Message resource (JSON), the two error body formats, and the
//! form parameters of a Create Message request.

use serde::{Deserialize, Serialize};

/// The Message resource, as `Messages.json` returns it (the fields the spec defines).
///
/// Numbers such as `num_segments` are strings on the wire; dates are RFC 2822 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageResource {
    /// `SM…` (or `MM…`).
    pub sid: String,
    /// `AC…`.
    pub account_sid: String,
    /// Always `2010-04-01`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The text.
    #[serde(default)]
    pub body: Option<String>,
    /// `queued`, `sent`, `delivered`, …
    pub status: String,
    /// Segments, as a string (`"0"` while a service has not picked a sender).
    #[serde(default)]
    pub num_segments: Option<String>,
    /// Media count, as a string.
    #[serde(default)]
    pub num_media: Option<String>,
    /// `inbound`, `outbound-api`, `outbound-call`, `outbound-reply`.
    #[serde(default)]
    pub direction: Option<String>,
    /// The sender; null when only a Messaging Service was given.
    #[serde(default)]
    pub from: Option<String>,
    /// The recipient.
    #[serde(default)]
    pub to: Option<String>,
    /// `MG…`, when a service was used.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub date_created: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub date_sent: Option<String>,
    /// RFC 2822.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// An error code for failed messages.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Its message.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The price, as a string.
    #[serde(default)]
    pub price: Option<String>,
    /// Its currency.
    #[serde(default)]
    pub price_unit: Option<String>,
    /// The resource's path.
    #[serde(default)]
    pub uri: Option<String>,
    /// Sub-resources (`media`).
    #[serde(default)]
    pub subresource_uris: Option<serde_json::Value>,
}

impl MessageResource {
    /// `num_segments` as a number, when it is one.
    pub fn segments(&self) -> Option<u32> {
        self.num_segments.as_deref().and_then(|s| s.parse().ok())
    }
}

/// One page of the Messages list (`GET Messages.json`): newest `date_sent` first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessagePage {
    /// The messages of this page.
    pub messages: Vec<MessageResource>,
    /// The path (and query) of the next page; null on the last page.
    #[serde(default)]
    pub next_page_uri: Option<String>,
    /// The path (and query) of the previous page; null on the first page.
    #[serde(default)]
    pub previous_page_uri: Option<String>,
    /// The path (and query) of the first page.
    #[serde(default)]
    pub first_page_uri: Option<String>,
    /// This page's path (and query).
    #[serde(default)]
    pub uri: Option<String>,
    /// The page index.
    #[serde(default)]
    pub page: u64,
    /// The page size.
    #[serde(default)]
    pub page_size: u64,
    /// Index of the first message of this page in the whole list.
    #[serde(default)]
    pub start: u64,
    /// Index of its last message.
    #[serde(default)]
    pub end: u64,
}

/// A Twilio error body, from either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiErrorBody {
    /// The Twilio error code.
    pub(crate) code: Option<u32>,
    /// The message (legacy `message`, or problem `title` + `detail`).
    pub(crate) message: String,
    /// The HTTP status the body states.
    pub(crate) status: Option<u16>,
    /// `more_info` or the problem `type` URL.
    pub(crate) more_info: Option<String>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default, rename = "type")]
    type_url: Option<serde_json::Value>,
    #[serde(default)]
    title: Option<serde_json::Value>,
    #[serde(default)]
    detail: Option<String>,
}

impl ApiErrorBody {
    /// Parses the legacy `{code,message,more_info,status}` or RFC 9457
    /// `{type,title,status,code,detail}` format; `None` when the body is neither.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let raw: RawError = serde_json::from_slice(body).ok()?;
        let code = raw.code.as_ref().and_then(as_u32);
        let status = raw
            .status
            .as_ref()
            .and_then(as_u32)
            .and_then(|s| u16::try_from(s).ok());
        let problem = matches!(
            (&raw.type_url, &raw.title, &raw.status, &raw.code),
            (
                Some(serde_json::Value::String(_)),
                Some(serde_json::Value::String(_)),
                Some(serde_json::Value::Number(_)),
                Some(serde_json::Value::Number(_))
            )
        );
        if problem {
            let title = raw.title.as_ref().and_then(|t| t.as_str()).unwrap_or("");
            let message = match raw.detail.as_deref() {
                Some(d) if !d.is_empty() => format!("{title}: {d}"),
                _ => title.to_owned(),
            };
            let more_info = raw
                .type_url
                .as_ref()
                .and_then(|t| t.as_str())
                .map(str::to_owned);
            return Some(ApiErrorBody {
                code,
                message,
                status,
                more_info,
            });
        }
        if code.is_none() && raw.message.is_none() {
            return None;
        }
        Some(ApiErrorBody {
            code,
            message: raw.message.unwrap_or_default(),
            status,
            more_info: raw.more_info,
        })
    }
}

fn as_u32(v: &serde_json::Value) -> Option<u32> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The form parameters of one Create Message request, in the order they are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CreateMessage {
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    pub(crate) messaging_service_sid: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) media_urls: Vec<String>,
    pub(crate) status_callback: Option<String>,
    pub(crate) content_sid: Option<String>,
    pub(crate) content_variables: Option<String>,
    pub(crate) smart_encoded: bool,
    /// Segments this message costs, computed locally (SMS only).
    pub(crate) segments: Option<u32>,
}

impl CreateMessage {
    /// The `application/x-www-form-urlencoded` pairs; `MediaUrl` repeats.
    pub(crate) fn form(&self) -> Vec<(&'static str, String)> {
        let mut f = vec![("To", self.to.clone())];
        if let Some(from) = &self.from {
            f.push(("From", from.clone()));
        }
        if let Some(s) = &self.messaging_service_sid {
            f.push(("MessagingServiceSid", s.clone()));
        }
        if let Some(b) = &self.body {
            f.push(("Body", b.clone()));
        }
        for m in &self.media_urls {
            f.push(("MediaUrl", m.clone()));
        }
        if let Some(c) = &self.content_sid {
            f.push(("ContentSid", c.clone()));
        }
        if let Some(v) = &self.content_variables {
            f.push(("ContentVariables", v.clone()));
        }
        if self.smart_encoded {
            f.push(("SmartEncoded", "true".to_owned()));
        }
        if let Some(cb) = &self.status_callback {
            f.push(("StatusCallback", cb.clone()));
        }
        f
    }
}

#[cfg(test)]
mod tests;
