//! Rendering rules, and every Send API example of `tests/fixtures/send_api_examples.json`
//! reproduced from the equivalent neutral message.
//!
//! Comparisons are of parsed JSON. Where a fixture differs from what the adapter must send,
//! the test says so: the adapter always sends `messaging_type` (Meta's text describes it as
//! `RESPONSE`; the Postman bodies leave it out), quick reply `image_url` has no neutral field,
//! and Postman placeholders for URLs and `is_reusable` are instantiated.

use serde_json::{Value, json};
use switchboard_core::model::{Attachment, AttachmentKind};
use switchboard_core::{Degradation, ErrorKind, OutboundMessage};

use super::*;
use crate::adapter::capabilities;
use crate::extension::{DefaultAction, GenericElement, TemplateButton};

const FIXTURES: &str = include_str!("../../tests/fixtures/send_api_examples.json");

fn case(id: &str) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
        .clone()
}

/// The request body of a fixture case: `body`, or `body_raw` parsed after instantiating placeholders.
fn fixture_body(id: &str) -> Value {
    let c = case(id);
    let req = &c["request"];
    if let Some(raw) = req["body_raw"].as_str() {
        let raw = raw
            .replace("<PATH_TO_ASSET>", "https://example.com/asset.png")
            .replace("\"<IS_REUSABLE?>\"", "true");
        serde_json::from_str(&raw).unwrap()
    } else {
        req["body"].clone()
    }
}

/// Every request body the adapter would send for `msg` to `to`.
fn bodies(msg: &OutboundMessage, to: &str) -> Vec<Value> {
    let p = plan(msg, &capabilities(), RenderPolicy::Fallback).unwrap();
    p.messages
        .iter()
        .map(|m| request(to, &p.options, message(m, None, None)))
        .collect()
}

fn with_response_type(mut v: Value) -> Value {
    if v.get("messaging_type").is_none() {
        v["messaging_type"] = json!("RESPONSE");
    }
    v
}

fn without_image_urls(mut v: Value) -> Value {
    if let Some(qrs) = v["message"]["quick_replies"].as_array_mut() {
        for q in qrs {
            q.as_object_mut().unwrap().remove("image_url");
        }
    }
    v
}

#[test]
fn postman_text_message() {
    let msg = OutboundMessage::text("Hello!").unwrap();
    let expected = with_response_type(fixture_body("postman-text-message"));
    assert_eq!(bodies(&msg, "{{page-scoped-id}}"), vec![expected]);
}

#[test]
fn reference_form_encoded_text() {
    // The reference shows form fields whose values are single-quoted pseudo-JSON.
    let c = case("send-api-reference-form-encoded");
    let form = &c["request"]["form"];
    let field = |k: &str| -> Value {
        serde_json::from_str(&form[k].as_str().unwrap().replace('\'', "\"")).unwrap()
    };
    let expected = json!({
        "recipient": field("recipient"),
        "messaging_type": form["messaging_type"],
        "message": field("message"),
    });
    let msg = OutboundMessage::text("hello, world").unwrap();
    assert_eq!(bodies(&msg, "{PSID}"), vec![expected]);
}

#[test]
fn postman_image_by_url() {
    let msg = OutboundMessage::builder()
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://example.com/asset.png",
        ))
        .build()
        .unwrap();
    let expected = with_response_type(fixture_body("postman-media-message-photo"));
    assert_eq!(bodies(&msg, "{{page-scoped-id}}"), vec![expected]);
}

#[test]
fn quick_replies_examples() {
    let msg = OutboundMessage::builder()
        .text("Pick a color:")
        .quick_reply("<TITLE>", "<DEVELOPER_DEFINED_PAYLOAD>")
        .quick_reply("<TITLE>", "<DEVELOPER_DEFINED_PAYLOAD>")
        .build()
        .unwrap();
    let expected = with_response_type(without_image_urls(fixture_body("postman-quick-replies")));
    assert_eq!(bodies(&msg, "{{page-scoped-id}}"), vec![expected]);

    let msg = OutboundMessage::builder()
        .text("Pick a color:")
        .quick_reply("Red", "{POSTBACK_PAYLOAD}")
        .quick_reply("Green", "{POSTBACK_PAYLOAD}")
        .build()
        .unwrap();
    let expected = without_image_urls(fixture_body("quick-replies-reference"));
    assert_eq!(bodies(&msg, "{PSID}"), vec![expected]);
}

