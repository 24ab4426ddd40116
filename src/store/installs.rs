//! Installations as a store keeps them (see [`crate::install`] for the encryption above it):
//! one row per (channel, tenant) with its public facts as JSON and its tokens sealed, a
//! refresh lease, and the OAuth `state` nonces already spent.
//!
//! # The contract
//!
//! - [`put_install`](super::Store::put_install) replaces the row of its (channel, tenant) and
//!   releases its refresh lease; [`delete_install`](super::Store::delete_install) answers
//!   whether a row went.
//! - [`claim_install_refresh`](super::Store::claim_install_refresh) sets the lease to `until`
//!   when it has run out at `now` (or was never taken) and answers `true`; for a held lease or
//!   no row, `false`, nothing written. One caller wins across every instance sharing the store.
//! - [`spend_oauth_state`](super::Store::spend_oauth_state) answers `true` for a nonce not
//!   spent before and keeps it until its expiry; states expired at `now` are forgotten in the
//!   same call, so the table holds only live ones.
//! - The store never sees a token in the clear: `sealed` is opaque to it.

use std::time::SystemTime;

/// One installation as stored.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstallRow {
    /// The channel name.
    pub channel: String,
    /// The provider's tenant id.
    pub tenant: String,
    /// The public facts (scopes, ids, times), as JSON.
    pub meta: String,
    /// The tokens, sealed (encrypted and authenticated) by [`crate::install`].
    pub sealed: String,
    /// When the access token expires, if it does (listed without decrypting).
    pub expires_at: Option<SystemTime>,
    /// When the row was written.
    pub updated_at: SystemTime,
}

impl InstallRow {
    /// A row of `tenant` on `channel`.
    pub fn new(
        channel: impl Into<String>,
        tenant: impl Into<String>,
        meta: impl Into<String>,
        sealed: impl Into<String>,
        expires_at: Option<SystemTime>,
        updated_at: SystemTime,
    ) -> Self {
        InstallRow {
            channel: channel.into(),
            tenant: tenant.into(),
            meta: meta.into(),
            sealed: sealed.into(),
            expires_at,
            updated_at,
        }
    }
}

impl std::fmt::Debug for InstallRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallRow")
            .field("channel", &self.channel)
            .field("tenant", &self.tenant)
            .field("meta", &self.meta)
            .field("sealed", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
