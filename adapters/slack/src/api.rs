//! Outbound HTTP: Web API calls (`{api_base_url}/{method}` with `Authorization: Bearer`), the
//! byte upload to an `upload_url`, and file downloads. Nothing here retries: chat messages are
//! not idempotent, and the engine decides.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchboard_core::fetch::{Credentials, FetchPolicy, MediaFetcher};
use switchboard_core::{FetchedAttachment, Result, Secret};

use crate::error_map;
use crate::wire::ApiResponse;

/// A Web API client for one bot token.
#[derive(Clone)]
pub(crate) struct Api {
    http: reqwest::Client,
    media: MediaFetcher,
    base: String,
    /// `None`: a multi-workspace channel without a default workspace (each call goes through
    /// [`Api::with_token`]).
    token: Option<Secret>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

impl Api {
    /// A client for `base` (no trailing slash); downloads stop at `max_media_bytes`.
    pub(crate) fn new(
        base: &str,
        token: Option<Secret>,
        timeout: Duration,
        max_media_bytes: u64,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| error_map::transport("client", e))?;
        let media = MediaFetcher::new(
            FetchPolicy::new(timeout)
                .trusting(base)
                .max_bytes(max_media_bytes),
            concat!("switchboard-slack/", env!("CARGO_PKG_VERSION")),
        )
        .map_err(|e| e.with_provider(crate::PROVIDER))?;
        Ok(Api {
            http,
            media,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The same client with another token (an installation's).
    pub(crate) fn with_token(&self, token: Secret) -> Api {
        Api {
            token: Some(token),
            ..self.clone()
        }
    }

    /// The token calls carry, if any.
    pub(crate) fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    /// Calls `method` with a form and no token (`oauth.v2.access`: the client's credentials
    /// travel in the form).
    pub(crate) async fn call_public(
        &self,
        method: &str,
        form: &[(&str, &str)],
    ) -> Result<ApiResponse> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| error_map::bad_response(method, format!("cannot encode form: {e}")))?;
        let resp = self
            .http
            .post(self.url(method))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| error_map::transport(method, e))?;
        finish(method, resp).await
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, method: &str) -> String {
        format!("{}/{method}", self.base)
    }

    /// Calls `method` with a JSON body (`application/json; charset=utf-8`).
    pub(crate) async fn call_json(&self, method: &str, body: &Value) -> Result<ApiResponse> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| error_map::bad_response(method, format!("cannot encode body: {e}")))?;
        self.call(method, "application/json; charset=utf-8", bytes)
            .await
    }

    /// Calls `method` with an `application/x-www-form-urlencoded` body (methods that do not
    /// take JSON, such as `files.getUploadURLExternal`).
    pub(crate) async fn call_form(
        &self,
        method: &str,
        form: &[(&str, String)],
    ) -> Result<ApiResponse> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| error_map::bad_response(method, format!("cannot encode form: {e}")))?;
        self.call(
            method,
            "application/x-www-form-urlencoded",
            body.into_bytes(),
        )
        .await
    }

    /// POSTs `body` to `{base}/{method}` with the bot token and reads Slack's answer.
    async fn call(
        &self,
        method: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<ApiResponse> {
        let Some(token) = &self.token else {
            return Err(crate::tenancy::no_workspace());
        };
        let resp = self
            .http
            .post(self.url(method))
            .bearer_auth(token.expose())
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| error_map::transport(method, e))?;
        finish(method, resp).await
    }

    /// POSTs the raw bytes of a file to the `upload_url` Slack handed out (no token: the URL is
    /// the credential, so it is kept out of errors).
    pub(crate) async fn upload(&self, upload_url: &str, bytes: Bytes) -> Result<()> {
        let what = "file upload";
        let resp = self
            .http
            .post(upload_url)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|e| error_map::transport(what, e.without_url()))?;
        let status = resp.status().as_u16();
        if status == 200 {
            Ok(())
        } else {
            let after = retry_after(&resp);
            Err(error_map::http_status(what, status, after))
        }
    }

    /// GETs a file through the channel's [`MediaFetcher`] (internal addresses, plain `http`
    /// and unsafe redirects refused as `UnsafeUrl`), with the bot token only on hops that
    /// `is_slack_host` accepts.
    pub(crate) async fn download(
        &self,
        url: &str,
        is_slack_host: &(dyn Fn(&url::Url) -> bool + Send + Sync),
    ) -> Result<FetchedAttachment> {
        let what = "file download";
        let credentials = self.token.clone().map(Credentials::Bearer);
        let resp = self
            .media
            .get(url, credentials.as_ref(), is_slack_host)
            .await
            .map_err(|e| e.with_provider(crate::PROVIDER))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let after = retry_after(&resp);
            return Err(error_map::http_status(what, status, after));
        }
        let mime_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Capped while streaming (`max_media_bytes`): `TooLarge` naming the cap.
        let bytes = self
            .media
            .read_body(resp)
            .await
            .map_err(|e| e.with_provider(crate::PROVIDER))?;
        Ok(FetchedAttachment { bytes, mime_type })
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    error_map::parse_retry_after(
        resp.headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Turns an HTTP response into the method's result: 429 and 5xx by status, then `ok`/`error`.
async fn finish(method: &str, resp: reqwest::Response) -> Result<ApiResponse> {
    let status = resp.status().as_u16();
    let after = retry_after(&resp);
    if status == 429 || status >= 500 {
        return Err(error_map::http_status(method, status, after));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| error_map::transport(method, e))?;
    let parsed: ApiResponse = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(_) if status != 200 => return Err(error_map::http_status(method, status, after)),
        Err(e) => return Err(error_map::bad_response(method, e)),
    };
    if parsed.ok {
        return Ok(parsed);
    }
    let code = parsed.error.as_deref().unwrap_or("unknown_error");
    Err(error_map::api_error(method, code, after))
}
