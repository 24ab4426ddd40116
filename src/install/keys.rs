//! [`KeyRing`]: the AES-256-GCM keys that seal installation tokens, with rotation.
//!
//! A sealed value is `v1.{key id}.{base64url(nonce ‖ ciphertext ‖ tag)}`: a fresh random
//! 96-bit nonce per value, and associated data that binds it to its row (`channel/tenant`),
//! so a sealed token copied to another row does not open. The key id is the first 8 hex
//! digits of the key's SHA-256 (it names a key without revealing it). The first configured
//! key seals; every key opens what names it, so rotation is: put the new key first, keep the
//! old ones until every row has been written again (a reinstall or a token refresh writes it).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use switchboard_core::{Error, ErrorKind, Result};

const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;

/// One key and its id.
struct Key {
    id: String,
    cipher: Aes256Gcm,
    /// The key's bytes, kept to derive the OAuth state's signing key.
    raw: [u8; 32],
}

/// The configured keys: the first seals, all open. `Debug` prints the key ids only.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("ids", &self.ids()).finish()
    }
}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, message)
}

/// Decodes one configured key: 32 bytes as 64 hex digits or as base64 (standard or URL-safe,
/// padded or not).
fn decode_key(index: usize, text: &str) -> Result<[u8; 32]> {
    let text = text.trim();
    let what = format!("installs.keys[{index}]");
    if text.is_empty() {
        return Err(config_error(format!(
            "{what}: empty (is its environment variable set?)"
        )));
    }
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .ok()
    };
    match bytes {
        None => Err(config_error(format!(
            "{what}: not hex or base64 (give 32 random bytes, e.g. `openssl rand -base64 32`)"
        ))),
        Some(b) => <[u8; 32]>::try_from(b.as_slice()).map_err(|_| {
            config_error(format!(
                "{what}: {} bytes; AES-256 needs exactly 32",
                b.len()
            ))
        }),
    }
}

impl KeyRing {
    /// The ring of `keys` (hex or base64, 32 bytes each), the first one sealing.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming `installs.keys[i]`: no key, a key that is not 32 bytes of hex or
    /// base64, or two keys alike. The message never shows a key.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Result<Self> {
        if keys.is_empty() {
            return Err(config_error(
                "installs.keys: give at least one key (32 bytes, hex or base64)".to_owned(),
            ));
        }
        let mut ring = KeyRing { keys: Vec::new() };
        for (i, text) in keys.iter().enumerate() {
            let raw = decode_key(i, text.as_ref())?;
            let id = hex::encode(&Sha256::digest(raw)[..4]);
            if ring.keys.iter().any(|k| k.id == id) {
                return Err(config_error(format!(
                    "installs.keys[{i}]: the same key as an earlier one"
                )));
            }
            let cipher = Aes256Gcm::new_from_slice(&raw)
                .map_err(|_| config_error(format!("installs.keys[{i}]: not a 32-byte key")))?;
            ring.keys.push(Key { id, cipher, raw });
        }
        Ok(ring)
    }

    /// The key ids, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The keys' bytes, the sealing one first (the OAuth state's signing keys derive from
    /// them).
    pub(crate) fn raw_keys(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.keys.iter().map(|k| &k.raw)
    }

    /// Seals `plaintext` with the first key, bound to `aad`.
    ///
    /// # Errors
    ///
    /// `Transport` when the system's random source fails (no nonce, nothing sealed).
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<String> {
        let key = self
            .keys
            .first()
            .ok_or_else(|| config_error("installs.keys: no key".to_owned()))?;
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                format!("installs: no random nonce: {e}"),
            )
        })?;
        let sealed = key
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::new(ErrorKind::Transport, "installs: encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{VERSION}.{}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens what [`seal`](Self::seal) made with any key of the ring, bound to `aad`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when no configured key has the id the value names (a key removed from
    /// `installs.keys` too early), or when it does not open with it (another key under that
    /// id, or a value altered or moved to another row).
    pub fn open(&self, sealed: &str, aad: &str) -> Result<Vec<u8>> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(config_error(format!(
                "installs: the token of {aad} is not a sealed value this version reads"
            )));
        };
        let Some(key) = self.keys.iter().find(|k| k.id == id) else {
            return Err(config_error(format!(
                "installs: the token of {aad} was sealed with key {id}, which installs.keys \
                 lacks (configured: {}); add the old key back after the new one",
                self.ids().join(", ")
            )));
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).ok();
        let opened = bytes.as_deref().and_then(|b| {
            let (nonce, ct) = b.split_at_checked(NONCE_BYTES)?;
            let nonce = <[u8; NONCE_BYTES]>::try_from(nonce).ok()?;
            key.cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ct,
                        aad: aad.as_bytes(),
                    },
                )
                .ok()
        });
        opened.ok_or_else(|| {
            config_error(format!(
                "installs: the token of {aad} does not open with key {id} (altered, or sealed \
                 for another row)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn k2() -> String {
        STANDARD.encode([7u8; 32])
    }

    #[test]
    fn seals_and_opens_bound_to_the_row() {
        let ring = KeyRing::new(&[K1]).unwrap();
        let s = ring.seal(b"xoxb-secret", "team/T1").unwrap();
        assert!(s.starts_with(&format!("v1.{}.", ring.ids()[0])), "{s}");
        assert!(!s.contains("xoxb"));
        assert_eq!(ring.open(&s, "team/T1").unwrap(), b"xoxb-secret");
        assert_ne!(
            ring.seal(b"xoxb-secret", "team/T1").unwrap(),
            s,
            "fresh nonce"
        );
        let moved = ring.open(&s, "team/T2").unwrap_err();
        assert_eq!(moved.kind(), ErrorKind::InvalidConfig);
        let mut altered = s.clone();
        altered.pop();
        altered.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open(&altered, "team/T1").is_err());
    }

    #[test]
    fn rotation_seals_with_the_first_and_opens_with_all() {
        let old = KeyRing::new(&[K1]).unwrap();
        let sealed_old = old.seal(b"t", "c/T").unwrap();
        let rotated = KeyRing::new(&[k2(), K1.to_owned()]).unwrap();
        assert_eq!(rotated.open(&sealed_old, "c/T").unwrap(), b"t");
        let sealed_new = rotated.seal(b"t", "c/T").unwrap();
        assert!(sealed_new.contains(rotated.ids()[0]));
        let e = old.open(&sealed_new, "c/T").unwrap_err().to_string();
        assert!(e.contains("lacks") && e.contains(rotated.ids()[0]), "{e}");
    }

    #[test]
    fn bad_keys_name_their_index_and_never_show() {
        for (keys, says) in [
            (vec![], "at least one"),
            (vec![String::new()], "keys[0]: empty"),
            (vec!["c2hvcnQ=".to_owned()], "5 bytes"),
            (
                vec![K1.to_owned(), "zz!".to_owned()],
                "keys[1]: not hex or base64",
            ),
            (vec![K1.to_owned(), K1.to_owned()], "keys[1]: the same key"),
        ] {
            let e = KeyRing::new(&keys).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            let m = e.to_string();
            assert!(m.contains(says), "{m}");
            assert!(!m.contains(K1), "{m}");
        }
        let debug = format!("{:?}", KeyRing::new(&[K1]).unwrap());
        assert!(!debug.contains(K1), "{debug}");
    }
}
