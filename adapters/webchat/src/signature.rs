//! Pure signing and verification functions: the identity hash of verified users and the MAC of
//! session tokens. Public so a website's backend (in Rust) and tests can compute them.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// `user_hash`: the lowercase hex HMAC-SHA256 of `user_id` keyed with the channel's
/// `identity_secret`. The website's backend computes it for its logged-in users.
///
/// ```
/// use switchboard_webchat::signature::{user_hash, verify_user_hash};
/// let hash = user_hash("id-secret", "u-1842");
/// assert_eq!(hash.len(), 64);
/// assert!(verify_user_hash("id-secret", "u-1842", &hash));
/// assert!(!verify_user_hash("id-secret", "u-1843", &hash));
/// ```
pub fn user_hash(identity_secret: &str, user_id: &str) -> String {
    hex::encode(mac(identity_secret.as_bytes(), user_id.as_bytes()))
}

/// Whether `hash` (64 hex digits) is the `user_hash` of `user_id`. The comparison is in
/// constant time; anything but 64 hex digits is false.
pub fn verify_user_hash(identity_secret: &str, user_id: &str, hash: &str) -> bool {
    let Ok(given) = hex::decode(hash) else {
        return false;
    };
    if given.len() != 32 {
        return false;
    }
    let mut m = new_mac(identity_secret.as_bytes());
    m.update(user_id.as_bytes());
    m.verify_slice(&given).is_ok()
}

/// HMAC-SHA256 of `data` keyed with `key`.
pub fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = new_mac(key);
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `data` keyed with `key`, in constant time.
pub fn verify_mac(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    let mut m = new_mac(key);
    m.update(data);
    m.verify_slice(tag).is_ok()
}

/// SHA-256 of the parts, each preceded by its length (so `("ab", "c")` and `("a", "bc")`
/// differ): the digest behind deterministic ids.
pub(crate) fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_hash_matches_an_independent_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            user_hash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_refuses_wrong_and_malformed_hashes() {
        let h = user_hash("s", "u1");
        assert!(verify_user_hash("s", "u1", &h));
        assert!(verify_user_hash("s", "u1", &h.to_uppercase()));
        assert!(!verify_user_hash("other", "u1", &h));
        assert!(!verify_user_hash("s", "u1", &h[..62]));
        assert!(!verify_user_hash("s", "u1", "zz"));
        assert!(!verify_user_hash("s", "u1", ""));
    }

    #[test]
    fn digests_separate_their_parts() {
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
    }
}
