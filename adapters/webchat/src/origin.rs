//! The `Origin` check and the CORS headers (PROTOCOL.md, section 3).

use http::HeaderMap;
use http::header::{self, HeaderValue};

use crate::config::{WebchatConfig, normalize_origin};
use crate::error::{Reason, WebchatError};

/// Headers a browser may send (preflight answer).
pub(crate) const ALLOW_HEADERS: &str =
    "Authorization, Content-Type, Last-Event-ID, Webchat-Protocol";
/// Methods the endpoints take.
pub(crate) const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
/// Headers a page may read from an answer.
pub(crate) const EXPOSE_HEADERS: &str = "Retry-After, Webchat-Protocol";
/// How long a browser may cache a preflight, in seconds.
pub(crate) const PREFLIGHT_MAX_AGE: &str = "600";

/// Checks the request's `Origin`: `Ok(None)` without one, `Ok(Some(origin))` for an allowed
/// origin (as the browser wrote it, to echo back), `403 origin_not_allowed` otherwise.
pub(crate) fn check(
    config: &WebchatConfig,
    headers: &HeaderMap,
) -> Result<Option<String>, WebchatError> {
    let Some(raw) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    let refused = || WebchatError::new(Reason::OriginNotAllowed, "this origin is not allowed");
    let raw = raw.to_str().map_err(|_| refused())?;
    let normalized = normalize_origin(raw).ok_or_else(refused)?;
    if config.allowed_origins.contains(&normalized) {
        Ok(Some(raw.to_owned()))
    } else {
        Err(refused())
    }
}

/// Adds the CORS headers of an answer to `origin` (an allowed one).
pub(crate) fn cors(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// Adds the headers of a preflight answer.
pub(crate) fn preflight(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WebchatConfig {
        WebchatConfig::builder(["https://shop.example", "http://localhost:8080"])
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn with_origin(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_str(origin).unwrap_or_else(|e| panic!("{e}")),
        );
        h
    }

    #[test]
    fn allowed_absent_and_foreign_origins() {
        let c = config();
        assert_eq!(check(&c, &HeaderMap::new()), Ok(None));
        assert_eq!(
            check(&c, &with_origin("https://shop.example")),
            Ok(Some("https://shop.example".into()))
        );
        assert!(check(&c, &with_origin("https://shop.example:443")).is_ok());
        assert!(check(&c, &with_origin("http://localhost:8080")).is_ok());
        for bad in [
            "https://evil.example",
            "http://shop.example",
            "https://shop.example.evil.example",
            "https://shop.example:8443",
            "null",
            "",
        ] {
            let e = check(&c, &with_origin(bad))
                .map(|_| ())
                .map_err(|e| e.reason());
            assert_eq!(e, Err(Reason::OriginNotAllowed), "{bad}");
        }
    }

    #[test]
    fn cors_headers_echo_the_origin() {
        let mut h = HeaderMap::new();
        cors(&mut h, "https://shop.example");
        preflight(&mut h);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://shop.example"
        );
        assert_eq!(h[header::VARY], "Origin");
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }
}
