//! Framework-neutral webhook requests and what to answer them.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::model::InboundEvent;

/// An HTTP request from a provider, as received, independent of any web framework.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// `GET` for handshakes, `POST` for events.
    pub method: Method,
    /// The public URL as the provider called it, with its query string (what Twilio signs).
    pub url: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw body bytes, exactly as received (signatures are over these).
    pub body: Bytes,
    /// When the request arrived (signature replay windows are measured from this).
    pub received_at: SystemTime,
}

impl WebhookRequest {
    /// A `POST` of `body` to `url`, received now.
    pub fn post(url: impl Into<String>, body: impl Into<Bytes>) -> Self {
        WebhookRequest {
            method: Method::POST,
            url: url.into(),
            headers: HeaderMap::new(),
            body: body.into(),
            received_at: SystemTime::now(),
        }
    }

    /// A `GET` of `url`, received now.
    pub fn get(url: impl Into<String>) -> Self {
        WebhookRequest {
            method: Method::GET,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            received_at: SystemTime::now(),
        }
    }

    /// Adds a header; a name or value that is not valid HTTP is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::header::HeaderValue::from_str(value),
        ) {
            self.headers.append(n, v);
        }
        self
    }

    /// Sets the receive time.
    pub fn received_at(mut self, at: SystemTime) -> Self {
        self.received_at = at;
        self
    }

    /// A header's value as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The decoded query parameters of the URL, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let query = query.split('#').next().unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The first query parameter named `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What to send back to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Bytes,
}

impl WebhookResponse {
    /// `200 OK` with no body.
    pub fn ok() -> Self {
        WebhookResponse {
            status: StatusCode::OK,
            content_type: None,
            body: Bytes::new(),
        }
    }

    /// `200 OK` with a `text/plain` body (handshake challenges).
    pub fn text(body: impl Into<Bytes>) -> Self {
        WebhookResponse {
            status: StatusCode::OK,
            content_type: Some("text/plain; charset=utf-8"),
            body: body.into(),
        }
    }

    /// `200 OK` with a body of the given content type.
    pub fn with_body(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        WebhookResponse {
            status: StatusCode::OK,
            content_type: Some(content_type),
            body: body.into(),
        }
    }
}

/// Why a webhook was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The signature header is absent.
    MissingSignature,
    /// The signature does not match the body.
    BadSignature,
    /// The signed timestamp is outside the replay window.
    StaleTimestamp,
    /// The body could not be parsed.
    Malformed,
    /// A handshake's token did not match.
    Forbidden,
    /// The HTTP method is not one this endpoint takes.
    MethodNotAllowed,
    /// Well signed, but for another tenant than the channel's (another Page, Slack workspace
    /// or app, Twilio account): nothing is stored, and the answer is `200 OK` so the provider
    /// does not retry it (Meta and Slack retry any other status for hours, and may switch the
    /// subscription off, which would hurt this channel's own events too).
    ForeignTenant,
    /// The body's content type is not one this endpoint parses.
    UnsupportedMediaType,
}

impl RejectReason {
    /// The status to answer with: 401 for signature problems, 400 malformed, 403 forbidden, 405,
    /// 415, and 200 for a foreign tenant (acknowledged, not stored).
    pub fn status(self) -> StatusCode {
        match self {
            RejectReason::MissingSignature
            | RejectReason::BadSignature
            | RejectReason::StaleTimestamp => StatusCode::UNAUTHORIZED,
            RejectReason::Malformed => StatusCode::BAD_REQUEST,
            RejectReason::Forbidden => StatusCode::FORBIDDEN,
            RejectReason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RejectReason::ForeignTenant => StatusCode::OK,
            RejectReason::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// A short snake_case name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingSignature => "missing_signature",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::StaleTimestamp => "stale_timestamp",
            RejectReason::Malformed => "malformed",
            RejectReason::Forbidden => "forbidden",
            RejectReason::MethodNotAllowed => "method_not_allowed",
            RejectReason::ForeignTenant => "foreign_tenant",
            RejectReason::UnsupportedMediaType => "unsupported_media_type",
        }
    }
}

/// Most `name=value` pairs a form webhook may carry. Providers send a few dozen (Twilio about
/// 30, Slack one `payload` or a dozen slash-command fields); adapters refuse a form with more
/// as malformed ([`form_too_large`]) before parsing, sorting or hashing it, so a body of
/// millions of tiny pairs costs one pass over its bytes.
pub const MAX_FORM_PARAMS: usize = 1000;

/// A [`RejectReason::Malformed`] rejection when the urlencoded `body` has more than
/// [`MAX_FORM_PARAMS`] pairs (counted without decoding anything).
pub fn form_too_large(body: &[u8]) -> Option<Rejection> {
    let pairs = body
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .take(MAX_FORM_PARAMS + 1)
        .count();
    (pairs > MAX_FORM_PARAMS).then(|| {
        Rejection::new(
            RejectReason::Malformed,
            format!("more than {MAX_FORM_PARAMS} form parameters"),
        )
    })
}

