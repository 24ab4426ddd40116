use serde_json::json;
use switchboard_core::model::{Attachment, AttachmentKind};

use super::*;
use crate::adapter::capabilities;

fn plan_of(msg: &OutboundMessage, policy: RenderPolicy) -> Result<SlackPlan> {
    plan(msg, &capabilities(), policy)
}

#[test]
fn plain_text_is_one_text_post_in_mrkdwn() {
    let msg = OutboundMessage::text("**Hi** <you> & [docs](https://x.test)").unwrap();
    let p = plan_of(&msg, RenderPolicy::Fallback).unwrap();
    assert_eq!(p.posts.len(), 1);
    assert_eq!(
        p.posts[0]["text"],
        "*Hi* &lt;you&gt; &amp; <https://x.test|docs>"
    );
    assert!(!p.posts[0].contains_key("blocks"));
    assert!(p.degradations.is_empty());
}

#[test]
fn buttons_and_quick_replies_share_one_actions_block() {
    let msg = OutboundMessage::builder()
        .text("Pick")
        .button("Yes", "Y")
        .link_button("Docs", "https://docs.test")
        .quick_reply("Later", "L")
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Strict).unwrap();
    assert_eq!(p.posts.len(), 1);
    let post = &p.posts[0];
    assert_eq!(post["text"], "Pick");
    let blocks = post["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0],
        json!({"type": "section", "text": {"type": "mrkdwn", "text": "Pick"}})
    );
    let els = blocks[1]["elements"].as_array().unwrap();
    assert_eq!(blocks[1]["type"], "actions");
    assert_eq!(els.len(), 3);
    assert_eq!(
        (els[0]["action_id"].as_str(), els[0]["value"].as_str()),
        (Some("sb_btn_0"), Some("Y"))
    );
    assert_eq!(els[1]["url"], "https://docs.test");
    assert_eq!(
        (
            els[2]["action_id"].as_str(),
            els[2]["text"]["text"].as_str()
        ),
        (Some("sb_qr_2"), Some("Later"))
    );
    assert!(p.options.is_empty() && p.degradations.is_empty());
}

#[test]
fn too_many_choices_become_numbered_text() {
    let mut b = OutboundMessage::builder().text("Pick");
    for i in 0..26 {
        b = b.button(format!("B{i}"), format!("p{i}"));
    }
    let p = plan_of(&b.build().unwrap(), RenderPolicy::Fallback).unwrap();
    assert_eq!(p.options.len(), 26);
    assert!(p.posts[0]["text"].as_str().unwrap().contains("26. B25"));
    assert!(!p.posts[0].contains_key("blocks"));
    let strict = plan_of(
        &OutboundMessage::builder()
            .text("x")
            .button("a", "b")
            .quick_reply("q", "r")
            .build()
            .unwrap(),
        RenderPolicy::Strict,
    );
    assert!(strict.is_ok());
}

#[test]
fn long_labels_are_cut_to_75_characters() {
    let label = "x".repeat(80);
    let msg = OutboundMessage::builder()
        .text("t")
        .button(label, "p")
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Fallback).unwrap();
    let text = p.posts[0]["blocks"][1]["elements"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text.chars().count(), 75);
    assert!(text.ends_with('…'));
    // Strict allows no change of content: a label Slack cannot show whole is an error.
    let e = plan_of(&msg, RenderPolicy::Strict).unwrap_err();
    assert_eq!(e.kind(), switchboard_core::ErrorKind::Unsupported, "{e}");
    let exact = OutboundMessage::builder()
        .text("t")
        .button("y".repeat(75), "p")
        .build()
        .unwrap();
    assert!(plan_of(&exact, RenderPolicy::Strict).is_ok());
}

#[test]
fn long_text_splits_and_buttons_go_last() {
    let para = "word ".repeat(700);
    let text = format!("{para}\n\n{para}");
    let msg = OutboundMessage::builder()
        .text(text)
        .button("OK", "ok")
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Fallback).unwrap();
    assert_eq!(p.posts.len(), 2);
    assert!(!p.posts[0].contains_key("blocks"));
    assert!(p.posts[0]["text"].as_str().unwrap().chars().count() <= 4000);
    let blocks = p.posts[1]["blocks"].as_array().unwrap();
    assert_eq!(blocks.last().unwrap()["type"], "actions");
    assert!(p.degradations.contains(&Degradation::Split { parts: 2 }));
}

