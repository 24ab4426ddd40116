//! The OAuth `state` of the install routes: `{nonce}.{expires ms}.{signature}`, the
//! signature an HMAC-SHA256 of `{channel}.{nonce}.{expires ms}` under a key derived from each
//! `[installs] keys` entry (the first signs, all verify, as for the tokens). It is
//! CSRF protection: only this deployment can make one, for one channel, for ten minutes;
//! [`Installations::spend_state`](switchboard_core::Installations::spend_state) makes it
//! single use across instances.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use switchboard_core::model::time::{from_millis, to_millis};
use switchboard_core::{Error, ErrorKind, Result};

use super::KeyRing;

/// How long a state is good for.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// Why a state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Not a state this deployment makes (missing, or not three parts).
    Malformed,
    /// The signature does not verify for this channel (forged, or for another channel).
    Forged,
    /// Older than [`STATE_TTL`].
    Expired,
    /// Spent before (a replayed callback).
    Replayed,
}

impl StateError {
    /// A short reason for the HTTP answer and the log line.
    pub fn reason(self) -> &'static str {
        match self {
            StateError::Malformed => "missing or malformed state",
            StateError::Forged => "state signature does not verify",
            StateError::Expired => "state expired; start the install again",
            StateError::Replayed => "state already used; start the install again",
        }
    }
}

/// A checked state: its nonce (to spend) and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedState {
    /// The nonce to spend.
    pub nonce: String,
    /// When it expires.
    pub expires_at: SystemTime,
}

fn mac(key: &[u8; 32], channel: &str, nonce: &str, expires: i64) -> Hmac<Sha256> {
    // A key of its own per purpose: HMAC(install key, label).
    let mut derive = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    derive.update(b"switchboard/oauth-state/v1");
    let derived = derive.finalize().into_bytes();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&derived)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{channel}.{nonce}.{expires}").as_bytes());
    mac
}

/// A fresh state for `channel` at `now`.
///
/// # Errors
///
/// `Transport` when the system's random source fails.
pub fn issue(keys: &KeyRing, channel: &str, now: SystemTime) -> Result<String> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| {
        Error::new(
            ErrorKind::Transport,
            format!("oauth state: no random nonce: {e}"),
        )
    })?;
    let nonce = hex::encode(nonce);
    let expires = to_millis(now + STATE_TTL);
    let key = keys
        .raw_keys()
        .next()
        .ok_or_else(|| Error::new(ErrorKind::InvalidConfig, "installs.keys: no key"))?;
    let sig = mac(key, channel, &nonce, expires).finalize().into_bytes();
    Ok(format!("{nonce}.{expires}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Checks `state`'s form, signature (any key of the ring) and expiry at `now`; spending it
/// is the caller's next step.
///
/// # Errors
///
/// The [`StateError`] that refuses it.
pub fn check(
    keys: &KeyRing,
    channel: &str,
    state: &str,
    now: SystemTime,
) -> std::result::Result<CheckedState, StateError> {
    let mut parts = state.split('.');
    let (Some(nonce), Some(expires), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StateError::Malformed);
    };
    let expires: i64 = expires.parse().map_err(|_| StateError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| StateError::Malformed)?;
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StateError::Malformed);
    }
    let verified = keys
        .raw_keys()
        .any(|k| mac(k, channel, nonce, expires).verify_slice(&sig).is_ok());
    if !verified {
        return Err(StateError::Forged);
    }
    let expires_at = from_millis(expires);
    if expires_at <= now {
        return Err(StateError::Expired);
    }
    Ok(CheckedState {
        nonce: nonce.to_owned(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(k: u8) -> KeyRing {
        KeyRing::new(&[hex::encode([k; 32])]).unwrap()
    }

    #[test]
    fn states_verify_for_their_channel_until_they_expire() {
        let keys = ring(1);
        let now = SystemTime::now();
        let s = issue(&keys, "team", now).unwrap();
        let ok = check(&keys, "team", &s, now).unwrap();
        assert_eq!(ok.nonce.len(), 32);
        assert_eq!(check(&keys, "other", &s, now), Err(StateError::Forged));
        assert_eq!(check(&ring(2), "team", &s, now), Err(StateError::Forged));
        assert_eq!(
            check(&keys, "team", &s, now + STATE_TTL + Duration::from_secs(1)),
            Err(StateError::Expired)
        );
        // A later expiry written into a real state breaks its signature.
        let (n, rest) = s.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!("{n}.{}.{sig}", to_millis(now) + 10_000_000);
        assert_eq!(check(&keys, "team", &forged, now), Err(StateError::Forged));
        for bad in ["", "a.b", "x.1.y", "a.b.c.d"] {
            assert_eq!(
                check(&keys, "team", bad, now),
                Err(StateError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn rotated_keys_still_verify_states_in_flight() {
        let old = ring(1);
        let now = SystemTime::now();
        let s = issue(&old, "team", now).unwrap();
        let rotated = KeyRing::new(&[hex::encode([2u8; 32]), hex::encode([1u8; 32])]).unwrap();
        assert!(check(&rotated, "team", &s, now).is_ok());
    }
}
