//! Session tokens and upload references: small JSON claims, signed with HMAC-SHA256 under the
//! channel's [`TokenKey`], written `PREFIX.base64url(claims).base64url(mac)`.
//!
//! Clients treat them as opaque. A token carries its channel, conversation and expiry, so it
//! is verified without any lookup; a token of another channel is refused even when both
//! channels share a key.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchboard_core::Secret;
use switchboard_core::model::time::to_millis;

use crate::error::{Reason, WebchatError};
use crate::signature::{mac, verify_mac};

/// The longest token or reference accepted, in bytes: above the longest one this crate
/// issues (a verified user's, with a 256-byte user id written twice, JSON-escaped, and a
/// 100-character name, is about 2,100 bytes; 1,024 refused such users' own tokens: found by
/// the `webchat` fuzz target).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The prefix of session tokens (version 1).
pub(crate) const SESSION_PREFIX: &str = "wc1";
/// The prefix of upload references (version 1).
pub(crate) const UPLOAD_PREFIX: &str = "wu1";

/// The key that signs a channel's tokens. `Debug` prints `***`.
///
/// The engine gives every channel a durable key (so tokens survive restarts and work on every
/// instance); [`TokenKey::random`] is the per-process default until it does.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl TokenKey {
    /// A key of 32 random bytes from the operating system.
    ///
    /// # Errors
    ///
    /// `Transport` (`Safe`) when the operating system gives no randomness.
    pub fn random() -> switchboard_core::Result<Self> {
        let mut key = [0_u8; 32];
        random_bytes(&mut key)?;
        Ok(TokenKey(key))
    }

    /// A key derived from a secret (HMAC-SHA256 of a fixed label keyed with it), for operators
    /// who configure one.
    pub fn from_secret(secret: &Secret) -> Self {
        TokenKey(mac(
            secret.expose().as_bytes(),
            b"switchboard-webchat token key v1",
        ))
    }

    /// A key of these bytes (a key the engine stored).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenKey(bytes)
    }

    /// The key's bytes (for the engine to keep it in its store).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) -> switchboard_core::Result<()> {
    getrandom::fill(buf).map_err(|e| {
        switchboard_core::Error::new(
            switchboard_core::ErrorKind::Transport,
            format!("no randomness from the operating system: {e}"),
        )
        .with_retry(switchboard_core::Retry::Safe)
    })
}

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The channel it was issued for.
    #[serde(rename = "ch")]
    pub channel: String,
    /// The conversation it opens.
    #[serde(rename = "cv")]
    pub conversation: String,
    /// The verified user id, for a verified user.
    #[serde(rename = "uid", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The visitor's display name.
    #[serde(rename = "nm", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Issued at, Unix ms.
    #[serde(rename = "iat")]
    pub issued_at: i64,
    /// Expires at, Unix ms.
    #[serde(rename = "exp")]
    pub expires_at: i64,
}

impl SessionClaims {
    /// Whether the token is past its expiry at `now`.
    pub fn expired_at(&self, now: SystemTime) -> bool {
        to_millis(now) >= self.expires_at
    }
}

/// What an upload reference says: a file stored for one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadClaims {
    /// The channel.
    #[serde(rename = "ch")]
    pub channel: String,
    /// The conversation it may be used in.
    #[serde(rename = "cv")]
    pub conversation: String,
    /// The stored file's id (its path segment under `uploads/`).
    pub id: String,
    /// The content type.
    #[serde(rename = "mt")]
    pub mime_type: String,
    /// The file name.
    #[serde(rename = "fn")]
    pub filename: String,
    /// The size in bytes.
    #[serde(rename = "sz")]
    pub size: u64,
}

/// Signs `claims` under `key` with `prefix`.
pub(crate) fn seal<T: Serialize>(key: &TokenKey, prefix: &str, claims: &T) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!("{prefix}.{}", B64.encode(json));
    let tag = mac(&key.0, signed.as_bytes());
    format!("{signed}.{}", B64.encode(tag))
}

/// Verifies and decodes a token sealed with `prefix`: `bad_token` when it is not one, was
/// altered or was signed with another key.
pub(crate) fn open<T: DeserializeOwned>(
    key: &TokenKey,
    prefix: &str,
    token: &str,
) -> Result<T, WebchatError> {
    let bad = || WebchatError::new(Reason::BadToken, "the token is not valid");
    if token.len() > MAX_TOKEN_BYTES {
        return Err(bad());
    }
    let (signed, tag) = token.rsplit_once('.').ok_or_else(bad)?;
    let (p, body) = signed.split_once('.').ok_or_else(bad)?;
    if p != prefix {
        return Err(bad());
    }
    let tag = B64.decode(tag).map_err(|_| bad())?;
    if !verify_mac(&key.0, signed.as_bytes(), &tag) {
        return Err(bad());
    }
    let json = B64.decode(body).map_err(|_| bad())?;
    serde_json::from_slice(&json).map_err(|_| bad())
}

/// Issues a session token for `claims`.
pub fn issue_session(key: &TokenKey, claims: &SessionClaims) -> String {
    seal(key, SESSION_PREFIX, claims)
}

/// Verifies a session token for `channel` at `now`: `bad_token` (not ours, altered),
/// `foreign_token` (another channel's), `token_expired`.
///
/// # Errors
///
/// The [`WebchatError`] of the first check that fails, in that order.
pub fn verify_session(
    key: &TokenKey,
    channel: &str,
    token: &str,
    now: SystemTime,
) -> Result<SessionClaims, WebchatError> {
    let claims: SessionClaims = open(key, SESSION_PREFIX, token)?;
    if claims.channel != channel {
        return Err(WebchatError::new(
            Reason::ForeignToken,
            "the token was issued for another channel",
        ));
    }
    if claims.expired_at(now) {
        return Err(WebchatError::new(
            Reason::TokenExpired,
            "the token has expired",
        ));
    }
    Ok(claims)
}

/// Issues an upload reference for `claims` (what `POST uploads` answers).
pub fn issue_upload(key: &TokenKey, claims: &UploadClaims) -> String {
    seal(key, UPLOAD_PREFIX, claims)
}

/// Verifies an upload reference for use in `conversation` of `channel`.
///
/// # Errors
///
/// `bad_token` when it is not a reference of this server, `invalid_request` when it belongs
/// to another conversation.
pub fn verify_upload(
    key: &TokenKey,
    channel: &str,
    conversation: &str,
    reference: &str,
) -> Result<UploadClaims, WebchatError> {
    let claims: UploadClaims = open(key, UPLOAD_PREFIX, reference)?;
    if claims.channel != channel || claims.conversation != conversation {
        return Err(WebchatError::new(
            Reason::InvalidRequest,
            "the upload belongs to another conversation",
        ));
    }
    Ok(claims)
}

/// `now + ttl` in Unix ms.
pub(crate) fn expiry(now: SystemTime, ttl: Duration) -> i64 {
    to_millis(now + ttl)
}

#[cfg(test)]
mod tests;