#[test]
fn images_by_url_are_blocks_and_other_urls_links() {
    let msg = OutboundMessage::builder()
        .attachment(
            Attachment::url(AttachmentKind::Image, "https://x.test/cat.png").with_caption("A cat"),
        )
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Strict).unwrap();
    assert_eq!(p.posts[0]["text"], "A cat");
    assert_eq!(
        p.posts[0]["blocks"][0],
        json!({"type": "image", "image_url": "https://x.test/cat.png", "alt_text": "A cat"})
    );

    let pdf = OutboundMessage::builder()
        .text("Report")
        .attachment(Attachment::url(
            AttachmentKind::File,
            "https://x.test/r.pdf",
        ))
        .build()
        .unwrap();
    let p = plan_of(&pdf, RenderPolicy::Fallback).unwrap();
    assert_eq!(p.posts[0]["text"], "Report\n\n<https://x.test/r.pdf>");
    assert_eq!(
        p.degradations,
        vec![Degradation::AttachmentAsLink {
            kind: AttachmentKind::File
        }]
    );
    let err = plan_of(&pdf, RenderPolicy::Strict).unwrap_err();
    assert_eq!(err.kind(), switchboard_core::ErrorKind::Unsupported);
    let dropped = plan_of(&pdf, RenderPolicy::Drop).unwrap();
    assert_eq!(dropped.posts[0]["text"], "Report");
}

#[test]
fn bytes_are_uploads_and_extension_blocks_are_appended() {
    let msg = OutboundMessage::builder()
        .attachment(Attachment::bytes(vec![1_u8, 2], "application/pdf", "r.pdf"))
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Strict).unwrap();
    assert!(p.posts.is_empty());
    assert_eq!(p.uploads.len(), 1);

    let msg = OutboundMessage::builder()
        .text("hi")
        .extension(&SlackBlocks(vec![json!({"type": "divider"})]))
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Strict).unwrap();
    assert_eq!(p.posts[0]["blocks"][1], json!({"type": "divider"}));
    assert_eq!(p.posts[0]["text"], "hi");
}

/// Issue 15, item 1: whatever markdown a message carries, no Slack control sequence and no
/// link to anything but a web page comes out, in `text` or in `section` blocks.
#[test]
fn link_destinations_never_become_control_sequences() {
    let issue = "[urgent](!channel) [ping](@U0ALICE) [Your bank login](https://evil.example/login) [a](x><!everyone)";
    for with_blocks in [false, true] {
        let mut b = OutboundMessage::builder().text(issue);
        if with_blocks {
            b = b.button("Yes", "Y");
        }
        let p = plan_of(&b.build().unwrap(), RenderPolicy::Fallback).unwrap();
        let body = serde_json::to_string(&p.posts).unwrap();
        for bad in ["<!", "<@", "<#", "|urgent>", "|ping>"] {
            assert!(!body.contains(bad), "{bad} in {body}");
        }
        assert_eq!(
            p.posts[0]["text"],
            "urgent (!channel) ping (@U0ALICE) <https://evil.example/login|Your bank login> a (x&gt;&lt;!everyone)"
        );
    }
}

/// Found by fuzzing `render` with `assert-slack-escaping`: a message whose text renders empty
/// takes its notification `text` from the buttons' labels, which reached Slack unescaped.
#[test]
fn fallback_text_from_labels_is_escaped_and_within_the_limit() {
    let msg = OutboundMessage::builder()
        .text(">")
        .link_button("see <!everyone> & <b>", "https://example.com")
        .button("<@U0ALICE>", "p")
        .build()
        .unwrap();
    let p = plan_of(&msg, RenderPolicy::Fallback).unwrap();
    assert_eq!(
        p.posts[0]["text"],
        "see &lt;!everyone&gt; &amp; &lt;b&gt; | &lt;@U0ALICE&gt;"
    );

    let mut b = OutboundMessage::builder().text(">");
    for _ in 0..MAX_ACTIONS {
        b = b.button("<".repeat(MAX_BUTTON_TEXT), "p");
    }
    let p = plan_of(&b.build().unwrap(), RenderPolicy::Fallback).unwrap();
    let text = p.posts[0]["text"].as_str().unwrap();
    assert!(text.chars().count() <= crate::adapter::MAX_TEXT_CHARS);
    assert!(text.ends_with("&lt;…"), "{text}");
    assert!(!text.contains('<'));
}
