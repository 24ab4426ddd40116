//! Inbound side of the emulator: webhook items as Meta sends them, signed envelopes, delivery
//! to a URL with retries on non-2xx answers, and the sender of webhooks the emulator causes
//! itself (echoes) to the callback URL.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchboard_core::WebhookRequest;

use super::server::Shared;
use super::{EmulatedMessage, Emulator, EmulatorOptions};
use crate::signature;

/// The outcome of delivering one webhook `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The body that was posted (signed as is).
    pub body: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// The last HTTP status (0 when the connection failed).
    pub status: u16,
}

impl Delivery {
    /// Whether the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Serialised JSON with every non-ASCII character as `\uXXXX` (UTF-16 surrogate pairs beyond the
/// BMP). Valid because non-ASCII can only occur inside JSON strings.
fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut units = [0_u16; 2];
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The echo of `sent`, at `now` (see [`Emulator::echo_item`]).
pub(crate) fn echo_value(
    options: &EmulatorOptions,
    sent: &EmulatedMessage,
    now: SystemTime,
) -> Value {
    let app_id = options
        .app_id
        .parse::<u64>()
        .map_or_else(|_| json!(options.app_id), |n| json!(n));
    let mut message = json!({ "is_echo": true, "app_id": app_id, "mid": sent.message_id });
    for key in ["metadata", "text"] {
        if let Some(v) = sent.message.get(key) {
            message[key] = v.clone();
        }
    }
    if let Some(a) = sent.message.get("attachment") {
        message["attachments"] = json!([a]);
    }
    json!({
        "sender": { "id": sent.page_id },
        "recipient": { "id": sent.recipient },
        "timestamp": millis(now),
        "message": message,
    })
}

/// The Page an item belongs to: its recipient (a user's item) or its sender (an echo),
/// whichever is a Page of the emulator; else the recipient (an unknown Page, for refusals).
fn page_of<'a>(options: &'a EmulatorOptions, item: &'a Value) -> &'a str {
    let party = |k: &str| item[k]["id"].as_str();
    [party("recipient"), party("sender")]
        .into_iter()
        .flatten()
        .find(|id| options.is_page(id))
        .or(party("recipient"))
        .unwrap_or(&options.page_id)
}

/// The signed-as-is body of a webhook POST carrying `items` (see [`Emulator::webhook_body`]),
/// one entry per item under the item's Page.
pub(crate) fn envelope(options: &EmulatorOptions, now: SystemTime, items: &[Value]) -> String {
    let time = millis(now);
    let entries: Vec<Value> = items
        .iter()
        .map(|i| json!({ "id": page_of(options, i), "time": time, "messaging": [i] }))
        .collect();
    escape_non_ascii(&json!({ "object": "page", "entry": entries }).to_string())
}

/// Posts queued webhook items to the callback URL as they come, oldest first, one per POST.
/// A failed delivery is retried (immediately, then less often, at most a second apart) for
/// [`EmulatorOptions::webhook_retry_for`], as Meta retries; later items wait their turn.
pub(crate) async fn run_sender(shared: Arc<Shared>, http: reqwest::Client) {
    loop {
        shared.outgoing.notified().await;
        let mut failing_since: Option<Instant> = None;
        let mut attempts = 0_u32;
        loop {
            let next = {
                let st = shared.state();
                match (&st.callback_url, st.webhooks.front()) {
                    (Some(url), Some(item)) => Some((url.clone(), item.clone(), st.now())),
                    _ => None,
                }
            };
            let Some((url, item, now)) = next else {
                break;
            };
            let body = envelope(&shared.options, now, std::slice::from_ref(&item));
            let sig = signature::sign(&shared.options.app_secret, body.as_bytes());
            let status = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", &sig)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            let delivered = (200..300).contains(&status);
            let started = *failing_since.get_or_insert_with(Instant::now);
            if delivered || started.elapsed() >= shared.options.webhook_retry_for {
                if !delivered {
                    tracing::warn!(status, "messenger emulator: gave up delivering a webhook");
                }
                let mut st = shared.state();
                if st.webhooks.front() == Some(&item) {
                    st.webhooks.pop_front();
                }
                failing_since = None;
                attempts = 0;
            } else {
                attempts = attempts.saturating_add(1);
                let pause =
                    Duration::from_millis(25 * u64::from(attempts)).min(Duration::from_secs(1));
                tokio::time::sleep(pause).await;
            }
        }
    }
}

impl Emulator {
    /// A user's text message to the (first) Page; it also opens the user's 24 h window at the
    /// emulator clock. [`Emulator::page`] makes the items of another Page.
    pub fn text_item(&self, psid: &str, text: &str) -> Value {
        self.main_page().text_item(psid, text)
    }

