//! Events the way Slack sends them: envelopes, signatures and redelivery.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};
use switchboard_core::WebhookRequest;

use super::Emulator;
use super::state::EmulatedMessage;
use crate::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::webhook::{RETRY_NUM_HEADER, RETRY_REASON_HEADER};

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 0 for the first attempt, then 1..=3 (`X-Slack-Retry-Num`).
    pub retry_num: u32,
    /// The status answered; `None` on timeout or connection failure.
    pub status: Option<u16>,
    /// The `X-Slack-Retry-Reason` sent with this attempt (none on the first).
    pub reason: Option<&'static str>,
}

/// What happened to one delivered event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// Whether an attempt got a 2xx.
    pub fn delivered(&self) -> bool {
        self.attempts
            .last()
            .and_then(|a| a.status)
            .is_some_and(|s| (200..300).contains(&s))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Emulator {
    /// Wraps an inner event in an `event_callback` envelope with a fresh `event_id`.
    pub fn event_callback(&self, event: Value) -> Value {
        let c = &self.inner.options;
        let id = self.inner.lock().new_id("Ev");
        json!({
            "token": "emulator-verification-token",
            "team_id": c.team_id,
            "api_app_id": c.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": id,
            "event_time": unix_now(),
            "authorizations": [{"team_id": c.team_id, "user_id": c.bot_user_id, "is_bot": true,
                "is_enterprise_install": false}],
            "is_ext_shared_channel": false,
        })
    }

    /// A user's message in `channel` (stored in the workspace), as an `event_callback` body.
    pub fn user_message(&self, channel: &str, user: &str, text: &str) -> Value {
        let ts = {
            let mut s = self.inner.lock();
            let ts = s.new_ts();
            s.messages.push(EmulatedMessage {
                channel: channel.to_owned(),
                ts: ts.clone(),
                thread_ts: None,
                reply_broadcast: false,
                user: Some(user.to_owned()),
                bot_id: None,
                metadata: None,
                text: text.to_owned(),
                blocks: Vec::new(),
                files: Vec::new(),
                ephemeral_to: None,
                reactions: Vec::new(),
                edited: false,
                deleted: false,
            });
            ts
        };
        self.event_callback(json!({
            "type": "message", "channel": channel, "user": user, "text": text,
            "ts": ts, "event_ts": ts, "channel_type": "channel", "team": self.inner.options.team_id,
        }))
    }

    /// `body` signed now with the emulator's signing secret, as a request to `url`.
    pub fn signed_request(
        &self,
        url: &str,
        body: impl Into<Bytes>,
        content_type: &str,
    ) -> WebhookRequest {
        self.signed_request_at(url, body, content_type, unix_now())
    }

    /// `body` signed with timestamp `ts` (Unix seconds), as a request to `url`.
    pub fn signed_request_at(
        &self,
        url: &str,
        body: impl Into<Bytes>,
        content_type: &str,
        ts: u64,
    ) -> WebhookRequest {
        let body = body.into();
        let sig = sign(&self.inner.options.signing_secret, &ts.to_string(), &body);
        WebhookRequest::post(url, body)
            .with_header("content-type", content_type)
            .with_header(TIMESTAMP_HEADER, &ts.to_string())
            .with_header(SIGNATURE_HEADER, &sig)
    }

    /// POSTs `body` (JSON, signed) to `url` like Slack: on a timeout or a non-2xx answer it
    /// retries after each of `retry_delays` with `X-Slack-Retry-Num` 1..3 and
    /// `X-Slack-Retry-Reason` (`http_timeout`, `http_error`, `connection_failed`), and stops
    /// early when the answer carries `X-Slack-No-Retry: 1`.
    pub async fn deliver(&self, url: &str, body: &Value) -> Delivery {
        let c = &self.inner.options;
        let client = match reqwest::Client::builder()
            .timeout(c.delivery_timeout)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "slack emulator: no HTTP client");
                return Delivery::default();
            }
        };
        let bytes = Bytes::from(body.to_string());
        let mut delivery = Delivery::default();
        let mut reason: Option<&'static str> = None;
        for retry_num in 0..=c.retry_delays.len() {
            let retry_num = u32::try_from(retry_num).unwrap_or(u32::MAX);
            if retry_num > 0 {
                let wait = c.retry_delays.get(retry_num as usize - 1).copied();
                tokio::time::sleep(wait.unwrap_or(Duration::ZERO)).await;
            }
            let ts = unix_now().to_string();
            let mut req = client
                .post(url)
                .header("content-type", "application/json")
                .header(TIMESTAMP_HEADER, &ts)
                .header(SIGNATURE_HEADER, sign(&c.signing_secret, &ts, &bytes))
                .body(bytes.clone());
            if let (true, Some(r)) = (retry_num > 0, reason) {
                req = req
                    .header(RETRY_NUM_HEADER, retry_num.to_string())
                    .header(RETRY_REASON_HEADER, r);
            }
            let sent_reason = if retry_num > 0 { reason } else { None };
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let no_retry = resp
                        .headers()
                        .get("x-slack-no-retry")
                        .is_some_and(|v| v.as_bytes() == b"1");
                    delivery.attempts.push(Attempt {
                        retry_num,
                        status: Some(status),
                        reason: sent_reason,
                    });
                    if (200..300).contains(&status) || no_retry {
                        break;
                    }
                    reason = Some("http_error");
                }
                Err(e) => {
                    delivery.attempts.push(Attempt {
                        retry_num,
                        status: None,
                        reason: sent_reason,
                    });
                    reason = Some(if e.is_timeout() {
                        "http_timeout"
                    } else {
                        "connection_failed"
                    });
                }
            }
        }
        delivery
    }
}
