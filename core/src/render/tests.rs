use proptest::prelude::*;

use super::*;
use crate::capabilities::{AttachmentCapabilities, TextLimit};

fn caps(max: usize, unit: LengthUnit, dialect: MarkdownDialect) -> Capabilities {
    Capabilities {
        text: TextLimit { max, unit },
        markdown: dialect,
        ..Capabilities::default()
    }
}

fn msg(b: crate::model::OutboundMessageBuilder) -> OutboundMessage {
    b.build().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn buttons_become_numbered_options_under_fallback() {
    let m = msg(OutboundMessage::builder()
        .text("Pick one")
        .button("Yes", "Y")
        .button("No", "N"));
    let plan = render(
        &m,
        &caps(160, LengthUnit::Chars, MarkdownDialect::Plain),
        RenderPolicy::Fallback,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.parts.len(), 1);
    assert_eq!(
        plan.parts[0].text,
        "Pick one\n\n1. Yes  2. No\nReply with the number of your choice."
    );
    assert_eq!(
        plan.options
            .iter()
            .map(|o| o.payload.as_str())
            .collect::<Vec<_>>(),
        ["Y", "N"]
    );
    assert_eq!(plan.degradations, [Degradation::ButtonsAsText { count: 2 }]);
    assert!(plan.actions.is_empty());
}

#[test]
fn strict_refuses_and_drop_leaves_out() {
    let m = msg(OutboundMessage::builder().text("Pick").button("Yes", "Y"));
    let c = caps(160, LengthUnit::Chars, MarkdownDialect::Plain);
    let err = render(&m, &c, RenderPolicy::Strict).err().map(|e| e.kind());
    assert_eq!(err, Some(ErrorKind::Unsupported));
    let plan = render(&m, &c, RenderPolicy::Drop).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.parts[0].text, "Pick");
    assert!(plan.options.is_empty());
    assert!(matches!(plan.degradations[0], Degradation::Dropped { .. }));
}

#[test]
fn native_buttons_stay_native() {
    let m = msg(OutboundMessage::builder()
        .text("Pick")
        .button("Yes", "Y")
        .link_button("Docs", "https://x.test"));
    let c = Capabilities {
        max_buttons: 3,
        link_buttons: true,
        ..caps(100, LengthUnit::Chars, MarkdownDialect::SlackMrkdwn)
    };
    let plan = render(&m, &c, RenderPolicy::Strict).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.actions.len(), 2);
    assert!(plan.degradations.is_empty());
}

#[test]
fn links_fall_back_to_text_while_postbacks_stay() {
    let m = msg(OutboundMessage::builder()
        .text("Pick")
        .button("Yes", "Y")
        .link_button("Docs", "https://x.test"));
    let c = Capabilities {
        max_buttons: 3,
        ..caps(100, LengthUnit::Chars, MarkdownDialect::Plain)
    };
    let plan = render(&m, &c, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.actions.len(), 1);
    assert_eq!(plan.parts[0].text, "Pick\n\nDocs (https://x.test)");
}

#[test]
fn attachments_degrade_to_links_and_bytes_are_refused() {
    let url = msg(OutboundMessage::builder().text("Look").attachment(
        Attachment::url(AttachmentKind::Image, "https://x.test/a.png").with_caption("A cat"),
    ));
    let c = caps(100, LengthUnit::Chars, MarkdownDialect::Plain);
    let plan = render(&url, &c, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.parts[0].text, "Look\n\nA cat (https://x.test/a.png)");
    let bytes = msg(OutboundMessage::builder().attachment(Attachment::bytes(
        vec![1_u8],
        "image/png",
        "a.png",
    )));
    let err = render(&bytes, &c, RenderPolicy::Fallback)
        .err()
        .map(|e| e.kind());
    assert_eq!(err, Some(ErrorKind::Unsupported));
    let with = Capabilities {
        attachments: AttachmentCapabilities::all(10),
        ..c
    };
    let plan = render(&bytes, &with, RenderPolicy::Strict).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.attachments.len(), 1);
    assert!(plan.parts.is_empty());
}

