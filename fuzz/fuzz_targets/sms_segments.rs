//! SMS encoding and segment counting (core `render::sms`), Twilio's smart encoding, and
//! splitting measured in segments and UTF-16 units.
//!
//! Input: one byte choosing the split limit, then the text (lossy UTF-8).
//!
//! Invariants: GSM-7 exactly when every character is in the GSM alphabet; units are the sum of
//! septets (GSM-7) or UTF-16 units (UCS-2); 0 segments only for an empty text, 1 up to a single
//! message's capacity (160/70), else between ⌈units/153⌉ (⌈units/67⌉) and the count with one
//! unit lost per segment (an escape or surrogate pair never split); smart encoding works
//! character by character and is idempotent; every split part is within the limit and the parts
//! keep every non-whitespace character in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::LengthUnit;
use switchboard::core::render::sms::{self, SmsEncoding};
use switchboard::core::render::split;
use switchboard::twilio::fuzzing::smart_encode;
use switchboard_fuzz::text;
use unicode_segmentation::UnicodeSegmentation;

fn check_analysis(text: &str) {
    let info = sms::analyze(text);
    let gsm = sms::is_gsm7(text);
    assert_eq!(info.encoding == SmsEncoding::Gsm7, gsm);
    let (units, single, multi) = if gsm {
        let septets = text
            .chars()
            .map(|c| sms::gsm7_septets(c).unwrap_or(0))
            .sum();
        (septets, 160, 153)
    } else {
        (text.encode_utf16().count(), 70, 67)
    };
    assert_eq!(info.units, units);
    let segments = info.segments as usize;
    if units == 0 {
        assert_eq!(segments, 0);
    } else if units <= single {
        assert_eq!(segments, 1);
    } else {
        assert!(segments >= units.div_ceil(multi), "{info:?}");
        assert!(segments <= units.div_ceil(multi - 1), "{info:?}");
    }
}

fn non_ws(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().filter(|c| !c.is_whitespace())
}

fn check_split(text: &str, max: usize, unit: LengthUnit) {
    let parts = split(text, max, unit);
    for p in &parts {
        assert!(!p.is_empty());
        // Only a single grapheme larger than the limit may exceed it.
        let measured = unit.measure(p);
        assert!(
            measured <= max.max(1) || p.graphemes(true).count() == 1,
            "part of {measured} over {max} {unit:?}: {p:?}"
        );
    }
    assert!(
        non_ws(text).eq(parts.iter().flat_map(|p| non_ws(p))),
        "split lost or reordered characters"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let t = text(rest);
    check_analysis(&t);

    let encoded = smart_encode(&t);
    let by_char: String = t
        .chars()
        .map(|c| smart_encode(c.encode_utf8(&mut [0; 4])))
        .collect();
    assert_eq!(encoded, by_char);
    assert_eq!(
        smart_encode(&encoded),
        encoded,
        "smart encoding is not idempotent"
    );
    check_analysis(&encoded);

    check_split(&t, 1 + usize::from(limit % 8), LengthUnit::SmsSegments);
    check_split(&t, 16 + usize::from(limit) * 8, LengthUnit::Utf16);
});
