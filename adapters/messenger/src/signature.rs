//! Pure signing and verification functions: the webhook signature, the verification handshake's
//! token check, and `appsecret_proof`.
//!
//! Meta signs every webhook `POST` with `X-Hub-Signature-256: sha256=<hex>`, the lowercase hex
//! HMAC-SHA256 of the raw body under the App Secret. The signature is over the bytes exactly as
//! sent (Meta escapes non-ASCII characters as `\u00e4`), so it must be checked on the raw bytes,
//! never on a re-serialised body. Meta signs no timestamp: there is no replay window.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_core::RejectReason;

/// The signature header (lowercase, as `http` stores names).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The prefix of the header value.
const PREFIX: &str = "sha256=";

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The `X-Hub-Signature-256` value for `body`: `sha256=` + lowercase hex HMAC-SHA256(app secret, body).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(hmac_sha256(app_secret.as_bytes(), body))
    )
}

/// Verifies an `X-Hub-Signature-256` header value over the raw `body`, in constant time.
///
/// `None` (no header) is [`RejectReason::MissingSignature`]; a value without the `sha256=` prefix,
/// with bad hex, or with a different MAC is [`RejectReason::BadSignature`]. Upper-case hex is
/// accepted (the MAC bytes are compared, not the text). An empty `app_secret` verifies nothing:
/// anyone could sign with it.
///
/// # Errors
///
/// [`RejectReason::MissingSignature`] without a header, [`RejectReason::BadSignature`] for a
/// malformed or different signature or an empty `app_secret`.
pub fn verify(app_secret: &str, body: &[u8], header: Option<&str>) -> Result<(), RejectReason> {
    let Some(value) = header else {
        return Err(RejectReason::MissingSignature);
    };
    if app_secret.is_empty() {
        return Err(RejectReason::BadSignature);
    }
    let value = value.trim();
    let Some(hex_mac) = value
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| value.get(PREFIX.len()..))
    else {
        return Err(RejectReason::BadSignature);
    };
    // A MAC of any other length could not match anyway.
    let mut given = [0u8; 32];
    if hex::decode_to_slice(hex_mac, &mut given).is_err() {
        return Err(RejectReason::BadSignature);
    }
    let expected = hmac_sha256(app_secret.as_bytes(), body);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(RejectReason::BadSignature)
    }
}

/// Whether the handshake's `hub.verify_token` equals the configured token, in constant time.
/// An empty configured token matches nothing.
pub fn verify_token_matches(configured: &str, given: &str) -> bool {
    if configured.is_empty() {
        return false;
    }
    // Compare MACs of both so that the comparison does not leak the length either.
    let a = hmac_sha256(b"switchboard-verify-token", configured.as_bytes());
    let b = hmac_sha256(b"switchboard-verify-token", given.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// `appsecret_proof`: lowercase hex HMAC-SHA256(app secret, access token), sent with every
/// Graph call when the app requires it.
pub fn appsecret_proof(app_secret: &str, access_token: &str) -> String {
    hex::encode(hmac_sha256(app_secret.as_bytes(), access_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let sig = sign("s3cret", b"{\"object\":\"page\"}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), 7 + 64);
        assert_eq!(
            verify("s3cret", b"{\"object\":\"page\"}", Some(&sig)),
            Ok(())
        );
        assert_eq!(
            verify("other", b"{\"object\":\"page\"}", Some(&sig)),
            Err(RejectReason::BadSignature)
        );
    }

    #[test]
    fn malformed_headers_are_bad_signatures() {
        for bad in [
            "",
            "sha256=",
            "sha256=zz",
            "sha1=abcd",
            "757107ea",
            "sha256",
        ] {
            assert_eq!(
                verify("k", b"x", Some(bad)),
                Err(RejectReason::BadSignature),
                "{bad:?}"
            );
        }
        assert_eq!(verify("k", b"x", None), Err(RejectReason::MissingSignature));
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let sig = sign("k", b"body").to_uppercase();
        assert_eq!(verify("k", b"body", Some(&sig)), Ok(()));
    }

    #[test]
    fn verify_token_comparison() {
        assert!(verify_token_matches("1qaz2wsx", "1qaz2wsx"));
        assert!(!verify_token_matches("1qaz2wsx", "3edc4rfv"));
        assert!(!verify_token_matches("1qaz2wsx", "1qaz2wsx "));
        assert!(!verify_token_matches("1qaz2wsx", ""));
        assert!(!verify_token_matches("", ""));
    }

    #[test]
    fn an_empty_app_secret_verifies_nothing() {
        let forged = sign("", b"{}");
        assert_eq!(
            verify("", b"{}", Some(&forged)),
            Err(RejectReason::BadSignature)
        );
    }

    #[test]
    fn appsecret_proof_is_hex_hmac_of_the_token() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!") from GitHub's documented vector.
        assert_eq!(
            appsecret_proof("It's a Secret to Everybody", "Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
