//! Standard Webhooks signatures, as pure functions: the secret's `whsec_` form, the
//! `webhook-signature` header for a message (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
//! one per secret, space separated), and its verification (for tests and receivers written in
//! Rust). "Now" is a parameter, never read here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use switchboard_core::{Error, ErrorKind, Result};

/// The prefix of a secret in its written form.
pub const SECRET_PREFIX: &str = "whsec_";
/// The fewest bytes a secret may have (the spec's lower bound).
pub const MIN_SECRET_BYTES: usize = 24;
/// The most bytes a secret may have (the spec's upper bound).
pub const MAX_SECRET_BYTES: usize = 64;
/// How far a `webhook-timestamp` may be from "now" in [`verify`] (the spec's 5 minutes).
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// A signing secret: `whsec_` followed by the base64 of 24 to 64 random bytes. `Debug` never
/// prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// Reads the written form `whsec_<base64>`. The error says what is wrong (the prefix, the
    /// base64, the length), never the secret.
    ///
    /// # Errors
    ///
    /// When the prefix is not `whsec_`, the rest is not base64, or the key is too short or
    /// too long.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: String| Error::new(ErrorKind::InvalidConfig, why);
        let Some(b64) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(invalid(format!(
                "a secret must start with '{SECRET_PREFIX}' (whsec_ and the base64 of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes)"
            )));
        };
        let bytes = STANDARD.decode(b64.trim()).map_err(|e| {
            invalid(format!(
                "the secret after '{SECRET_PREFIX}' is not base64: {e}"
            ))
        })?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(invalid(format!(
                "a secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, this one holds {}",
                bytes.len()
            )));
        }
        Ok(WebhookSecret(bytes))
    }

    /// A secret over these bytes (any length: for tests and vectors).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        WebhookSecret(bytes.into())
    }

    /// A new random secret of 32 bytes.
    pub fn generate() -> Self {
        WebhookSecret((0..32).map(|_| fastrand::u8(..)).collect())
    }

    /// The written form, `whsec_<base64>`.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// This secret's signature of a message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

/// The `webhook-signature` header: one `v1,…` per secret, space separated (receivers accept a
/// message when any of them verifies, which is how secrets are rotated).
pub fn signature_header(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a message as a receiver does: `timestamp` within [`TOLERANCE_SECS`] of `now`
/// (Unix seconds) and one `v1` signature of `header` made with `secret` (compared in constant
/// time).
///
/// # Errors
///
/// A `Webhook` error saying which check failed: the timestamp outside the tolerance, or no
/// signature matching.
pub fn verify(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<()> {
    if now.abs_diff(timestamp) > TOLERANCE_SECS {
        return Err(Error::new(
            ErrorKind::Webhook,
            "webhook-timestamp is outside the tolerance",
        ));
    }
    for candidate in header.split(' ') {
        let Some(b64) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = STANDARD.decode(b64) else {
            continue;
        };
        if secret.mac(id, timestamp, body).verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(Error::new(
        ErrorKind::Webhook,
        "no v1 signature in webhook-signature matches",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector of the Standard Webhooks reference libraries' tests (and the spec's example):
    /// secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id `msg_p5jXN8AQM9LWM0D4loKWxJek`,
    /// timestamp 1614265330, body `{"test": 2432232314}`.
    #[test]
    fn signs_the_reference_vector() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_else(|e| panic!("{e}"));
        let body = br#"{"test": 2432232314}"#;
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(
            verify(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                body,
                &format!("v1,bogus {sig}"),
                1_614_265_330 + 60,
            )
            .is_ok()
        );
        let stale = verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
            &sig,
            1_614_265_330 + 301,
        );
        assert!(stale.is_err());
        let tampered = verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            b"{}",
            &sig,
            1_614_265_330,
        );
        assert!(tampered.is_err());
    }

    #[test]
    fn one_signature_per_secret() {
        let (a, b) = (WebhookSecret::generate(), WebhookSecret::generate());
        let header = signature_header(&[a.clone(), b.clone()], "evt", 10, b"x");
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(&a, "evt", 10, b"x", &header, 10).is_ok());
        assert!(verify(&b, "evt", 10, b"x", &header, 10).is_ok());
        assert!(WebhookSecret::parse(&a.to_whsec()).is_ok_and(|p| p == a));
    }

    #[test]
    fn bad_secrets_say_why() {
        let msg = |s: &str| {
            WebhookSecret::parse(s)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(msg("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").contains("must start with 'whsec_'"));
        assert!(msg("whsec_!!!").contains("not base64"));
        assert!(msg("whsec_c2hvcnQ=").contains("holds 5"));
        assert!(!format!("{:?}", WebhookSecret::generate()).contains("whsec"));
    }
}
