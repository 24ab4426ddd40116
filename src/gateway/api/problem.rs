//! RFC 9457 problem details (`application/problem+json`): every API error is one, with the
//! error's `kind` and its `retry` class (`never`, `safe`, `ambiguous`) as extension members.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::{Error, ErrorKind, Retry};

/// An API error.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    detail: String,
    kind: &'static str,
    retry: &'static str,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        let retry = if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            "safe"
        } else {
            "never"
        };
        Problem {
            status,
            detail: detail.into(),
            kind,
            retry,
        }
    }

    pub(crate) fn unauthorized(detail: &str) -> Self {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Unauthenticated.as_str(),
            detail,
        )
    }

    pub(crate) fn forbidden(detail: String) -> Self {
        Problem::new(
            StatusCode::FORBIDDEN,
            ErrorKind::PermissionDenied.as_str(),
            detail,
        )
    }

    pub(crate) fn not_found(detail: String) -> Self {
        Problem::new(StatusCode::NOT_FOUND, ErrorKind::NotFound.as_str(), detail)
    }

    pub(crate) fn invalid(detail: String) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::InvalidMessage.as_str(),
            detail,
        )
    }

    pub(crate) fn conflict(detail: String) -> Self {
        Problem::new(
            StatusCode::CONFLICT,
            ErrorKind::InvalidMessage.as_str(),
            detail,
        )
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidMessage | ErrorKind::InvalidConfig => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let detail = if status == StatusCode::SERVICE_UNAVAILABLE {
            // A store's or provider's error (paths, SQL) is logged, not served.
            tracing::warn!(error = %e, "gateway API: request failed");
            "the store is unavailable; try again".to_owned()
        } else {
            e.message().to_owned()
        };
        let retry = match e.retry() {
            Retry::Never => "never",
            Retry::Safe => "safe",
            _ => "ambiguous",
        };
        Problem {
            status,
            detail,
            kind: e.kind().as_str(),
            retry: if status == StatusCode::SERVICE_UNAVAILABLE {
                "safe"
            } else {
                retry
            },
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "kind": self.kind,
            "retry": self.retry,
        });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
