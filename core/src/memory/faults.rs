//! Errors to stage with [`MemoryAdapter::fail_next`](super::MemoryAdapter::fail_next), shaped like a provider's.

use std::time::Duration;

use crate::error::{Error, ErrorKind, Retry};

/// 429 with `Retry-After`.
pub fn rate_limited(after: Duration) -> Error {
    Error::new(ErrorKind::RateLimited, "rate limited")
        .with_retry_after(after)
        .with_provider_code("429")
}

/// A 5xx: may or may not have been delivered.
pub fn server_error() -> Error {
    Error::new(ErrorKind::Provider, "internal server error")
        .with_retry(Retry::Ambiguous)
        .with_provider_code("500")
}

/// Bad credentials.
pub fn unauthenticated() -> Error {
    Error::new(ErrorKind::Unauthenticated, "invalid credentials").with_provider_code("401")
}

/// No such recipient.
pub fn unknown_recipient() -> Error {
    Error::new(ErrorKind::NotFound, "unknown recipient").with_provider_code("404")
}
