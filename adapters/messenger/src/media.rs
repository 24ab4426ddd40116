//! Downloads of inbound attachments (`fetch_attachment`): the `payload.url` Meta puts in a
//! webhook points at its CDN (`lookaside.fbsbx.com`, `scontent…fbcdn.net`), public and signed
//! in the URL itself, so no token is sent. The URL comes from a webhook, so it goes through
//! core's [`MediaFetcher`]: internal addresses, plain `http` and unsafe redirects are refused
//! (`UnsafeUrl`), and the body is capped at [`MAX_MEDIA_BYTES`](crate::MAX_MEDIA_BYTES) while it
//! streams (`TooLarge`).

use switchboard_core::fetch::{FetchPolicy, MediaFetcher};
use switchboard_core::{Error, ErrorKind, FetchedAttachment, Result, Retry};

use crate::PROVIDER;
use crate::config::MessengerConfig;

/// The media client of one channel (the configured `api_base_url` is the trusted origin, for
/// emulators and tests).
pub(crate) fn fetcher(config: &MessengerConfig) -> Result<MediaFetcher> {
    MediaFetcher::new(
        FetchPolicy::new(crate::api::TIMEOUT)
            .trusting(&config.api_base_url)
            .max_bytes(crate::MAX_MEDIA_BYTES),
        concat!("switchboard-messenger/", env!("CARGO_PKG_VERSION")),
    )
    .map_err(|e| e.with_provider(PROVIDER))
}

/// `GET url` without credentials; the bytes and the answer's content type.
pub(crate) async fn fetch(media: &MediaFetcher, url: &str) -> Result<FetchedAttachment> {
    let response = media
        .get(url, None, &|_: &url::Url| false)
        .await
        .map_err(|e| e.with_provider(PROVIDER))?;
    let status = response.status();
    if !status.is_success() {
        // A download changes nothing: safe to retry when Meta's CDN was busy or failing.
        let (kind, retry) = match status.as_u16() {
            404 | 410 => (ErrorKind::NotFound, Retry::Never),
            429 => (ErrorKind::RateLimited, Retry::Safe),
            500..=599 => (ErrorKind::Provider, Retry::Safe),
            _ => (ErrorKind::Provider, Retry::Never),
        };
        return Err(Error::new(
            kind,
            format!("attachment download: HTTP {}", status.as_u16()),
        )
        .with_retry(retry)
        .with_provider(PROVIDER));
    }
    let mime_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = media
        .read_body(response)
        .await
        .map_err(|e| e.with_provider(PROVIDER))?;
    Ok(FetchedAttachment { bytes, mime_type })
}
