use switchboard_core::model::{Attachment, AttachmentKind};
use switchboard_core::{Degradation, ErrorKind};

use super::*;
use crate::capabilities;

fn plan_of(msg: &OutboundMessage, policy: RenderPolicy) -> Result<WebchatPlan> {
    plan(msg, &capabilities(), policy, 1_000)
}

fn build(b: switchboard_core::model::OutboundMessageBuilder) -> OutboundMessage {
    b.build().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn buttons_and_quick_replies_stay_native() {
    let msg = build(
        OutboundMessage::builder()
            .text("Which order? **Pick one**")
            .button("Order 1", "ORDER_1")
            .link_button("Track", "https://track.example/1")
            .quick_reply("Something else", "OTHER")
            .attachment(Attachment::url(
                AttachmentKind::Image,
                "https://shop.example/a.png",
            )),
    );
    let p = plan_of(&msg, RenderPolicy::Strict).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.records.len(), 1);
    let r = &p.records[0];
    assert_eq!(
        r.text.as_deref(),
        Some("Which order? **Pick one**"),
        "CommonMark passes through"
    );
    assert_eq!(r.from, Author::new(Role::Bot));
    assert_eq!(
        r.buttons,
        [
            Button::Postback {
                label: "Order 1".into(),
                payload: "ORDER_1".into()
            },
            Button::Link {
                label: "Track".into(),
                url: "https://track.example/1".into()
            },
        ]
    );
    assert_eq!(
        r.quick_replies,
        [QuickReplyView {
            label: "Something else".into(),
            payload: "OTHER".into()
        }]
    );
    assert_eq!(r.attachments[0].url, "https://shop.example/a.png");
    assert!(p.plan.degradations.is_empty());
}

#[test]
fn long_text_splits_with_content_on_the_right_parts() {
    let text = "word ".repeat(2000);
    let msg = build(
        OutboundMessage::builder()
            .text(text)
            .button("Yes", "Y")
            .attachment(Attachment::url(
                AttachmentKind::File,
                "https://shop.example/a.pdf",
            ))
            .idempotency_key("site:ev1:0"),
    );
    let p = plan_of(&msg, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.records.len() >= 3);
    assert!(
        p.records
            .iter()
            .all(|r| r.text.as_deref().is_some_and(|t| t.chars().count() <= 4096))
    );
    assert_eq!(p.records[0].attachments.len(), 1);
    assert!(p.records[1..].iter().all(|r| r.attachments.is_empty()));
    assert_eq!(p.records.last().map(|r| r.buttons.len()), Some(1));
    assert!(
        p.records[..p.records.len() - 1]
            .iter()
            .all(|r| r.buttons.is_empty())
    );
    let again = plan_of(&msg, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    let ids = |p: &WebchatPlan| p.records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&p), ids(&again), "keyed sends get the same ids");
}

#[test]
fn more_buttons_than_the_widget_shows_degrade_or_fail() {
    let mut b = OutboundMessage::builder().text("Pick");
    for i in 0..11 {
        b = b.button(format!("B{i}"), format!("P{i}"));
    }
    let msg = build(b);
    let p = plan_of(&msg, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        p.plan
            .degradations
            .iter()
            .any(|d| matches!(d, Degradation::ButtonsAsText { .. }))
    );
    assert!(p.records.iter().all(|r| r.buttons.is_empty()));
    let e = plan_of(&msg, RenderPolicy::Strict).err().map(|e| e.kind());
    assert_eq!(e, Some(ErrorKind::Unsupported));
}

#[test]
fn authors_and_impersonation() {
    let agent = build(
        OutboundMessage::builder()
            .text("hi")
            .extension(&WebchatAuthor {
                role: Role::Agent,
                name: Some("Sam".into()),
            }),
    );
    let p = plan_of(&agent, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.records[0].from,
        Author {
            role: Role::Agent,
            name: Some("Sam".into())
        }
    );
    let visitor = build(
        OutboundMessage::builder()
            .text("hi")
            .extension(&WebchatAuthor {
                role: Role::Visitor,
                name: None,
            }),
    );
    let e = plan_of(&visitor, RenderPolicy::Fallback)
        .err()
        .map(|e| e.kind());
    assert_eq!(e, Some(ErrorKind::InvalidMessage));
}

#[test]
fn byte_attachments_are_files_whose_urls_the_send_fills_in() {
    let msg = build(
        OutboundMessage::builder()
            .text("see")
            .attachment(Attachment::url(
                AttachmentKind::Image,
                "https://cdn.example/a.png",
            ))
            .attachment(Attachment::bytes(vec![1_u8], "image/png", "b.png")),
    );
    let p = plan_of(&msg, RenderPolicy::Strict).unwrap_or_else(|e| panic!("{e}"));
    let shown = &p.records[0].attachments;
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[0].url, "https://cdn.example/a.png");
    assert_eq!(
        (shown[1].url.as_str(), shown[1].filename.as_deref()),
        ("", Some("b.png"))
    );
    assert_eq!(
        p.files,
        vec![crate::files::PendingFile {
            index: 1,
            data: bytes::Bytes::from_static(&[1]),
        }]
    );
}
