//! The protocol's errors: a status and a short reason ([`Reason`]), answered as
//! `{"error", "message"}` (PROTOCOL.md, section 2).

use std::fmt;
use std::time::Duration;

use http::StatusCode;
use switchboard_core::RejectReason;

use crate::wire::ErrorBody;

/// Why a request was refused: one row of the protocol's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 400: the body is not JSON or not of the documented shape.
    MalformedJson,
    /// 400: a field breaks a rule.
    InvalidRequest,
    /// 400: the `Webchat-Protocol` header names another version.
    UnsupportedVersion,
    /// 401: no token.
    MissingToken,
    /// 401: a token not issued by this server, or altered.
    BadToken,
    /// 401: a token past its expiry.
    TokenExpired,
    /// 401: a token of another channel.
    ForeignToken,
    /// 401: `user_hash` does not match `user_id`.
    BadUserHash,
    /// 401: the channel accepts verified users only.
    IdentityRequired,
    /// 403: the `Origin` is not allowed.
    OriginNotAllowed,
    /// 404: unknown channel, path or upload.
    NotFound,
    /// 405: a method the path does not take.
    MethodNotAllowed,
    /// 413: text or body too large.
    MessageTooLarge,
    /// 413: upload too large.
    UploadTooLarge,
    /// 415: a JSON endpoint called with another content type.
    UnsupportedMediaType,
    /// 429: over a rate limit.
    RateLimited,
    /// 503: the request cannot be stored now.
    Unavailable,
}

impl Reason {
    /// The `error` string of the body.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedJson => "malformed_json",
            Reason::InvalidRequest => "invalid_request",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::MissingToken => "missing_token",
            Reason::BadToken => "bad_token",
            Reason::TokenExpired => "token_expired",
            Reason::ForeignToken => "foreign_token",
            Reason::BadUserHash => "bad_user_hash",
            Reason::IdentityRequired => "identity_required",
            Reason::OriginNotAllowed => "origin_not_allowed",
            Reason::NotFound => "not_found",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::MessageTooLarge => "message_too_large",
            Reason::UploadTooLarge => "upload_too_large",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::RateLimited => "rate_limited",
            Reason::Unavailable => "unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::MalformedJson | Reason::InvalidRequest | Reason::UnsupportedVersion => {
                StatusCode::BAD_REQUEST
            }
            Reason::MissingToken
            | Reason::BadToken
            | Reason::TokenExpired
            | Reason::ForeignToken
            | Reason::BadUserHash
            | Reason::IdentityRequired => StatusCode::UNAUTHORIZED,
            Reason::OriginNotAllowed => StatusCode::FORBIDDEN,
            Reason::NotFound => StatusCode::NOT_FOUND,
            Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Reason::MessageTooLarge | Reason::UploadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Reason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reason::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The nearest reason of the generic webhook path (`Adapter::handle_webhook`), which has no
    /// 404, 413, 415, 429 or 503: those become `Malformed`.
    pub fn reject_reason(self) -> RejectReason {
        match self {
            Reason::MissingToken => RejectReason::MissingSignature,
            Reason::TokenExpired => RejectReason::StaleTimestamp,
            Reason::BadToken
            | Reason::ForeignToken
            | Reason::BadUserHash
            | Reason::IdentityRequired => RejectReason::BadSignature,
            Reason::OriginNotAllowed => RejectReason::Forbidden,
            Reason::MethodNotAllowed => RejectReason::MethodNotAllowed,
            _ => RejectReason::Malformed,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: the reason, one line for humans (never a secret) and, for 429, how long
/// to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebchatError {
    reason: Reason,
    message: String,
    retry_after: Option<Duration>,
}

impl WebchatError {
    /// An error for `reason` with a short message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        WebchatError {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `429 rate_limited`, to be retried after `after`.
    pub fn rate_limited(after: Duration) -> Self {
        WebchatError {
            reason: Reason::RateLimited,
            message: "too many requests".to_owned(),
            retry_after: Some(after),
        }
    }

    /// The reason.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long to wait (`Retry-After`), for 429.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.reason.as_str().to_owned(),
            message: self.message.clone(),
        }
    }
}

impl fmt::Display for WebchatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status().as_u16(),
            self.reason,
            self.message
        )
    }
}

impl std::error::Error for WebchatError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_have_the_protocol_statuses() {
        let table = [
            (Reason::MalformedJson, 400, "malformed_json"),
            (Reason::InvalidRequest, 400, "invalid_request"),
            (Reason::BadToken, 401, "bad_token"),
            (Reason::TokenExpired, 401, "token_expired"),
            (Reason::ForeignToken, 401, "foreign_token"),
            (Reason::BadUserHash, 401, "bad_user_hash"),
            (Reason::IdentityRequired, 401, "identity_required"),
            (Reason::OriginNotAllowed, 403, "origin_not_allowed"),
            (Reason::MessageTooLarge, 413, "message_too_large"),
            (Reason::UploadTooLarge, 413, "upload_too_large"),
            (Reason::UnsupportedMediaType, 415, "unsupported_media_type"),
            (Reason::RateLimited, 429, "rate_limited"),
        ];
        for (reason, status, name) in table {
            assert_eq!(reason.status().as_u16(), status, "{reason}");
            assert_eq!(reason.as_str(), name);
        }
        let e = WebchatError::rate_limited(Duration::from_secs(3));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(e.to_string(), "429 rate_limited: too many requests");
        assert_eq!(
            Reason::TokenExpired.reject_reason(),
            RejectReason::StaleTimestamp
        );
    }
}
