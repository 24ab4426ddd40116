//! Messenger's webhook verification and decoding (`X-Hub-Signature-256` over the body, the
//! `hub.*` GET handshake) through the channel's public `handle_webhook`.
//!
//! Input: one flag byte, then the body. Flags bit 0: unsigned variant; bit 1: a GET whose query
//! is the rest of the input (the handshake); bits 2–3: the unsigned variant's kind (no header,
//! another secret, a signature over another body, the SHA-1 header only).
//! Signed POST: never a signature rejection. Unsigned POST: never accepted. GET: accepted only
//! with `hub.mode=subscribe` and the configured verify token, answering the challenge.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use switchboard::messenger::signature::sign;
use switchboard::{Adapter, WebhookOutcome, WebhookRequest};
use switchboard_fuzz::{
    MESSENGER_SECRET, MESSENGER_VERIFY_TOKEN, assert_not_accepted, check_outcome,
    is_signature_reason, text,
};

static ADAPTER: LazyLock<Arc<dyn Adapter>> = LazyLock::new(switchboard_fuzz::messenger);

const URL: &str = "https://bot.example.com/webhooks/fb";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let unsigned = flags & 1 == 1;
    if flags & 2 != 0 {
        let request = WebhookRequest::get(format!("{URL}?{}", text(body)));
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("fb", &request, &outcome);
        if let WebhookOutcome::Accepted { response, events } = &outcome {
            assert!(events.is_empty());
            assert_eq!(
                request.query_param("hub.mode").as_deref(),
                Some("subscribe")
            );
            assert_eq!(
                request.query_param("hub.verify_token").as_deref(),
                Some(MESSENGER_VERIFY_TOKEN),
                "handshake accepted with another verify token"
            );
            let challenge = request.query_param("hub.challenge").unwrap_or_default();
            assert_eq!(response.body.as_ref(), challenge.as_bytes());
        }
        return;
    }
    let mut request =
        WebhookRequest::post(URL, body.to_vec()).with_header("content-type", "application/json");
    if unsigned {
        request = match (flags >> 2) & 3 {
            0 => request,
            1 => request.with_header("x-hub-signature-256", &sign("another-secret", body)),
            2 => {
                let mut other = body.to_vec();
                other.push(b' ');
                request.with_header("x-hub-signature-256", &sign(MESSENGER_SECRET, &other))
            }
            _ => request.with_header(
                "x-hub-signature",
                "sha1=0000000000000000000000000000000000000000",
            ),
        };
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("fb", &request, &outcome);
        assert_not_accepted(&outcome);
    } else {
        request = request.with_header("x-hub-signature-256", &sign(MESSENGER_SECRET, body));
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("fb", &request, &outcome);
        if let Some(r) = outcome.rejection() {
            assert!(
                !is_signature_reason(r.reason),
                "a correctly signed request was refused for its signature: {r:?}"
            );
        }
    }
});
