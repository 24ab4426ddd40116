//! The resolver of the checked client: resolves a name, then keeps only the addresses a download
//! may connect to. The connection goes to exactly those addresses, so there is no window between
//! the check and the connect (a name that resolves to a public address for the check and to
//! `127.0.0.1` for the connect cannot slip through).

use std::fmt;
use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::refused_reason;

/// Why a host was refused: every address it resolved to is internal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusedHost {
    pub(crate) host: String,
    pub(crate) reason: &'static str,
}

impl fmt::Display for RefusedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host '{}' resolves to {}", self.host, self.reason)
    }
}

impl std::error::Error for RefusedHost {}

/// A [`Resolve`] that drops refused addresses (see [`refused_reason`]) and fails when none is
/// left.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CheckedResolver;

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused) = filter(found);
            if allowed.is_empty() {
                let reason = refused.unwrap_or("no address");
                return Err(Box::new(RefusedHost { host, reason }) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The addresses that may be connected to, and the reason of the first refused one.
pub(crate) fn filter(found: Vec<SocketAddr>) -> (Vec<SocketAddr>, Option<&'static str>) {
    let mut refused = None;
    let allowed = found
        .into_iter()
        .filter(|a| match refused_reason(a.ip()) {
            Some(r) => {
                refused.get_or_insert(r);
                false
            }
            None => true,
        })
        .collect();
    (allowed, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_dropped_from_an_answer() {
        let addrs: Vec<SocketAddr> = ["127.0.0.1:0", "8.8.8.8:0", "[::1]:0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let (allowed, refused) = filter(addrs);
        assert_eq!(allowed, vec!["8.8.8.8:0".parse::<SocketAddr>().unwrap()]);
        assert_eq!(refused, Some("a loopback address"));
    }

    #[tokio::test]
    async fn localhost_is_refused_after_resolution() {
        let err = CheckedResolver
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        let refused = err.downcast_ref::<RefusedHost>().expect("a RefusedHost");
        assert_eq!(refused.host, "localhost");
        assert!(refused.reason.contains("loopback"), "{refused}");
    }
}
