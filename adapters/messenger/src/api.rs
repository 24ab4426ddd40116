//! Outbound HTTP to the Graph API: `POST /{version}/{page_id}/messages`,
//! `POST /{version}/{page_id}/message_attachments` and `GET /{version}/me?fields=id`, with the
//! Page token as the `access_token` query parameter and, when configured, `appsecret_proof`.
//! A channel of several Pages has one client per Page (its id in the URLs, its token, its
//! proof), all on one HTTP connection pool.
//!
//! Nothing is retried here: chat messages are not idempotent, the engine decides.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use switchboard_core::{Error, ErrorKind, Result, Retry, Secret};

use crate::PROVIDER;
use crate::config::MessengerConfig;
use crate::error_map;
use crate::signature::appsecret_proof;
use crate::wire::{ErrorBody, NodeResponse, SendResponse, UploadResponse};

/// How long one Graph call may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// A Graph API client for one Page: `config` is that Page's view (see
/// `MessengerConfig::page_views`).
#[derive(Clone)]
pub(crate) struct GraphClient {
    http: reqwest::Client,
    config: Arc<MessengerConfig>,
    /// `access_token=…` and, when configured, `&appsecret_proof=…`, form-encoded once: the
    /// proof is an HMAC of the token, the same for every call.
    auth_query: Arc<Secret>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.config.api_base_url)
            .field("page", &self.config.page_id)
            .finish()
    }
}

/// The query parameters every call of the Page carries: its token, and its `appsecret_proof`
/// when configured.
fn auth_query(config: &MessengerConfig) -> Secret {
    let token = config.page_access_token.expose();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("access_token", token);
    if config.appsecret_proof {
        query.append_pair(
            "appsecret_proof",
            &appsecret_proof(config.app_secret.expose(), token),
        );
    }
    Secret::new(query.finish())
}

/// A request body: JSON, or a multipart upload.
enum Body {
    Json(serde_json::Value),
    Multipart { boundary: String, bytes: Vec<u8> },
}

impl GraphClient {
    /// One client per Page of `config`, the default Page first, sharing one HTTP client.
    pub(crate) fn per_page(config: &MessengerConfig) -> Result<Vec<Self>> {
        let http = http_client()?;
        Ok(config
            .page_views()
            .into_iter()
            .map(|view| GraphClient {
                http: http.clone(),
                auth_query: Arc::new(auth_query(&view)),
                config: Arc::new(view),
            })
            .collect())
    }

    /// `url` with `extra`, the token and, when configured, `appsecret_proof` as query
    /// parameters.
    fn signed_url(&self, url: &str, extra: &[(&str, &str)]) -> Result<url::Url> {
        let mut url = url::Url::parse(url).map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, format!("bad Graph URL: {e}"))
                .with_provider(PROVIDER)
        })?;
        let mut query =
            url::form_urlencoded::Serializer::new(url.query().unwrap_or_default().to_owned());
        query.extend_pairs(extra);
        let mut query = query.finish();
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(self.auth_query.expose());
        url.set_query(Some(&query));
        Ok(url)
    }

    /// `GET /me?fields=id`: the id of the node the token belongs to (the Page, for a Page token).
    pub(crate) async fn me(&self) -> Result<String> {
        let url = self.signed_url(&self.config.version_url("me"), &[("fields", "id")])?;
        let resp = self.http.get(url).send().await.map_err(transport)?;
        let r: NodeResponse = read("me", resp).await?;
        Ok(r.id)
    }

    /// `POST /{page_id}/messages` with a JSON body; the `message_id`, if the answer has one.
    pub(crate) async fn send(&self, body: serde_json::Value) -> Result<Option<String>> {
        let r: SendResponse = self.post("messages", Body::Json(body)).await?;
        Ok(r.message_id)
    }

    /// Uploads bytes to `POST /{page_id}/message_attachments`; the `attachment_id`.
    pub(crate) async fn upload(
        &self,
        kind: &str,
        data: &[u8],
        mime: &str,
        filename: &str,
    ) -> Result<String> {
        let (boundary, bytes) = multipart(&upload_message(kind).to_string(), data, mime, filename);
        let r: UploadResponse = self
            .post("message_attachments", Body::Multipart { boundary, bytes })
            .await?;
        Ok(r.attachment_id)
    }

    async fn post<T: DeserializeOwned>(&self, edge: &str, body: Body) -> Result<T> {
        let url = self.signed_url(&self.config.page_url(edge), &[])?;
        let req = self.http.post(url);
        let req = match body {
            Body::Json(v) => req.json(&v),
            Body::Multipart { boundary, bytes } => req
                .header(
                    http::header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(bytes),
        };
        let resp = req.send().await.map_err(transport)?;
        read(edge, resp).await
    }
}

