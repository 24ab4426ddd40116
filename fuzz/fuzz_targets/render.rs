//! Markdown rendering and splitting through each adapter's renderer: Slack's `chat.postMessage`
//! bodies, Messenger's Send API messages, Twilio's Create Message requests (SMS with and
//! without smart encoding, WhatsApp), and core's plan under each adapter's capabilities.
//!
//! Input: one flag byte, then text. Flags bits 0–1: adapter (Slack, Messenger, Twilio SMS,
//! Twilio WhatsApp); bits 2–3: render policy; bit 4: Twilio smart encoding. The text is split
//! at NUL bytes: the first piece is the message's markdown; each further piece adds a button
//! (`b`), link button (`l`, label and URL split at a tab), quick reply (`q`), image URL (`i`) or
//! file URL (`f`) by its first character.
//!
//! Invariants: every part within the provider's limit (Slack 4,000 characters per post and
//! 3,000 per section; Messenger 2,000 characters, 640 for a button template's text, 3 buttons,
//! 13 quick replies of 20 characters; Twilio the conversation's body limit, segment counts that
//! match the body, smart-encoded bodies left with nothing to replace). With the feature
//! `assert-slack-escaping`: no Slack control sequence or non-http(s) link from text.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchboard::RenderPolicy;
use switchboard::core::render::{self, sms};
use switchboard::twilio::TwilioConfig;
use switchboard::twilio::fuzzing::{render_requests, smart_encode};
use switchboard::{Capabilities, ChannelName, OutboundMessage, Secret};
use switchboard_core::model::{Attachment, AttachmentKind};
use switchboard_fuzz::text;

const POLICIES: [RenderPolicy; 4] = [
    RenderPolicy::Fallback,
    RenderPolicy::Strict,
    RenderPolicy::Drop,
    RenderPolicy::Fallback,
];

fn twilio_config(smart: bool, policy: RenderPolicy) -> TwilioConfig {
    TwilioConfig::builder(
        ChannelName::new("sms").expect("channel name"),
        switchboard_fuzz::ACCOUNT_SID,
        Secret::new(switchboard_fuzz::TWILIO_TOKEN),
    )
    .from("+15550001111")
    .status_callback("https://bot.example.com/status")
    .smart_encoding(smart)
    .render(policy)
    .build()
    .expect("twilio config")
}

static TWILIO: LazyLock<Vec<TwilioConfig>> = LazyLock::new(|| {
    let mut all = Vec::new();
    for smart in [false, true] {
        for policy in POLICIES {
            all.push(twilio_config(smart, policy));
        }
    }
    all
});

fn message(input: &str) -> Option<OutboundMessage> {
    let mut pieces = input.split('\0');
    let mut b = OutboundMessage::builder();
    let body = pieces.next().unwrap_or("");
    if !body.is_empty() {
        b = b.text(body);
    }
    for piece in pieces {
        let mut chars = piece.chars();
        let kind = chars.next();
        let rest = chars.as_str();
        b = match kind {
            Some('b') => b.button(rest, "p"),
            Some('l') => {
                let (label, url) = rest
                    .split_once('\t')
                    .unwrap_or((rest, "https://example.com"));
                b.link_button(label, url)
            }
            Some('q') => b.quick_reply(rest, "q"),
            Some('i') => b.attachment(Attachment::url(AttachmentKind::Image, rest)),
            Some('f') => b.attachment(Attachment::url(AttachmentKind::File, rest)),
            _ => b,
        };
    }
    b.idempotency_key("key-1").build().ok()
}

