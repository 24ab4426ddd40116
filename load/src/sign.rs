//! Pre-signed Messenger webhooks: the body Meta posts for one text message, signed as Meta
//! signs it (`X-Hub-Signature-256: sha256=` + lowercase hex HMAC-SHA256 of the raw body under
//! the App Secret).
//!
//! The signer is written here on purpose, not borrowed from the adapter: the tests check it
//! against the adapter's `handle_webhook`, which only proves something if the two are
//! independent.
//!
//! Every request is unique: its index `idx` (unique over a run) makes the `mid` (the engine's
//! dedupe key) and the text `load {run}:{idx}`, which an echo application sends back, so the
//! provider stub can tell which webhook a reply answers ([`request_index`]).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderValue;
use sha2::Sha256;

/// The header Meta signs webhooks with (lowercase, as `http` stores names).
pub(crate) const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The first PSID; conversation `k` is PSID `PSID_BASE + k`.
const PSID_BASE: u64 = 7_000_000_000_000_000;

/// One request, ready to send: the raw body and its signature header.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) body: Bytes,
    pub(crate) signature: HeaderValue,
}

/// What every webhook of a run shares.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    /// The App Secret the server verifies with.
    pub(crate) app_secret: String,
    /// The Page (the `recipient` and the `entry` id).
    pub(crate) page_id: String,
    /// A number unique to this run (the same database may see several runs).
    pub(crate) run: u64,
    /// Messages are spread over this many PSIDs (conversations), round robin.
    pub(crate) conversations: u64,
}

impl Webhooks {
    /// A run numbered by the wall clock, so runs against the same database never collide.
    pub(crate) fn new(app_secret: &str, page_id: &str, conversations: u64) -> Self {
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Webhooks {
            app_secret: app_secret.to_owned(),
            page_id: page_id.to_owned(),
            run,
            conversations: conversations.max(1),
        }
    }

    /// The raw body of webhook `idx`: one `entry` with one `messaging` text message, as in
    /// Meta's samples, from PSID `idx % conversations`.
    pub(crate) fn body(&self, idx: u64) -> String {
        envelope(&[self.entry(idx)])
    }

    /// Entry `idx` of a webhook body: the Page's entry holding message `idx`.
    pub(crate) fn entry(&self, idx: u64) -> String {
        let psid = PSID_BASE + idx % self.conversations;
        let page = &self.page_id;
        let run = self.run;
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        format!(
            r#"{{"id":"{page}","time":{ms},"messaging":[{{"sender":{{"id":"{psid}"}},"recipient":{{"id":"{page}"}},"timestamp":{ms},"message":{{"mid":"m_load.{run}.{idx}","text":"load {run}:{idx}"}}}}]}}"#
        )
    }

    /// Webhook `idx`, signed.
    pub(crate) fn signed(&self, idx: u64) -> Signed {
        let body = self.body(idx);
        let signature = sign(&self.app_secret, body.as_bytes());
        Signed {
            // "sha256=" and hex digits: always a valid header value.
            signature: HeaderValue::from_str(&signature)
                .unwrap_or_else(|_| HeaderValue::from_static("sha256=")),
            body: Bytes::from(body),
        }
    }

    /// Webhooks `first .. first + count`, signed (before any clock starts).
    pub(crate) fn presign(&self, first: u64, count: usize) -> Vec<Signed> {
        (first..first + count as u64)
            .map(|i| self.signed(i))
            .collect()
    }
}

/// A webhook body holding these entries (Meta batches several entries in one request).
pub(crate) fn envelope(entries: &[String]) -> String {
    format!(r#"{{"object":"page","entry":[{}]}}"#, entries.join(","))
}

/// The `X-Hub-Signature-256` value of `body`.
pub(crate) fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The request index carried by a text `load {run}:{idx}` (an echoed reply), if it is one.
pub(crate) fn request_index(text: &str) -> Option<u64> {
    let rest = text.trim().strip_prefix("load ")?;
    let (_run, idx) = rest.split_once(':')?;
    idx.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard::messenger::{MessengerAdapter, MessengerConfig};
    use switchboard::{Adapter, ChannelName, EventKind, Secret, WebhookRequest};

    fn adapter(secret: &str) -> MessengerAdapter {
        let config = MessengerConfig::builder(
            ChannelName::new("fb").unwrap(),
            "1895382890692545",
            Secret::new("page-token"),
            Secret::new(secret),
            Secret::new("verify"),
        )
        .build()
        .unwrap();
        MessengerAdapter::new(config).unwrap()
    }

    fn request(s: &Signed) -> WebhookRequest {
        WebhookRequest::post("http://127.0.0.1/webhooks/fb", s.body.clone())
            .with_header(SIGNATURE_HEADER, s.signature.to_str().unwrap())
    }

    #[test]
    fn github_documented_vector() {
        // The vector of GitHub's webhook docs (the same scheme as Meta's), from the fixtures.
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn the_adapter_accepts_and_decodes_a_signed_webhook() {
        let hooks = Webhooks::new("app-secret", "1895382890692545", 100);
        let signed = hooks.signed(4242);
        let out = adapter("app-secret").handle_webhook(&request(&signed));
        assert_eq!(out.response().status, http::StatusCode::OK, "{out:?}");
        let events = out.accepted_events().unwrap();
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!(ev.conversation.conversation.as_str(), "7000000000000042");
        assert!(ev.id.as_str().contains("4242"), "{}", ev.id);
        assert!(matches!(ev.kind, EventKind::Message(_)));
        let text = ev.text().unwrap();
        assert_eq!(request_index(text), Some(4242));
    }

    #[test]
    fn a_wrong_secret_is_rejected() {
        let signed = Webhooks::new("not-the-secret", "1895382890692545", 1).signed(1);
        let out = adapter("app-secret").handle_webhook(&request(&signed));
        assert_eq!(out.response().status, http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn requests_are_unique_and_spread() {
        let hooks = Webhooks::new("s", "1", 3);
        let pool = hooks.presign(10, 4);
        let bodies: std::collections::HashSet<_> = pool.iter().map(|s| s.body.clone()).collect();
        assert_eq!(bodies.len(), 4);
        assert!(
            hooks
                .body(10)
                .contains(r#""sender":{"id":"7000000000000001"}"#)
        );
        assert!(
            hooks
                .body(13)
                .contains(r#""sender":{"id":"7000000000000001"}"#)
        );
        assert_eq!(request_index("hello"), None);
    }
}
