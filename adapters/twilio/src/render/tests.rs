use super::*;
use crate::adapter::MAX_BODY_CHARS;
use switchboard_core::model::Attachment;
use switchboard_core::model::AttachmentKind;
use switchboard_core::{ChannelName, ErrorKind, Secret};

fn config(smart: bool, policy: RenderPolicy) -> TwilioConfig {
    TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        "AC0123456789abcdef0123456789abcdef",
        Secret::new("tok"),
    )
    .from("+15550001111")
    .status_callback("https://bot.test/webhooks/sms")
    .smart_encoding(smart)
    .render(policy)
    .build()
    .unwrap()
}

#[test]
fn sms_strips_markdown_and_numbers_buttons() {
    let msg = OutboundMessage::builder()
        .text("**Pick** one")
        .button("Yes", "y")
        .button("No", "n")
        .build()
        .unwrap();
    let r = render_message(&config(false, RenderPolicy::Fallback), "+15550002222", &msg).unwrap();
    assert_eq!(r.requests.len(), 1);
    let body = r.requests[0].body.as_deref().unwrap();
    assert!(body.starts_with("Pick one"), "{body}");
    assert!(body.contains("1. Yes  2. No"), "{body}");
    assert_eq!(r.plan.options.len(), 2);
    assert_eq!(r.requests[0].segments, Some(1));
    assert_eq!(
        r.requests[0].status_callback.as_deref(),
        Some("https://bot.test/webhooks/sms")
    );
}

#[test]
fn every_part_carries_the_outbox_key_in_its_status_callback() {
    let long = "word ".repeat(700);
    let msg = OutboundMessage::builder()
        .text(long.trim())
        .idempotency_key("sms:SM1:0")
        .build()
        .unwrap();
    let r = render_message(&config(false, RenderPolicy::Fallback), "+1555", &msg).unwrap();
    let urls: Vec<&str> = r
        .requests
        .iter()
        .map(|q| q.status_callback.as_deref().unwrap())
        .collect();
    assert_eq!(
        urls,
        [0, 1, 2].map(|i| format!(
            "https://bot.test/webhooks/sms?switchboard_outbox_key=sms%3ASM1%3A0\
             &switchboard_part={i}&switchboard_parts=3"
        ))
    );
    // No key, or no callback: nothing added.
    let plain = OutboundMessage::text("hi").unwrap();
    let r = render_message(&config(false, RenderPolicy::Fallback), "+1555", &plain).unwrap();
    assert_eq!(
        r.requests[0].status_callback.as_deref(),
        Some("https://bot.test/webhooks/sms")
    );
    let mut no_cb = config(false, RenderPolicy::Fallback);
    no_cb.status_callback = None;
    let r = render_message(&no_cb, "+1555", &msg).unwrap();
    assert!(r.requests.iter().all(|q| q.status_callback.is_none()));
}

#[test]
fn whatsapp_keeps_markup_and_one_media_per_message() {
    let msg = OutboundMessage::builder()
        .text("**Hi**")
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://m.test/a.png",
        ))
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://m.test/b.png",
        ))
        .build()
        .unwrap();
    let r = render_message(
        &config(false, RenderPolicy::Fallback),
        "whatsapp:+15550002222",
        &msg,
    )
    .unwrap();
    assert_eq!(r.requests[0].to, "whatsapp:+15550002222");
    assert_eq!(r.requests[0].media_urls, ["https://m.test/a.png"]);
    assert!(r.requests[0].body.as_deref().unwrap().starts_with("*Hi*"));
    assert!(
        r.requests[0]
            .body
            .as_deref()
            .unwrap()
            .contains("https://m.test/b.png")
    );
    assert_eq!(r.requests[0].segments, None);
}