/// The media type of `headers`' `Content-Type`, lower-cased, without parameters (`""` when
/// absent).
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A [`RejectReason::UnsupportedMediaType`] rejection unless the `Content-Type` of `headers` is
/// absent or one of `allowed` (lower-case media types, without parameters).
pub fn unsupported_media_type(headers: &HeaderMap, allowed: &[&str]) -> Option<Rejection> {
    let media = media_type(headers);
    (!media.is_empty() && !allowed.contains(&media.as_str())).then(|| {
        Rejection::new(
            RejectReason::UnsupportedMediaType,
            format!("send {}", allowed.join(" or ")),
        )
    })
}

/// A refused webhook: the reason and a short detail that is safe to send back (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// A short human explanation.
    pub detail: String,
}

impl Rejection {
    /// A rejection for `reason` with a short detail.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }

    /// The response to send: the reason's status and the detail as text.
    pub fn response(&self) -> WebhookResponse {
        WebhookResponse {
            status: self.reason.status(),
            content_type: Some("text/plain; charset=utf-8"),
            body: Bytes::from(format!("{}: {}", self.reason.as_str(), self.detail)),
        }
    }
}

/// What an adapter made of a webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookOutcome {
    /// Verified (or a handshake): answer `response` once `events` are stored durably.
    Accepted {
        /// What to answer the provider.
        response: WebhookResponse,
        /// The decoded events, in the order the provider sent them (empty for handshakes).
        events: Vec<InboundEvent>,
    },
    /// Refused: answer `rejection.response()`; nothing reaches the application.
    Rejected(Rejection),
}

impl WebhookOutcome {
    /// Accepted with a plain `200 OK`.
    pub fn events(events: Vec<InboundEvent>) -> Self {
        WebhookOutcome::Accepted {
            response: WebhookResponse::ok(),
            events,
        }
    }

    /// A handshake answered with `response` and no events.
    pub fn handshake(response: WebhookResponse) -> Self {
        WebhookOutcome::Accepted {
            response,
            events: Vec::new(),
        }
    }

    /// Refused for `reason`.
    pub fn reject(reason: RejectReason, detail: impl Into<String>) -> Self {
        WebhookOutcome::Rejected(Rejection::new(reason, detail))
    }

    /// The response to send, whatever the outcome.
    pub fn response(&self) -> WebhookResponse {
        match self {
            WebhookOutcome::Accepted { response, .. } => response.clone(),
            WebhookOutcome::Rejected(r) => r.response(),
        }
    }

    /// The events, if accepted.
    pub fn accepted_events(&self) -> Option<&[InboundEvent]> {
        match self {
            WebhookOutcome::Accepted { events, .. } => Some(events),
            WebhookOutcome::Rejected(_) => None,
        }
    }

    /// The rejection, if refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            WebhookOutcome::Accepted { .. } => None,
            WebhookOutcome::Rejected(r) => Some(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_decoded() {
        let r = WebhookRequest::get(
            "https://x.test/webhooks/fb?hub.mode=subscribe&hub.challenge=a%20b",
        );
        assert_eq!(r.query_param("hub.challenge").as_deref(), Some("a b"));
        assert_eq!(r.query_param("nope"), None);
    }

    #[test]
    fn rejection_statuses() {
        assert_eq!(
            RejectReason::BadSignature.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(RejectReason::Malformed.status(), StatusCode::BAD_REQUEST);
        let resp = Rejection::new(RejectReason::StaleTimestamp, "timestamp too old").response();
        assert_eq!(
            resp.body,
            Bytes::from_static(b"stale_timestamp: timestamp too old")
        );
    }

    #[test]
    fn form_parameters_are_counted_before_parsing() {
        assert!(form_too_large(b"a=1&b=2").is_none());
        let at_cap = vec!["k=v"; MAX_FORM_PARAMS].join("&");
        assert!(form_too_large(at_cap.as_bytes()).is_none());
        let over = format!("{at_cap}&x=y");
        let r = form_too_large(over.as_bytes()).map(|r| r.reason);
        assert_eq!(r, Some(RejectReason::Malformed));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        );
        assert_eq!(media_type(&h), "application/x-www-form-urlencoded");
        assert_eq!(media_type(&HeaderMap::new()), "");
        let form = ["application/x-www-form-urlencoded"];
        assert!(unsupported_media_type(&h, &form).is_none());
        assert!(unsupported_media_type(&HeaderMap::new(), &form).is_none());
        let r = unsupported_media_type(&h, &["application/json"]);
        assert_eq!(
            r.map(|r| (r.reason, r.detail)),
            Some((
                RejectReason::UnsupportedMediaType,
                "send application/json".to_owned()
            ))
        );
    }
}