    /// A quick reply tap: the title as text and the payload.
    pub fn quick_reply_item(&self, psid: &str, title: &str, payload: &str) -> Value {
        self.main_page().quick_reply_item(psid, title, payload)
    }

    /// A postback from a button.
    pub fn postback_item(&self, psid: &str, title: &str, payload: &str) -> Value {
        self.main_page().postback_item(psid, title, payload)
    }

    /// A delivery receipt for `mids`, with the watermark at the emulator clock.
    pub fn delivery_item(&self, psid: &str, mids: &[&str]) -> Value {
        self.main_page().delivery_item(psid, mids)
    }

    /// The echo Meta sends (field `message_echoes`) of a message the Page sent: sender = the
    /// Page, `is_echo`, this app's `app_id` (a number), the `metadata` the send carried, its
    /// `mid`, and its text or (in the inbound `attachments[]` form) its attachment.
    pub fn echo_item(&self, sent: &EmulatedMessage) -> Value {
        echo_value(self.options(), sent, self.now())
    }

    /// A read receipt up to the emulator clock.
    pub fn read_item(&self, psid: &str) -> Value {
        self.main_page().read_item(psid)
    }

    /// `{"object":"page","entry":[…]}` with one entry per item, as Meta batches them. Like Meta,
    /// it escapes every non-ASCII character (`ä` is sent as `\u00e4`): the signature is over
    /// these bytes, so a receiver that re-serialises the body fails verification.
    pub fn webhook_body(&self, items: &[Value]) -> String {
        envelope(self.options(), self.now(), items)
    }

    /// `body` posted to `url` with a correct `X-Hub-Signature-256`, received now.
    pub fn signed_request(&self, url: &str, body: &str) -> WebhookRequest {
        WebhookRequest::post(url, body.to_owned())
            .with_header("content-type", "application/json")
            .with_header(
                "X-Hub-Signature-256",
                &signature::sign(&self.options().app_secret, body.as_bytes()),
            )
    }

    /// POSTs `items` to `url`, `per_post` items per request (at least 1), each correctly signed.
    /// A non-2xx answer or a failed connection is retried, up to
    /// [`EmulatorOptions::delivery_attempts`](super::EmulatorOptions::delivery_attempts) attempts,
    /// with a short growing pause (Meta retries immediately, then less often).
    pub async fn deliver(&self, url: &str, items: &[Value], per_post: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        for chunk in items.chunks(per_post.max(1)) {
            let body = self.webhook_body(chunk);
            let sig = signature::sign(&self.options().app_secret, body.as_bytes());
            let mut attempts = 0;
            let mut status = 0;
            while attempts < self.options().delivery_attempts.max(1) {
                if attempts > 0 {
                    tokio::time::sleep(Duration::from_millis(25 * u64::from(attempts))).await;
                }
                attempts += 1;
                let sent = self
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", &sig)
                    .body(body.clone())
                    .send()
                    .await;
                status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
                if (200..300).contains(&status) {
                    break;
                }
            }
            out.push(Delivery {
                body,
                attempts,
                status,
            });
        }
        out
    }
}
