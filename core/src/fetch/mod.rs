//! Safe downloads of inbound media (feature `fetch`): what every adapter's
//! [`fetch_attachment`](crate::Adapter::fetch_attachment) goes through.
//!
//! An attachment URL comes from a webhook, so an attacker who can send a message chooses it. A
//! [`MediaFetcher`] refuses to turn that into a request to the inside of the network:
//!
//! - Only `https` (plain `http` only with [`FetchPolicy::allow_http`]).
//! - Host names are resolved by a resolver that drops every internal address (loopback,
//!   private, CGNAT, link-local including `169.254.169.254`, unspecified, multicast, broadcast,
//!   and their IPv6 and IPv4-in-IPv6 forms: see [`refused_reason`]); the connection goes to an
//!   address that was checked, never to a second resolution. IP-literal hosts are checked as
//!   written. No proxy from the environment is used (a proxy would resolve the name itself).
//! - Redirects are followed by hand, at most [`FetchPolicy::max_redirects`] hops, and every
//!   hop is checked like the first.
//! - Credentials go only to a hop whose URL the adapter names as the provider's own (its
//!   `provider_host` test) and only over `https`: a redirect off the provider's host carries
//!   none.
//!
//! A refused URL is an [`ErrorKind::UnsafeUrl`] error (`Retry::Never`), before any connection.
//!
//! **Size.** A body is read with [`MediaFetcher::read_body`], never whole into memory first:
//! a `Content-Length` over [`FetchPolicy::max_bytes`] is refused before any byte is read, and
//! the bytes are counted as they stream, so a body without a length (chunked) or one that lies
//! about it is cut off one chunk past the cap. Either way the answer is an
//! [`ErrorKind::TooLarge`] error (`Retry::Never`) naming the cap. Each adapter sets its
//! provider's cap (Twilio MMS 5 MiB, Messenger 25 MiB, Slack configurable); the default is
//! [`DEFAULT_MAX_BYTES`].
//!
//! **The one exception: the channel's `api_base_url`.** Tests, the sandbox and emulators serve
//! media from the configured API host, typically `http://127.0.0.1:PORT`. Adapters pass that
//! URL as the [`trusted_origin`](FetchPolicy::trusted_origin): requests to exactly that origin
//! (scheme, host and port) skip the address and scheme checks, since the operator chose it and
//! it already receives the credentials. With the default `api_base_url` (the provider's public
//! `https` API) nothing internal is reachable. Every other origin is checked, so a redirect from
//! an emulator at `127.0.0.1:4010` to `127.0.0.1:6379` is still refused.

mod address;
mod resolve;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use crate::config::Secret;
use crate::error::{Error, ErrorKind, Result, Retry};

pub use address::refused_reason;
use resolve::{CheckedResolver, RefusedHost};

/// Redirect hops followed at most, unless the policy says otherwise.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;

/// The largest body read, unless the policy says otherwise: 25 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 25 * 1024 * 1024;

/// Credentials for the provider's own media hosts.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// HTTP Basic (Twilio: account or API key SID and secret).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `Authorization: Bearer` (Slack's bot token).
    Bearer(Secret),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credentials {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::Basic { user, password } => {
                request.basic_auth(user, Some(password.expose()))
            }
            Credentials::Bearer(token) => request.bearer_auth(token.expose()),
        }
    }
}

/// What a [`MediaFetcher`] allows. The default is the safe one: `https` only, public addresses
/// only, [`DEFAULT_MAX_REDIRECTS`] hops, no trusted origin.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchPolicy {
    /// An origin exempt from the checks: the channel's `api_base_url` (see the module docs).
    pub trusted_origin: Option<Url>,
    /// Allow plain `http` to any host (never the default).
    pub allow_http: bool,
    /// Allow internal addresses (never the default; for tests of this module and for
    /// deployments whose provider really is on the private network).
    pub allow_private: bool,
    /// Redirect hops followed at most.
    pub max_redirects: usize,
    /// The timeout of each hop.
    pub timeout: Duration,
    /// The largest body [`MediaFetcher::read_body`] reads, in bytes.
    pub max_bytes: u64,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            trusted_origin: None,
            allow_http: false,
            allow_private: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            timeout: Duration::from_secs(30),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl FetchPolicy {
    /// The safe default with this per-hop timeout.
    pub fn new(timeout: Duration) -> Self {
        FetchPolicy {
            timeout,
            ..FetchPolicy::default()
        }
    }

    /// Trusts the origin of `api_base_url` (ignored when it is not a URL).
    pub fn trusting(mut self, api_base_url: &str) -> Self {
        self.trusted_origin = Url::parse(api_base_url).ok();
        self
    }

    /// Allows plain `http`.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Allows internal addresses.
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Caps bodies at `bytes`.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    fn trusts(&self, url: &Url) -> bool {
        self.trusted_origin.as_ref().is_some_and(|t| {
            t.scheme() == url.scheme()
                && t.host() == url.host()
                && t.port_or_known_default() == url.port_or_known_default()
        })
    }
}

/// An HTTP client for attachment downloads that cannot be pointed at internal services.
#[derive(Debug, Clone)]
pub struct MediaFetcher {
    policy: Arc<FetchPolicy>,
    /// Internal addresses filtered out at resolution; no environment proxy.
    checked: reqwest::Client,
    /// For the trusted origin (and `allow_private`): an ordinary client.
    plain: reqwest::Client,
}

