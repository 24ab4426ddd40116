//! From a neutral message to Create Message requests for the conversation's capabilities (SMS/MMS
//! or WhatsApp, see [`crate::capabilities_for`]): content templates, smart
//! encoding and segment counts.

use switchboard_core::model::{AttachmentSource, OutboundMessage};
use switchboard_core::render::{self, Degradation, RenderPlan, RenderPolicy, TextPart, sms};
use switchboard_core::{Capabilities, Error, Result};

use crate::adapter::capabilities_for;
use crate::address::is_whatsapp;
use crate::config::TwilioConfig;
use crate::extension::TwilioContent;
use crate::reconcile::keyed_callback;
use crate::smart_encoding::smart_encode;
use crate::wire::CreateMessage;

/// A rendered message: the requests to make, in order, and the plan they came from.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) requests: Vec<CreateMessage>,
    pub(crate) plan: RenderPlan,
}

/// Renders `message` for conversation `to` under the channel's configuration.
pub(crate) fn render_message(
    config: &TwilioConfig,
    to: &str,
    message: &OutboundMessage,
) -> Result<Rendered> {
    let caps = capabilities_for(to);
    let has_bytes = message
        .attachments
        .iter()
        .any(|a| matches!(a.source, AttachmentSource::Bytes(_)));
    if has_bytes && config.render != RenderPolicy::Drop {
        return Err(Error::unsupported(
            "attachments given as bytes: Twilio fetches media from a public URL and the engine \
             cannot host media yet; give the attachment as an http(s) URL",
        )
        .with_provider(crate::PROVIDER));
    }
    let whatsapp = is_whatsapp(to);
    let smart = config.smart_encoding && !whatsapp;
    let mut plan = render::render(message, &caps, config.render)?;
    if smart {
        smart_encode_parts(&mut plan, &caps);
    }
    let base = CreateMessage {
        to: to.to_owned(),
        from: config.sender.from().map(str::to_owned),
        messaging_service_sid: config.sender.messaging_service_sid().map(str::to_owned),
        status_callback: config.status_callback.clone(),
        smart_encoded: smart,
        ..CreateMessage::default()
    };
    if let Some(content) = message.extensions.get::<TwilioContent>() {
        let content = content?;
        let variables =
            if content.variables.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&content.variables).map_err(|e| {
                    Error::invalid_message("extensions.twilio.content.variables", e)
                })?)
            };
        let request = CreateMessage {
            content_sid: Some(content.content_sid),
            content_variables: variables,
            smart_encoded: false,
            ..base
        };
        let mut requests = vec![request];
        carry_outbox_key(&mut requests, message);
        return Ok(Rendered { requests, plan });
    }
    let media: Vec<String> = plan
        .attachments
        .iter()
        .filter_map(|a| a.as_url().map(str::to_owned))
        .collect();
    let mut requests: Vec<CreateMessage> = plan
        .parts
        .iter()
        .map(|part| CreateMessage {
            body: Some(part.text.clone()),
            segments: (!whatsapp).then(|| sms::analyze(&part.text).segments),
            ..base.clone()
        })
        .collect();
    if requests.is_empty() && !media.is_empty() {
        requests.push(CreateMessage {
            segments: None,
            ..base.clone()
        });
    }
    if let Some(first) = requests.first_mut() {
        first.media_urls = media;
    }
    carry_outbox_key(&mut requests, message);
    Ok(Rendered { requests, plan })
}

/// Puts the message's outbox key (and each part's index) in the query of every request's
/// `StatusCallback` URL, so that Twilio's status callbacks prove which send a message belongs to.
/// Without a `StatusCallback` the key has nowhere to go at Twilio.
fn carry_outbox_key(requests: &mut [CreateMessage], message: &OutboundMessage) {
    let Some(key) = message.idempotency_key.as_deref() else {
        return;
    };
    let parts = requests.len();
    for (i, request) in requests.iter_mut().enumerate() {
        if let Some(base) = &request.status_callback {
            request.status_callback = Some(keyed_callback(base, key, i, parts));
        }
    }
}

/// Applies smart encoding to every text part of an SMS plan, so that its segment counts are
/// those of the text sent. A replacement can be longer than what it replaces (`…` → `...`,
/// `½` → `1/2`), so a part that grows past the body limit is split again.
fn smart_encode_parts(plan: &mut RenderPlan, caps: &Capabilities) {
    let before = plan.parts.len();
    plan.parts = plan
        .parts
        .iter()
        .flat_map(|part| render::split(&smart_encode(&part.text), caps.text.max, caps.text.unit))
        .map(|text| TextPart {
            length: caps.text.unit.measure(&text),
            sms: Some(sms::analyze(&text)),
            text,
        })
        .collect();
    let after = plan.parts.len();
    if after != before {
        plan.degradations
            .retain(|d| !matches!(d, Degradation::Split { .. }));
        if after > 1 {
            plan.degradations.push(Degradation::Split { parts: after });
        }
    }
}

#[cfg(test)]
mod tests {
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
        .render_policy(policy)
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
        let r =
            render_message(&config(false, RenderPolicy::Fallback), "+15550002222", &msg).unwrap();
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
        let r =
            render_message(&config(false, RenderPolicy::Fallback), "+15550002222", &msg).unwrap();
        assert_eq!(r.requests.len(), 3);
        assert!(
            r.requests
                .iter()
                .all(|q| q.body.as_ref().unwrap().len() <= MAX_BODY_CHARS)
        );
        let curly = OutboundMessage::text("It\u{2019}s \u{201c}fine\u{201d}").unwrap();
        let plain =
            render_message(&config(false, RenderPolicy::Fallback), "+1555", &curly).unwrap();
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
        let err =
            render_message(&config(false, RenderPolicy::Fallback), "+1555", &msg).unwrap_err();
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
}
