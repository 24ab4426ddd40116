//! Outbound HTTP: Create Message, Fetch Message, the Messages list, Fetch Account, and media
//! downloads.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use switchboard_core::fetch::{Credentials, FetchPolicy, MediaFetcher};
use switchboard_core::{Error, ErrorKind, Result, Retry, Secret};

use crate::PROVIDER;
use crate::config::TwilioConfig;
use crate::error_map::{api_error, classify_status, transport_error};
use crate::wire::{CreateMessage, MessagePage, MessageResource};

/// The Twilio REST client of one channel.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    media: MediaFetcher,
}

impl Api {
    pub(crate) fn new(config: &TwilioConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("switchboard-twilio/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::InvalidConfig, "cannot build the HTTP client")
                    .with_provider(PROVIDER)
                    .with_source(e)
            })?;
        let media = MediaFetcher::new(
            FetchPolicy::new(config.timeout)
                .trusting(&config.api_base_url)
                .max_bytes(crate::MAX_MEDIA_BYTES),
            concat!("switchboard-twilio/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| e.with_provider(PROVIDER))?;
        Ok(Api { http, media })
    }

    /// `POST Messages.json`: creates (sends) one message.
    pub(crate) async fn create_message(
        &self,
        config: &TwilioConfig,
        message: &CreateMessage,
    ) -> Result<MessageResource> {
        let request = self.http.post(config.messages_url()).form(&message.form());
        let response = self.send(config, request).await?;
        // Created: from here on a failure to read the answer is ambiguous, not safe.
        read_resource(response, StatusCode::CREATED).await
    }

    /// `GET Messages/{sid}.json`: fetches one message.
    pub(crate) async fn fetch_message(
        &self,
        config: &TwilioConfig,
        sid: &str,
    ) -> Result<MessageResource> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages/{sid}.json",
            config.api_base_url, config.account_sid
        );
        read_resource(self.send(config, self.http.get(url)).await?, StatusCode::OK).await
    }

    /// `GET Accounts/{AccountSid}.json`: succeeds when the credentials may read the account (the
    /// resource itself is not needed: it holds the auth token, so it is not kept either).
    pub(crate) async fn fetch_account(&self, config: &TwilioConfig) -> Result<()> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}.json",
            config.api_base_url, config.account_sid
        );
        let response = self.send(config, self.http.get(url)).await?;
        read_json::<serde::de::IgnoredAny>(response, StatusCode::OK, "Account resource")
            .await
            .map(|_| ())
    }

    /// Sends `request` with the channel's Basic auth.
    async fn send(
        &self,
        config: &TwilioConfig,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let (user, pass) = config.basic_auth();
        request
            .basic_auth(user, Some(pass))
            .send()
            .await
            .map_err(transport_error)
    }

    /// `GET Messages.json?{filters}`: the first page of the Messages list.
    pub(crate) async fn list_messages(
        &self,
        config: &TwilioConfig,
        filters: &[(&str, String)],
    ) -> Result<MessagePage> {
        let request = self.http.get(config.messages_url()).query(filters);
        self.read_page(config, request).await
    }

    /// The page at `next_page_uri` (a path on the API host, as Twilio gives it).
    pub(crate) async fn next_page(&self, config: &TwilioConfig, uri: &str) -> Result<MessagePage> {
        if !uri.starts_with('/') || uri.starts_with("//") {
            return Err(Error::new(
                ErrorKind::Provider,
                "the Messages list named a next page that is not a path on the API host",
            )
            .with_provider(PROVIDER));
        }
        let request = self.http.get(format!("{}{uri}", config.api_base_url));
        self.read_page(config, request).await
    }

    async fn read_page(
        &self,
        config: &TwilioConfig,
        request: reqwest::RequestBuilder,
    ) -> Result<MessagePage> {
        let response = self.send(config, request).await?;
        read_json(response, StatusCode::OK, "Messages list page").await
    }

    /// Downloads media through the channel's [`MediaFetcher`]: internal addresses, plain
    /// `http` and unsafe redirects are refused (`UnsafeUrl`), Basic auth goes only to hops
    /// on Twilio's own hosts (see [`is_twilio_host`]), and a body over
    /// [`MAX_MEDIA_BYTES`](crate::MAX_MEDIA_BYTES) is `TooLarge`.
    pub(crate) async fn fetch_media(
        &self,
        config: &TwilioConfig,
        url: &str,
    ) -> Result<(Bytes, Option<String>)> {
        let (user, pass) = config.basic_auth();
        let credentials = Credentials::Basic {
            user: user.to_owned(),
            password: Secret::new(pass),
        };
        let is_twilio = |u: &url::Url| is_twilio_host(config, u.as_str());
        let response = self
            .media
            .get(url, Some(&credentials), &is_twilio)
            .await
            .map_err(|e| e.with_provider(PROVIDER))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            // An error body is capped like media (it is only read for Twilio's error code).
            let body = self.media.read_body(response).await.unwrap_or_default();
            return Err(api_error(status, &body, retry_after).with_retry(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    Retry::Safe
                } else {
                    Retry::Never
                },
            ));
        }
        let mime = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Capped while streaming: over `MAX_MEDIA_BYTES` is `TooLarge`, naming the cap.
        let bytes = self
            .media
            .read_body(response)
            .await
            .map_err(|e| e.with_provider(PROVIDER))?;
        Ok((bytes, mime))
    }
}

