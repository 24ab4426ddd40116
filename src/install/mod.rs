//! Installations of multi-tenant channels, kept in the store with their tokens encrypted at
//! rest (issue 16).
//!
//! - [`KeyRing`]: AES-256-GCM keys from `[installs] keys` (32 bytes each, hex or base64,
//!   usually `"${SWITCHBOARD_INSTALL_KEY}"`). The first key seals, every key opens, and each
//!   sealed value names its key, so keys rotate without a migration. A value no configured key
//!   opens is an `InvalidConfig` error naming the key id it needs.
//! - [`StoreInstallations`]: [`Installations`](switchboard_core::Installations) over any
//!   [`Store`](crate::store::Store): public facts (scopes, ids, expiry) in the clear for
//!   `switchboard installs list`, tokens sealed and bound to their (channel, tenant) row.
//! - [`state`]: the OAuth `state` the install routes hand out: HMAC-signed, expiring after
//!   ten minutes, spent once in the store (so a replay is refused on every instance).
//!
//! The engine builds them when `[installs]` is configured and hands them to every adapter
//! ([`Adapter::attach_installations`](switchboard_core::Adapter::attach_installations)); a
//! channel that offers an OAuth flow without `[installs]` is a startup error.

mod keys;
pub mod state;
mod stored;

pub use keys::KeyRing;
pub use stored::StoreInstallations;