#[test]
fn long_text_splits_and_smart_encoding_counts_gsm7() {
    let long = "word ".repeat(700);
    let msg = OutboundMessage::text(long.trim()).unwrap();
    let r = render_message(&config(false, RenderPolicy::Fallback), "+15550002222", &msg).unwrap();
    assert_eq!(r.requests.len(), 3);
    assert!(
        r.requests
            .iter()
            .all(|q| q.body.as_ref().unwrap().len() <= MAX_BODY_CHARS)
    );
    let curly = OutboundMessage::text("It\u{2019}s \u{201c}fine\u{201d}").unwrap();
    let plain = render_message(&config(false, RenderPolicy::Fallback), "+1555", &curly).unwrap();
    let smart = render_message(&config(true, RenderPolicy::Fallback), "+1555", &curly).unwrap();
    assert_eq!(smart.requests[0].body.as_deref(), Some("It's \"fine\""));
    assert!(smart.requests[0].smart_encoded);
    assert_eq!(smart.requests[0].segments, Some(1));
    assert_eq!(plain.requests[0].segments, Some(1));
    let many = "\u{2019}".repeat(100);
    let r = render_message(
        &config(false, RenderPolicy::Fallback),
        "+1555",
        &OutboundMessage::text(&many).unwrap(),
    )
    .unwrap();
    assert_eq!(r.requests[0].segments, Some(2));
    let r = render_message(
        &config(true, RenderPolicy::Fallback),
        "+1555",
        &OutboundMessage::text(&many).unwrap(),
    )
    .unwrap();
    assert_eq!(r.requests[0].segments, Some(1));
}

#[test]
fn smart_encoding_that_lengthens_text_splits_again() {
    // 1,399 units as written; 2,799 once every "…" is "...".
    let text = "\u{2026} ".repeat(700);
    let msg = OutboundMessage::text(text.trim()).unwrap();
    let r = render_message(&config(true, RenderPolicy::Fallback), "+1555", &msg).unwrap();
    assert_eq!(r.requests.len(), 2);
    assert_eq!(r.plan.parts.len(), 2);
    for (q, part) in r.requests.iter().zip(&r.plan.parts) {
        let body = q.body.as_deref().unwrap();
        assert!(
            body.encode_utf16().count() <= MAX_BODY_CHARS,
            "{}",
            body.len()
        );
        assert!(!body.contains('\u{2026}'));
        assert_eq!(part.text, body);
        assert_eq!(part.sms.map(|s| s.segments), q.segments);
    }
    assert_eq!(r.plan.sms_segments(), Some(11 + 8));
    assert!(
        r.plan
            .degradations
            .contains(&Degradation::Split { parts: 2 })
    );

    // WhatsApp carries Unicode: nothing replaced, no SmartEncoded.
    let curly = OutboundMessage::text("It\u{2019}s").unwrap();
    let wa = render_message(
        &config(true, RenderPolicy::Fallback),
        "whatsapp:+1555",
        &curly,
    )
    .unwrap();
    assert_eq!(wa.requests[0].body.as_deref(), Some("It\u{2019}s"));
    assert!(!wa.requests[0].smart_encoded);
}

#[test]
fn bytes_are_unsupported_and_templates_use_content_sid() {
    let msg = OutboundMessage::builder()
        .attachment(Attachment::bytes(vec![1_u8], "image/png", "a.png"))
        .build()
        .unwrap();
    let err = render_message(&config(false, RenderPolicy::Fallback), "+1555", &msg).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("host media"), "{err}");

    let content = TwilioContent {
        content_sid: "HXb5b62575e6e4ff6129ad7c8efe1f983e".into(),
        variables: [("1".to_owned(), "12/1".to_owned())].into(),
    };
    let msg = OutboundMessage::builder()
        .text("fallback for other channels")
        .extension(&content)
        .build()
        .unwrap();
    let r = render_message(
        &config(false, RenderPolicy::Fallback),
        "whatsapp:+1555",
        &msg,
    )
    .unwrap();
    assert_eq!(r.requests.len(), 1);
    assert_eq!(r.requests[0].body, None);
    assert_eq!(
        r.requests[0].content_sid.as_deref(),
        Some("HXb5b62575e6e4ff6129ad7c8efe1f983e")
    );
    assert_eq!(
        r.requests[0].content_variables.as_deref(),
        Some(r#"{"1":"12/1"}"#)
    );
}
