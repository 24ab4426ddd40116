//! Slack's webhook verification and decoding (Events API JSON, interactivity payloads, slash
//! commands) through the channel's public `handle_webhook`.
//!
//! Input: one flag byte, then the body. Flags bit 0: unsigned variant; bits 1–2: content type;
//! bit 3: retry headers; bits 4–5: the unsigned variant's kind (no header, another secret, a
//! signature over another body, a stale timestamp), or the signed variant's timestamp skew.
//! Signed: the target signs the body itself, so the decoders are reached; the outcome is never a
//! signature rejection. Unsigned: never accepted.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use switchboard::slack::signature::sign;
use switchboard::{Adapter, WebhookRequest};
use switchboard_fuzz::{
    SLACK_SECRET, assert_not_accepted, check_outcome, is_signature_reason, now_secs,
};

static ADAPTER: LazyLock<Arc<dyn Adapter>> = LazyLock::new(switchboard_fuzz::slack);

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    None,
    Some("text/plain"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let unsigned = flags & 1 == 1;
    let variant = (flags >> 4) & 3;
    let now = now_secs();
    let mut request = WebhookRequest::post("https://bot.example.com/webhooks/team", body.to_vec());
    if let Some(ct) = CONTENT_TYPES[usize::from((flags >> 1) & 3)] {
        request = request.with_header("content-type", ct);
    }
    if flags & 8 != 0 {
        request = request
            .with_header(switchboard::slack::RETRY_NUM_HEADER, "1")
            .with_header(switchboard::slack::RETRY_REASON_HEADER, "http_timeout");
    }
    if unsigned {
        let ts = now.to_string();
        request = match variant {
            0 => request.with_header("x-slack-request-timestamp", &ts),
            1 => request
                .with_header("x-slack-request-timestamp", &ts)
                .with_header("x-slack-signature", &sign("another-secret", &ts, body)),
            2 => {
                let mut other = body.to_vec();
                other.push(b' ');
                request
                    .with_header("x-slack-request-timestamp", &ts)
                    .with_header("x-slack-signature", &sign(SLACK_SECRET, &ts, &other))
            }
            _ => {
                // Correctly signed, but an hour old: a replay.
                let old = (now - 3600).to_string();
                request
                    .with_header("x-slack-request-timestamp", &old)
                    .with_header("x-slack-signature", &sign(SLACK_SECRET, &old, body))
            }
        };
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("team", &request, &outcome);
        assert_not_accepted(&outcome);
    } else {
        let ts = match variant {
            0 | 3 => now,
            1 => now - 60,
            _ => now + 60,
        }
        .to_string();
        request = request
            .with_header("x-slack-request-timestamp", &ts)
            .with_header("x-slack-signature", &sign(SLACK_SECRET, &ts, body));
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("team", &request, &outcome);
        if let Some(r) = outcome.rejection() {
            assert!(
                !is_signature_reason(r.reason),
                "a correctly signed request was refused for its signature: {r:?}"
            );
        }
    }
});