async fn read_resource(
    response: reqwest::Response,
    expected: StatusCode,
) -> Result<MessageResource> {
    read_json(response, expected, "Message resource").await
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    expected: StatusCode,
    what: &str,
) -> Result<T> {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(e).with_retry(body_lost_retry(status)))?;
    if status != expected && !status.is_success() {
        return Err(api_error(status, &body, retry_after));
    }
    serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            ErrorKind::Provider,
            format!("HTTP {}: unreadable {what}", status.as_u16()),
        )
        .with_provider(PROVIDER)
        .with_retry(Retry::Ambiguous)
        .with_source(e)
    })
}

/// The retry class when the answer's body is lost after its `status` arrived: a success means
/// the request was carried out (ambiguous, never safe); otherwise the status decides, as it
/// would with the body.
fn body_lost_retry(status: StatusCode) -> Retry {
    if status.is_success() {
        Retry::Ambiguous
    } else {
        classify_status(status).1
    }
}

/// `Retry-After` in seconds, when present, numeric and not negative; a number too large for a
/// `Duration` (`1e300`) or longer than a day is the longest wait an error carries. An HTTP date
/// is ignored.
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| {
            let max = switchboard_core::error::MAX_RETRY_AFTER;
            Duration::try_from_secs_f64(s).map_or(max, |d| d.min(max))
        })
}

/// Whether `url` is served by Twilio itself (or by the configured API host): only those
/// get the account's credentials.
pub(crate) fn is_twilio_host(config: &TwilioConfig, url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    if switchboard_core::adapter::is_provider_host(url, &["twilio.com"]) {
        return true;
    }
    match url::Url::parse(&config.api_base_url) {
        Ok(base) => {
            base.scheme() == u.scheme()
                && base.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.as_str())
                && base.port_or_known_default() == u.port_or_known_default()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::{ChannelName, Secret};

    #[test]
    fn credentials_go_only_to_twilio_hosts() {
        let c = TwilioConfig::builder(
            ChannelName::new("sms").unwrap(),
            "AC0123456789abcdef0123456789abcdef",
            Secret::new("tok"),
        )
        .from("+15550001111")
        .api_base_url("http://127.0.0.1:4010")
        .build()
        .unwrap();
        assert!(is_twilio_host(
            &c,
            "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME"
        ));
        assert!(is_twilio_host(&c, "https://media.us1.twilio.com/x"));
        assert!(is_twilio_host(&c, "http://127.0.0.1:4010/media/1"));
        assert!(!is_twilio_host(&c, "http://127.0.0.1:4011/media/1"));
        assert!(!is_twilio_host(&c, "https://twilio.com.evil.test/x"));
        assert!(!is_twilio_host(&c, "http://api.twilio.com/x"));
        assert!(!is_twilio_host(&c, "not a url"));
    }

    #[test]
    fn a_lost_body_keeps_the_retry_class_of_its_status() {
        for (status, retry) in [
            (201, Retry::Ambiguous),
            (200, Retry::Ambiguous),
            (500, Retry::Ambiguous),
            (503, Retry::Ambiguous),
            (429, Retry::Safe),
            (400, Retry::Never),
            (401, Retry::Never),
        ] {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(body_lost_retry(s), retry, "HTTP {status}");
        }
    }

    #[test]
    fn retry_after_parses_seconds() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("2"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("soon"),
        );
        assert_eq!(retry_after(&h), None);
    }

    /// Issue 15, item 13: no `Retry-After` panics; a huge one is the longest wait.
    #[test]
    fn hostile_retry_after_never_panics() {
        let max = switchboard_core::error::MAX_RETRY_AFTER;
        for (value, expected) in [
            ("1e300", Some(max)),
            ("1e19", Some(max)),
            ("18446744073709551616", Some(max)),
            ("-1", None),
            ("NaN", None),
            ("inf", None),
            ("Fri, 31 Dec 9999 23:59:59 GMT", None),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static(value),
            );
            let got = retry_after(&h);
            let e = api_error(StatusCode::TOO_MANY_REQUESTS, b"{}", got);
            assert!(got.is_none_or(|d| d <= max) && e.retry_after().is_none_or(|d| d <= max));
            assert_eq!(got.map(|d| d.min(max)), expected, "{value}");
        }
    }
}