#[test]
fn quick_replies_number_after_buttons() {
    let m = msg(OutboundMessage::builder()
        .text("Q")
        .button("A", "a")
        .quick_reply("B", "b"));
    let plan = render(
        &m,
        &caps(200, LengthUnit::Chars, MarkdownDialect::Plain),
        RenderPolicy::Fallback,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let numbers: Vec<(usize, &str)> = plan
        .options
        .iter()
        .map(|o| (o.number, o.payload.as_str()))
        .collect();
    assert_eq!(numbers, [(1, "a"), (2, "b")]);
    assert_eq!(plan.options[1].source, ActionSource::QuickReply);
}

#[test]
fn long_text_is_split_and_reported() {
    let text = "word ".repeat(100);
    let m = msg(OutboundMessage::builder().text(text));
    let plan = render(
        &m,
        &caps(120, LengthUnit::Chars, MarkdownDialect::Plain),
        RenderPolicy::Strict,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.parts.len() >= 4);
    assert!(plan.parts.iter().all(|p| p.length <= 120));
    assert_eq!(
        plan.degradations,
        [Degradation::Split {
            parts: plan.parts.len()
        }]
    );
    assert!(plan.sms_segments().is_some());
}

fn units() -> impl Strategy<Value = LengthUnit> {
    prop_oneof![
        Just(LengthUnit::Chars),
        Just(LengthUnit::Utf16),
        Just(LengthUnit::Bytes),
        Just(LengthUnit::SmsSegments),
    ]
}

fn texts() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-z]{1,12}",
        "[à-ÿ]{1,6}",
        Just("😀".to_owned()),
        Just("🇮🇹".to_owned()),
        Just("https://example.com/a/b?c=d".to_owned()),
        Just("`code span`".to_owned()),
        Just("end.".to_owned()),
        Just("€{}".to_owned()),
    ];
    let sep = prop_oneof![Just(" "), Just("\n"), Just("\n\n"), Just("  ")];
    prop::collection::vec((word, sep), 0..120)
        .prop_map(|v| v.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

proptest! {
    #[test]
    fn split_parts_fit_keep_order_and_lose_only_whitespace(text in texts(), unit in units(), max in 1_usize..80) {
        let max = if unit == LengthUnit::SmsSegments { max % 4 + 1 } else { max + 8 };
        let ranges = split_ranges(&text, max, unit);
        let mut last_end = 0;
        for r in &ranges {
            prop_assert!(r.start >= last_end, "parts out of order");
            prop_assert!(text[last_end..r.start].trim().is_empty(), "lost non-whitespace between parts");
            let part = &text[r.clone()];
            prop_assert!(!part.is_empty());
            prop_assert!(unit.measure(part) <= max, "part {:?} over {} {:?}", part, max, unit);
            last_end = r.end;
        }
        prop_assert!(text[last_end..].trim().is_empty(), "lost the tail");
        let joined: String = ranges.iter().map(|r| &text[r.clone()]).collect::<String>();
        let strip = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        prop_assert_eq!(strip(&joined), strip(&text));
    }

    #[test]
    fn words_that_fit_are_never_cut(words in prop::collection::vec("[a-z]{1,10}", 1..60), max in 10_usize..60) {
        let text = words.join(" ");
        for part in split(&text, max, LengthUnit::Chars) {
            for w in part.split(' ') {
                prop_assert!(words.contains(&w.to_owned()), "cut word {:?}", w);
            }
        }
    }
}

/// Found by fuzzing `render`: a link button's label and an attachment's caption became Slack
/// text unescaped when they fell back to links (`<!everyone>` in a label reached Slack).
#[test]
fn fallback_link_labels_and_captions_are_escaped_for_slack() {
    let m = msg(OutboundMessage::builder()
        .text("Pick")
        .link_button("<!everyone> now", "https://x.test")
        .attachment(
            Attachment::url(AttachmentKind::Image, "https://x.test/a.png")
                .with_caption("<@U0ALICE> <#C1>"),
        ));
    let c = caps(400, LengthUnit::Chars, MarkdownDialect::SlackMrkdwn);
    let plan = render(&m, &c, RenderPolicy::Fallback).unwrap_or_else(|e| panic!("{e}"));
    let text: String = plan.parts.iter().map(|p| p.text.as_str()).collect();
    for (i, _) in text.match_indices('<') {
        assert!(text[i + 1..].starts_with("https://"), "{text}");
    }
    assert!(text.contains("&lt;!everyone&gt; now"), "{text}");
    assert!(text.contains("&lt;@U0ALICE&gt; &lt;#C1&gt;"), "{text}");
}
