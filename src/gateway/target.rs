//! The HTTP client that forwards events, and its SSRF guard: host names are resolved by a
//! resolver that drops loopback, private, link-local and other internal addresses (core's
//! [`refused_reason`](switchboard_core::fetch::refused_reason), the media fetcher's check),
//! unless `allow_private_targets`; IP literals are checked when the config is read. No proxy
//! from the environment (a proxy would resolve the name itself), no redirects (a 3xx is a
//! failed attempt: a redirect could point inside the network).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use switchboard_core::{Error, ErrorKind, Result};

struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| {
                    allow_private || switchboard_core::fetch::refused_reason(a.ip()).is_none()
                })
                .collect();
            if kept.is_empty() {
                let why = found
                    .first()
                    .and_then(|a| switchboard_core::fetch::refused_reason(a.ip()))
                    .unwrap_or("no address");
                return Err(format!(
                    "{host} resolves only to refused addresses ({why}; allow_private_targets = true allows them)"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The forwarding client.
pub(crate) fn client(allow_private: bool, timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver { allow_private }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("switchboard-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("gateway: HTTP client: {e}"),
            )
            .with_source(e)
        })
}
