//! How memory webhooks are signed and verified.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::webhook::RejectReason;

/// Replay window for signed inbound requests.
pub const SIGNATURE_WINDOW: Duration = Duration::from_secs(300);

/// `X-Memory-Timestamp`.
pub const TIMESTAMP_HEADER: &str = "x-memory-timestamp";
/// `X-Memory-Signature`.
pub const SIGNATURE_HEADER: &str = "x-memory-signature";

/// `v1=` + hex HMAC-SHA256(secret, `"{timestamp}.{body}"`).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a memory signature in constant time, with a ±300 s window around `now`.
///
/// # Errors
///
/// [`RejectReason::BadSignature`] for a malformed timestamp or a signature that does not match,
/// [`RejectReason::StaleTimestamp`] outside the window.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: SystemTime,
) -> std::result::Result<(), RejectReason> {
    let ts: u64 = timestamp.parse().map_err(|_| RejectReason::BadSignature)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now.abs_diff(ts) > SIGNATURE_WINDOW.as_secs() {
        return Err(RejectReason::StaleTimestamp);
    }
    let expected = sign(secret, ts, body);
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        signature.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(RejectReason::BadSignature)
    }
}