#[test]
fn button_template_examples() {
    let msg = OutboundMessage::builder()
        .text("What do you want to do next?")
        .link_button("Visit Messenger", "https://www.messenger.com")
        .link_button("Visit Facebook", "https://www.facebook.com")
        .build()
        .unwrap();
    let expected = with_response_type(fixture_body("postman-button-template"));
    assert_eq!(bodies(&msg, "{{page-scoped-id}}"), vec![expected]);

    let msg = OutboundMessage::builder()
        .text("What do you want to do next?")
        .link_button("Visit Messenger", "https://www.messenger.com")
        .build()
        .unwrap();
    let expected = with_response_type(fixture_body("button-template-reference"));
    assert_eq!(bodies(&msg, "{PSID}"), vec![expected]);
}

#[test]
fn postman_generic_template_through_the_extension() {
    let card = GenericElement {
        title: "Welcome!".into(),
        image_url: Some("https://raw.githubusercontent.com/fbsamples/original-coast-clothing-ig/refs/heads/main/public/logo.png".into()),
        subtitle: Some("We have the right hat for everyone.".into()),
        default_action: Some(DefaultAction {
            kind: "web_url".into(),
            url: "https://www.originalcoastclothing.com/".into(),
            webview_height_ratio: Some("tall".into()),
        }),
        buttons: vec![
            TemplateButton::WebUrl {
                url: "https://www.originalcoastclothing.com/".into(),
                title: "View Website".into(),
            },
            TemplateButton::Postback {
                title: "Start Chatting".into(),
                payload: "DEVELOPER_DEFINED_PAYLOAD".into(),
            },
        ],
    };
    let msg = OutboundMessage::builder()
        .extension(&GenericTemplate {
            elements: vec![card],
        })
        .build()
        .unwrap();
    let expected = with_response_type(fixture_body("postman-generic-template"));
    assert_eq!(bodies(&msg, "{{page-scoped-id}}"), vec![expected]);
}

#[test]
fn sender_actions() {
    for (id, action) in [
        ("sender-action-typing_on", "typing_on"),
        ("sender-action-typing_off", "typing_off"),
        ("sender-action-mark_seen", "mark_seen"),
    ] {
        assert_eq!(sender_action("<PSID>", action), fixture_body(id), "{id}");
    }
}

#[test]
fn message_tags_and_update() {
    let msg = OutboundMessage::builder()
        .text("An agent will follow up.")
        .extension(&SendOptions::tag("HUMAN_AGENT"))
        .build()
        .unwrap();
    let b = &bodies(&msg, "123")[0];
    assert_eq!(b["messaging_type"], "MESSAGE_TAG");
    assert_eq!(b["tag"], "HUMAN_AGENT");
    let msg = OutboundMessage::builder()
        .text("Shipped.")
        .extension(&SendOptions::update())
        .build()
        .unwrap();
    assert_eq!(bodies(&msg, "123")[0]["messaging_type"], "UPDATE");

    let bad = OutboundMessage::builder()
        .text("x")
        .extension(&SendOptions {
            messaging_type: MessagingType::MessageTag,
            tag: None,
            notification_type: None,
        })
        .build()
        .unwrap();
    let err = plan(&bad, &capabilities(), RenderPolicy::Fallback).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMessage);
    assert!(err.to_string().contains("needs a tag"), "{err}");
}

#[test]
fn user_ref_recipients() {
    assert_eq!(recipient("user_ref:abc"), json!({"user_ref": "abc"}));
    assert_eq!(
        recipient("5275811702471834"),
        json!({"id": "5275811702471834"})
    );
}

#[test]
fn long_text_with_buttons_keeps_the_template_within_640() {
    let para = "word ".repeat(300); // 1,500 characters
    let msg = OutboundMessage::builder()
        .text(format!("{para}\n\n{para}"))
        .button("Yes", "YES")
        .button("No", "NO")
        .quick_reply("Later", "LATER")
        .build()
        .unwrap();
    let p = plan(&msg, &capabilities(), RenderPolicy::Fallback).unwrap();
    let n = p.messages.len();
    assert!(n >= 3, "{n}");
    for m in &p.messages[..n - 1] {
        match &m.content {
            Content::Text(t) => assert!(t.chars().count() <= 2000),
            other => panic!("expected text, got {other:?}"),
        }
        assert!(m.quick_replies.is_empty());
    }
    match &p.messages[n - 1].content {
        Content::Buttons { text, buttons } => {
            assert!(
                text.chars().count() <= MAX_BUTTON_TEXT_CHARS,
                "{}",
                text.chars().count()
            );
            assert_eq!(buttons.len(), 2);
        }
        other => panic!("expected the button template last, got {other:?}"),
    }
    assert_eq!(p.messages[n - 1].quick_replies.len(), 1);
    assert!(p.degradations.contains(&Degradation::Split { parts: n }));
    let words: usize = p
        .messages
        .iter()
        .map(|m| match &m.content {
            Content::Text(t) | Content::Buttons { text: t, .. } => t.split_whitespace().count(),
            _ => 0,
        })
        .sum();
    assert_eq!(words, 600);
}