/// Core's plan under `caps`: every part within the limit, measured as declared.
fn check_core(msg: &OutboundMessage, caps: &Capabilities, policy: RenderPolicy) {
    if let Ok(plan) = render::render(msg, caps, policy) {
        for p in &plan.parts {
            assert!(!p.text.trim().is_empty(), "empty part in {plan:?}");
            assert_eq!(p.length, caps.text.unit.measure(&p.text));
            assert!(
                p.length <= caps.text.max,
                "part of {} over the limit {}: {:?}",
                p.length,
                caps.text.max,
                p.text
            );
        }
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str()
}

/// Every `<` in Slack text opens an http(s) link: no `<!…>`, `<@…>`, `<#…>`, no other scheme.
#[cfg(feature = "assert-slack-escaping")]
fn assert_slack_escaped(text: &str) {
    for (i, _) in text.match_indices('<') {
        let after = &text[i + 1..];
        assert!(
            after.starts_with("http://") || after.starts_with("https://"),
            "Slack control sequence or non-http(s) link in {text:?}"
        );
    }
}

#[cfg(not(feature = "assert-slack-escaping"))]
fn assert_slack_escaped(_text: &str) {}

fn slack(msg: &OutboundMessage, policy: RenderPolicy) {
    let Ok(posts) = switchboard::slack::fuzzing::render_posts(msg, policy) else {
        return;
    };
    for post in posts {
        let post = Value::Object(post);
        let text = str_at(&post, &["text"]).unwrap_or("");
        assert!(
            text.chars().count() <= switchboard::slack::MAX_TEXT_CHARS,
            "Slack text over the limit"
        );
        assert_slack_escaped(text);
        for block in post
            .get("blocks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if str_at(block, &["type"]) == Some("section")
                && let Some(t) = str_at(block, &["text", "text"])
            {
                assert!(t.chars().count() <= 3000, "Slack section over 3,000");
                assert_slack_escaped(t);
            }
        }
    }
}

fn messenger(msg: &OutboundMessage, policy: RenderPolicy) {
    let Ok(messages) = switchboard::messenger::fuzzing::render_messages(msg, policy) else {
        return;
    };
    for m in messages {
        if let Some(t) = str_at(&m, &["text"]) {
            assert!(t.chars().count() <= 2000, "Messenger text over 2,000");
        }
        if let Some(t) = str_at(&m, &["attachment", "payload", "text"]) {
            assert!(t.chars().count() <= 640, "button template text over 640");
        }
        if let Some(b) = m
            .pointer("/attachment/payload/buttons")
            .and_then(Value::as_array)
        {
            assert!(b.len() <= 3, "more than 3 buttons");
        }
        if let Some(q) = m.get("quick_replies").and_then(Value::as_array) {
            assert!(q.len() <= 13, "more than 13 quick replies");
            for r in q {
                let title = str_at(r, &["title"]).unwrap_or("");
                assert!(
                    title.chars().count() <= 20,
                    "quick reply title over 20: {title:?}"
                );
            }
        }
    }
}

fn twilio(msg: &OutboundMessage, to: &str, config: &TwilioConfig) {
    let caps = switchboard::twilio::capabilities_for(to);
    let Ok(requests) = render_requests(config, to, msg) else {
        return;
    };
    for r in requests {
        let Some(body) = &r.body else { continue };
        assert!(
            caps.text.unit.measure(body) <= caps.text.max,
            "Twilio body over the limit: {body:?}"
        );
        if let Some(segments) = r.segments {
            assert_eq!(segments, sms::analyze(body).segments);
        }
        if r.smart_encoded {
            assert_eq!(
                &smart_encode(body),
                body,
                "smart encoding left a replaceable character"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = text(rest);
    let Some(msg) = message(&input) else {
        return;
    };
    let policy = POLICIES[usize::from((flags >> 2) & 3)];
    let smart = flags & 16 != 0;
    match flags & 3 {
        0 => {
            check_core(&msg, &switchboard::slack::capabilities(), policy);
            slack(&msg, policy);
        }
        1 => {
            check_core(&msg, &switchboard::messenger::capabilities(), policy);
            messenger(&msg, policy);
        }
        n => {
            let to = if n == 2 {
                "+15558675310"
            } else {
                "whatsapp:+15558675310"
            };
            check_core(&msg, &switchboard::twilio::capabilities_for(to), policy);
            let config = &TWILIO[usize::from(smart) * 4 + usize::from((flags >> 2) & 3)];
            twilio(&msg, to, config);
        }
    }
});
