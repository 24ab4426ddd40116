//! Twilio's webhook verification and decoding (`X-Twilio-Signature` over the URL and the sorted
//! form parameters, or the URL with `bodySHA256` for JSON; inbound messages and status
//! callbacks) through the channel's public `handle_webhook`.
//!
//! Input: one flag byte, then the body. Flags bit 0: unsigned variant; bits 1–2: the URL form
//! Twilio called (plain, explicit port, with a query, http on a local port); bits 3–4: the
//! request kind (form POST, JSON POST with `bodySHA256`, GET with the body as query, form POST
//! without a content type); bits 5–6: the unsigned variant's kind (no header, another token,
//! another URL, the signature of other parameters).
//! Signed: never a signature rejection. Unsigned: never accepted.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use switchboard::twilio::signature::{body_sha256, sign};
use switchboard::{Adapter, WebhookRequest};
use switchboard_fuzz::{
    TWILIO_TOKEN, assert_not_accepted, check_outcome, is_signature_reason, text,
};

static ADAPTER: LazyLock<Arc<dyn Adapter>> = LazyLock::new(switchboard_fuzz::twilio);

const URLS: [&str; 4] = [
    "https://bot.example.com/webhooks/sms",
    "https://bot.example.com:443/webhooks/sms",
    "https://bot.example.com/webhooks/sms?sb_key=k1&sb_part=0",
    "http://127.0.0.1:8080/webhooks/sms",
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let unsigned = flags & 1 == 1;
    let base = URLS[usize::from((flags >> 1) & 3)];
    let kind = (flags >> 3) & 3;
    let unsigned_kind = (flags >> 5) & 3;
    let sep = if base.contains('?') { '&' } else { '?' };
    let (request, params) = match kind {
        0 | 3 => {
            let params: Vec<(String, String)> =
                url::form_urlencoded::parse(body).into_owned().collect();
            let mut r = WebhookRequest::post(base, body.to_vec());
            if kind == 0 {
                r = r.with_header("content-type", "application/x-www-form-urlencoded");
            }
            (r, params)
        }
        1 => {
            let url = format!("{base}{sep}bodySHA256={}", body_sha256(body));
            let r = WebhookRequest::post(url, body.to_vec())
                .with_header("content-type", "application/json");
            (r, Vec::new())
        }
        _ => {
            let url = format!("{base}{sep}{}", text(body));
            (WebhookRequest::get(url), Vec::new())
        }
    };
    if unsigned {
        let request = match unsigned_kind {
            0 => request,
            1 => {
                let sig = sign("another-token", &request.url, &params);
                request.with_header("x-twilio-signature", &sig)
            }
            2 => {
                let sig = sign(TWILIO_TOKEN, "https://evil.example/webhooks/sms", &params);
                request.with_header("x-twilio-signature", &sig)
            }
            _ => {
                let mut other = params.clone();
                other.push(("Extra".to_owned(), "1".to_owned()));
                let sig = sign(TWILIO_TOKEN, &request.url, &other);
                request.with_header("x-twilio-signature", &sig)
            }
        };
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("sms", &request, &outcome);
        assert_not_accepted(&outcome);
    } else {
        let sig = sign(TWILIO_TOKEN, &request.url, &params);
        let request = request.with_header("x-twilio-signature", &sig);
        let outcome = ADAPTER.handle_webhook(&request);
        check_outcome("sms", &request, &outcome);
        if let Some(r) = outcome.rejection() {
            assert!(
                !is_signature_reason(r.reason),
                "a correctly signed request was refused for its signature: {r:?} ({})",
                request.url
            );
        }
    }
});