#[test]
fn more_than_three_buttons_become_numbered_options() {
    let mut b = OutboundMessage::builder().text("Pick");
    for i in 1..=4 {
        b = b.button(format!("Option {i}"), format!("P{i}"));
    }
    let p = plan(&b.build().unwrap(), &capabilities(), RenderPolicy::Fallback).unwrap();
    assert_eq!(p.messages.len(), 1);
    let Content::Text(t) = &p.messages[0].content else {
        panic!("{:?}", p.messages)
    };
    assert!(
        t.starts_with("Pick\n\n1. Option 1  2. Option 2  3. Option 3  4. Option 4"),
        "{t}"
    );
    assert!(
        p.degradations
            .contains(&Degradation::ButtonsAsText { count: 4 })
    );
}

#[test]
fn over_long_titles_become_numbered_options() {
    let msg = OutboundMessage::builder()
        .text("Pick")
        .quick_reply("A title of more than twenty characters", "LONG")
        .quick_reply("Short", "SHORT")
        .build()
        .unwrap();
    let p = plan(&msg, &capabilities(), RenderPolicy::Fallback).unwrap();
    assert!(p.messages[0].quick_replies.is_empty());
    assert!(
        p.degradations
            .contains(&Degradation::QuickRepliesAsText { count: 2 })
    );
    let err = plan(&msg, &capabilities(), RenderPolicy::Strict).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[test]
fn buttons_without_text_become_options() {
    let msg = OutboundMessage::builder()
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://example.com/a.png",
        ))
        .button("Like", "LIKE")
        .build()
        .unwrap();
    let p = plan(&msg, &capabilities(), RenderPolicy::Fallback).unwrap();
    assert_eq!(p.messages.len(), 2);
    assert!(matches!(&p.messages[0].content, Content::Text(t) if t.contains("1. Like")));
    assert!(matches!(&p.messages[1].content, Content::Media(_)));
}

#[test]
fn bytes_and_metadata() {
    let msg = OutboundMessage::builder()
        .attachment(Attachment::bytes(vec![1_u8, 2, 3], "audio/mpeg", "a.mp3"))
        .idempotency_key("k1")
        .build()
        .unwrap();
    let p = plan(&msg, &capabilities(), RenderPolicy::Fallback).unwrap();
    let m = message(
        &p.messages[0],
        Some("1601472827243653"),
        Some("switchboard:k1"),
    );
    assert_eq!(
        m,
        json!({"attachment": {"type": "audio", "payload": {"attachment_id": "1601472827243653"}}, "metadata": "switchboard:k1"})
    );
}

#[test]
fn upload_message_field_matches_the_postman_upload_example() {
    // The Postman example uploads by URL; the adapter uploads bytes, so `url` is the only difference.
    let c = case("postman-attachment-upload-photo");
    let mut expected: Value = serde_json::from_str(
        &c["request"]["body_raw"]
            .as_str()
            .unwrap()
            .replace("\"<IS_REUSABLE?>\"", "true"),
    )
    .unwrap();
    expected["message"]["attachment"]["payload"]
        .as_object_mut()
        .unwrap()
        .remove("url");
    let (_, body) = crate::api::multipart(
        &crate::api::upload_message("image").to_string(),
        b"x",
        "image/png",
        "a.png",
    );
    let text = String::from_utf8(body).unwrap();
    let field = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap();
    assert_eq!(
        json!({ "message": serde_json::from_str::<Value>(field).unwrap() }),
        expected
    );
}

/// Issue 15 item 12: a human agent's reply (the bridge marks them) goes out with the
/// `HUMAN_AGENT` tag; the message's own options win.
#[test]
fn a_human_agents_reply_is_tagged_human_agent() {
    use switchboard_core::policy::HumanAgent;
    let msg = OutboundMessage::builder()
        .text("An agent here.")
        .extension(&HumanAgent {})
        .build()
        .unwrap();
    let b = &bodies(&msg, "123")[0];
    assert_eq!(b["messaging_type"], "MESSAGE_TAG");
    assert_eq!(b["tag"], "HUMAN_AGENT");
    let own = OutboundMessage::builder()
        .text("Shipped.")
        .extension(&HumanAgent {})
        .extension(&SendOptions::update())
        .build()
        .unwrap();
    let b = &bodies(&own, "123")[0];
    assert_eq!(b["messaging_type"], "UPDATE");
    assert!(b.get("tag").is_none());
    let plain = OutboundMessage::text("Hi").unwrap();
    assert_eq!(bodies(&plain, "123")[0]["messaging_type"], "RESPONSE");
}
