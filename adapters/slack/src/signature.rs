//! Slack request signing: `X-Slack-Signature` and `X-Slack-Request-Timestamp`.
//!
//! `X-Slack-Signature: v0=<hex HMAC-SHA256(signing_secret, "v0:{timestamp}:{raw body}")>`,
//! accepted when the timestamp is within [`SIGNATURE_WINDOW`] of the receive time, in either
//! direction (as python-slack-sdk and java-slack-sdk do). The functions here are pure: the clock
//! is a parameter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use switchboard_core::RejectReason;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the signed Unix timestamp (seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The only signature version Slack uses.
pub const VERSION: &str = "v0";
/// How far the signed timestamp may be from the receive time.
pub const SIGNATURE_WINDOW: Duration = Duration::from_secs(300);

/// Why a signature check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature or timestamp header is absent.
    Missing,
    /// The timestamp is not a number of seconds.
    BadTimestamp,
    /// The timestamp is more than 300 s away from `now`.
    Stale,
    /// The signature does not start with `v0=`.
    UnknownVersion,
    /// The signature does not match the body.
    Mismatch,
}

impl SignatureError {
    /// The webhook rejection reason for this failure.
    pub fn reject_reason(self) -> RejectReason {
        match self {
            SignatureError::Missing => RejectReason::MissingSignature,
            SignatureError::Stale => RejectReason::StaleTimestamp,
            SignatureError::BadTimestamp
            | SignatureError::UnknownVersion
            | SignatureError::Mismatch => RejectReason::BadSignature,
        }
    }

    /// A short explanation, safe to send back.
    pub fn detail(self) -> &'static str {
        match self {
            SignatureError::Missing => {
                "missing X-Slack-Signature or X-Slack-Request-Timestamp header"
            }
            SignatureError::BadTimestamp => "X-Slack-Request-Timestamp is not a number",
            SignatureError::Stale => "X-Slack-Request-Timestamp is more than 300 s from now",
            SignatureError::UnknownVersion => "unknown signature version (expected v0=)",
            SignatureError::Mismatch => "signature does not match the body",
        }
    }
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp` (the header's text).
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "{VERSION}={}",
        hex::encode(mac(signing_secret, timestamp, body))
    )
}

/// The HMAC state keyed with a signing secret: the adapter computes it once, not per request.
pub(crate) type SigningKey = Hmac<Sha256>;

/// The [`SigningKey`] of `signing_secret`.
pub(crate) fn signing_key(signing_secret: &str) -> SigningKey {
    <Hmac<Sha256> as KeyInit>::new_from_slice(signing_secret.as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length")
}

/// HMAC-SHA256(signing_secret, "v0:{timestamp}:{body}").
fn mac(signing_secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    mac_keyed(&signing_key(signing_secret), timestamp, body)
}

fn mac_keyed(key: &SigningKey, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = key.clone();
    mac.update(VERSION.as_bytes());
    mac.update(b":");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Verifies a Slack request signature.
///
/// `timestamp` and `signature` are the header values (`None` when absent); `now` is the receive
/// time. The comparison is constant time; the timestamp must be within 300 s of `now` in either
/// direction; a signature that does not start with `v0=` is refused.
///
/// # Errors
///
/// A [`SignatureError`]: a missing header, a malformed timestamp, a timestamp outside the
/// window, or a signature that does not match.
pub fn verify(
    signing_secret: &str,
    timestamp: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
    now: SystemTime,
) -> Result<(), SignatureError> {
    verify_keyed(
        &signing_key(signing_secret),
        timestamp,
        body,
        signature,
        now,
    )
}

/// [`verify`] with the secret's [`SigningKey`].
pub(crate) fn verify_keyed(
    key: &SigningKey,
    timestamp: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let now = unix_seconds(now);
    if now.abs_diff(ts) > SIGNATURE_WINDOW.as_secs() {
        return Err(SignatureError::Stale);
    }
    let Some((version, _)) = signature.split_once('=') else {
        return Err(SignatureError::UnknownVersion);
    };
    if version != VERSION {
        return Err(SignatureError::UnknownVersion);
    }
    // The lowercase hex of the MAC, compared in constant time with what follows `v0=` (upper
    // case or another length does not match), without building the header text.
    let mut expected = [0u8; 64];
    hex::encode_to_slice(mac_keyed(key, timestamp, body), &mut expected)
        .expect("64 hex digits for 32 bytes");
    let given = signature.get(VERSION.len() + 1..).unwrap_or("");
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_slice(),
        given.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn documented_example_signs_and_verifies() {
        assert_eq!(sign(SECRET, "1531420618", BODY.as_bytes()), SIG);
        let now = at(1_531_420_618);
        assert_eq!(
            verify(SECRET, Some("1531420618"), BODY.as_bytes(), Some(SIG), now),
            Ok(())
        );
    }

    #[test]
    fn window_is_300_seconds_both_ways() {
        let ok = |now| {
            verify(
                SECRET,
                Some("1531420618"),
                BODY.as_bytes(),
                Some(SIG),
                at(now),
            )
        };
        assert_eq!(ok(1_531_420_918), Ok(()));
        assert_eq!(ok(1_531_420_318), Ok(()));
        assert_eq!(ok(1_531_420_919), Err(SignatureError::Stale));
        assert_eq!(ok(1_531_420_317), Err(SignatureError::Stale));
    }

    #[test]
    fn versions_and_garbage_are_refused() {
        let now = at(1_531_420_618);
        let v1 = SIG.replacen("v0=", "v1=", 1);
        for (sig, want) in [
            (v1.as_str(), SignatureError::UnknownVersion),
            ("a2114d57", SignatureError::UnknownVersion),
            ("v0=", SignatureError::Mismatch),
            (
                "v0=A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503",
                SignatureError::Mismatch,
            ),
        ] {
            assert_eq!(
                verify(SECRET, Some("1531420618"), BODY.as_bytes(), Some(sig), now),
                Err(want),
                "{sig}"
            );
        }
        assert_eq!(
            verify(SECRET, Some("soon"), BODY.as_bytes(), Some(SIG), now),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, Some("1531420618"), BODY.as_bytes(), None, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            SignatureError::Stale.reject_reason(),
            RejectReason::StaleTimestamp
        );
    }
}