/// The Graph HTTP client: the request timeout, no redirects.
pub(crate) fn http_client() -> Result<reqwest::Client> {
    // A redirect would turn a POST into a GET elsewhere: a 3xx is an error instead.
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, "cannot build the HTTP client")
                .with_provider(PROVIDER)
                .with_source(e)
        })
}

/// The answer of a call to `what`: its JSON on 2xx, else the Graph error it carries.
pub(crate) async fn read<T: DeserializeOwned>(what: &str, resp: reqwest::Response) -> Result<T> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Provider,
                format!("unexpected answer from {what}: {e}"),
            )
            .with_retry(Retry::Ambiguous)
            .with_provider(PROVIDER)
        });
    }
    Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => error_map::from_graph(status, &b.error, &headers),
        Err(_) => error_map::from_status(status, &headers),
    })
}

/// A transport failure. The URL (which holds the token) is stripped from the source.
pub(crate) fn transport(e: reqwest::Error) -> Error {
    let (kind, retry, what) = if e.is_connect() {
        (
            ErrorKind::Transport,
            Retry::Safe,
            "cannot connect to the Graph API",
        )
    } else if e.is_timeout() {
        (
            ErrorKind::Timeout,
            Retry::Ambiguous,
            "the Graph API did not answer in time",
        )
    } else {
        (
            ErrorKind::Transport,
            Retry::Ambiguous,
            "the Graph API connection failed",
        )
    };
    Error::new(kind, what)
        .with_retry(retry)
        .with_provider(PROVIDER)
        .with_source(e.without_url())
}

/// The `message` field of an upload: a reusable attachment of `kind`.
pub(crate) fn upload_message(kind: &str) -> serde_json::Value {
    serde_json::json!({ "attachment": { "type": kind, "payload": { "is_reusable": true } } })
}

/// A `multipart/form-data` body with a `message` field and a `filedata` file.
pub(crate) fn multipart(
    message: &str,
    data: &[u8],
    mime: &str,
    filename: &str,
) -> (String, Vec<u8>) {
    let boundary = format!("switchboard-{:016x}", fastish_hash(data));
    let clean = |s: &str| s.replace(['"', '\r', '\n', '\\'], "_");
    let mut out = Vec::with_capacity(data.len() + 512);
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n{message}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"filedata\"; filename=\"{}\"\r\n\
             Content-Type: {}\r\n\r\n",
            clean(filename),
            clean(mime)
        )
        .as_bytes(),
    );
    out.extend_from_slice(data);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, out)
}

/// A boundary that does not occur in `data` with overwhelming probability (FNV-1a of the data).
fn fastish_hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_body_has_both_fields() {
        let (b, body) = multipart("{\"attachment\":{}}", b"PNGDATA", "image/png", "c\"at.png");
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"message\""
        )));
        assert!(text.contains(
            "name=\"filedata\"; filename=\"c_at.png\"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n"
        ));
        assert!(text.ends_with(&format!("--{b}--\r\n")));
    }
}