impl MediaFetcher {
    /// A fetcher with `policy`, sending `user_agent`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the HTTP client cannot be built (the TLS backend failed to start).
    pub fn new(policy: FetchPolicy, user_agent: &str) -> Result<Self> {
        let build = |checked: bool| {
            let mut b = reqwest::Client::builder()
                .timeout(policy.timeout)
                .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
                .user_agent(user_agent)
                .redirect(reqwest::redirect::Policy::none());
            if checked {
                b = b.no_proxy().dns_resolver(Arc::new(CheckedResolver));
            }
            b.build().map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    "cannot build the media HTTP client",
                )
                .with_source(e)
            })
        };
        Ok(MediaFetcher {
            checked: build(true)?,
            plain: build(false)?,
            policy: Arc::new(policy),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// `GET url`, following redirects; each hop is checked, and gets `credentials` only when
    /// `provider_host` accepts its URL and it is `https` (or the trusted origin). Returns the
    /// first answer that is not a redirect, whatever its status: the adapter maps it.
    ///
    /// # Errors
    ///
    /// `UnsafeUrl` for a refused URL or hop (scheme, address, too many redirects, a redirect
    /// without a valid `Location`); `Timeout` or `Transport` (both `Retry::Safe`: a download
    /// changes nothing) when the network fails.
    pub async fn get(
        &self,
        url: &str,
        credentials: Option<&Credentials>,
        provider_host: &(dyn Fn(&Url) -> bool + Send + Sync),
    ) -> Result<reqwest::Response> {
        let mut url = Url::parse(url).map_err(|e| unsafe_url(format!("not a URL: {e}")))?;
        let mut hops = 0;
        loop {
            let trusted = self.policy.trusts(&url);
            if !trusted {
                self.check(&url)?;
            }
            let client = if trusted || self.policy.allow_private {
                &self.plain
            } else {
                &self.checked
            };
            let mut request = client.get(url.clone());
            if let Some(c) = credentials
                && provider_host(&url)
                && (trusted || url.scheme() == "https")
            {
                request = c.apply(request);
            }
            let response = request.send().await.map_err(send_error)?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response.headers().get(http::header::LOCATION) else {
                return Ok(response);
            };
            hops += 1;
            if hops > self.policy.max_redirects {
                return Err(unsafe_url(format!(
                    "more than {} redirects",
                    self.policy.max_redirects
                )));
            }
            let location = location
                .to_str()
                .map_err(|_| unsafe_url("a redirect whose Location is not text"))?;
            url = url
                .join(location)
                .map_err(|e| unsafe_url(format!("a redirect to an invalid URL: {e}")))?;
        }
    }

    /// Reads `response`'s body, at most [`FetchPolicy::max_bytes`]: a larger `Content-Length`
    /// is refused before reading, and the streamed bytes are counted (a body without a length,
    /// or with a false one, stops one chunk past the cap). Use it for error bodies too.
    ///
    /// # Errors
    ///
    /// `TooLarge` (`Retry::Never`) naming the cap; `Timeout` or `Transport` (`Retry::Safe`)
    /// when the body is cut off.
    pub async fn read_body(&self, mut response: reqwest::Response) -> Result<bytes::Bytes> {
        let max = self.policy.max_bytes;
        if let Some(len) = response.content_length()
            && len > max
        {
            return Err(too_large(max, format!("Content-Length {len}")));
        }
        let capacity = response.content_length().unwrap_or(0).min(max);
        let mut body = bytes::BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(send_error)? {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(too_large(max, "more bytes than that"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// The checks a URL outside the trusted origin must pass before any connection.
    fn check(&self, url: &Url) -> Result<()> {
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_http => {}
            other => {
                return Err(unsafe_url(format!(
                    "scheme '{other}' (only https is fetched)"
                )));
            }
        }
        if self.policy.allow_private {
            return Ok(());
        }
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => ip.into(),
            Some(Host::Ipv6(ip)) => ip.into(),
            // Names are checked after resolution (`CheckedResolver`).
            Some(Host::Domain(_)) => return Ok(()),
            None => return Err(unsafe_url("a URL without a host")),
        };
        match refused_reason(ip) {
            Some(reason) => Err(unsafe_url(format!("host {ip} is {reason}"))),
            None => Ok(()),
        }
    }
}

fn unsafe_url(why: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::UnsafeUrl,
        format!("attachment URL refused: {why}"),
    )
}

/// An attachment over the cap of `max` bytes; `seen` says how it showed.
fn too_large(max: u64, seen: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!(
            "attachment over this channel's cap of {} ({max} bytes): {seen}",
            human_size(max)
        ),
    )
    .with_retry(Retry::Never)
}

/// `bytes` in MiB or KiB where exact, else in bytes.
pub fn human_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// A failed hop: a refused resolution is `UnsafeUrl`, the rest `Timeout` or `Transport`. The
/// URL is left out (signed media URLs are credentials).
fn send_error(e: reqwest::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<RefusedHost>() {
            return unsafe_url(refused);
        }
        source = s.source();
    }
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport
    };
    Error::new(kind, "attachment download failed")
        .with_retry(Retry::Safe)
        .with_source(e.without_url())
}

#[cfg(test)]
mod tests;
