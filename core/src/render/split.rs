//! Splitting rendered text into parts that fit a channel's limit.
//!
//! A cut goes at the last paragraph break that fits, else the last line break, else the last
//! sentence end, else the last space. It never falls inside a code span or fenced block, a URL,
//! a Slack `<…>` link, a word that would fit in a part of its own, or a grapheme cluster. Only a
//! single word, URL or code block longer than the limit is cut inside, at a grapheme boundary.
//! Whitespace at a cut is dropped; everything else is kept, in order.
//!
//! # Cost
//!
//! Linear in the text's length (times the log of the limit), whatever the limit: each part looks
//! only at a window of the text ahead of it that is bounded by the limit (no prefix longer than
//! [`window_chars`] characters can fit), and the protected spans are found in one pass and
//! looked up by binary search. Splitting used to measure and segment the whole remaining text
//! once per part, O(n²/limit): a few KB at a 16-unit limit took tens of milliseconds, a
//! megabyte minutes (issue 15).

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use crate::capabilities::LengthUnit;

/// Splits `text` into byte ranges of `text`, each within `max` under `unit`, in order.
///
/// Concatenating the ranges' text gives back `text` minus the whitespace dropped at the cuts.
/// `max` of 0 is treated as 1 so that progress is always made.
pub fn split_ranges(text: &str, max: usize, unit: LengthUnit) -> Vec<Range<usize>> {
    let max = max.max(1);
    let window = window_chars(max, unit);
    let mut out = Vec::new();
    let protected = protected_ranges(text);
    let mut start = skip_ws(text, 0);
    while start < text.len() {
        let rest = &text[start..];
        // Only the first `window` characters (and one more, to know there are more) can fit.
        let ahead = &rest[..char_prefix(rest, window.saturating_add(1))];
        if ahead.len() == rest.len() && measure(unit, rest) <= max {
            out.push(start..start + rest.trim_end().len());
            break;
        }
        let fit = start + longest_fitting_prefix(rest, ahead, max, unit);
        let cut = best_cut(text, start, fit, &protected);
        let end = start + text[start..cut].trim_end().len();
        if end > start {
            out.push(start..end);
        }
        start = skip_ws(text, cut);
    }
    out
}

/// Splits `text` into owned parts; see [`split_ranges`].
pub fn split(text: &str, max: usize, unit: LengthUnit) -> Vec<String> {
    split_ranges(text, max, unit)
        .into_iter()
        .map(|r| text[r].to_owned())
        .collect()
}

/// The most characters a text within `max` in `unit` can have. Every character costs at least
/// one char, UTF-16 unit, byte or septet; an SMS segment carries at most 160 septets.
fn window_chars(max: usize, unit: LengthUnit) -> usize {
    match unit {
        LengthUnit::Chars | LengthUnit::Utf16 | LengthUnit::Bytes => max,
        LengthUnit::SmsSegments => max.saturating_mul(160),
    }
}

/// Byte length of the first `n` characters of `s` (all of `s` when it is shorter).
fn char_prefix(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// `unit.measure(s)`, counted in tests (the work a split does).
fn measure(unit: LengthUnit, s: &str) -> usize {
    #[cfg(test)]
    tests::MEASURED.with(|m| m.set(m.get() + s.len()));
    unit.measure(s)
}

fn skip_ws(text: &str, from: usize) -> usize {
    from + (text[from..].len() - text[from..].trim_start().len())
}

/// Byte length of the longest grapheme-aligned prefix of `rest` within `max` (at least one
/// grapheme). `ahead` is the prefix of `rest` that may fit (see [`window_chars`]) plus one
/// character when there is more: grapheme boundaries before its end are those of `rest`, since
/// a boundary depends only on what precedes it and the one character after it.
fn longest_fitting_prefix(rest: &str, ahead: &str, max: usize, unit: LengthUnit) -> usize {
    let bounds: Vec<usize> = ahead
        .grapheme_indices(true)
        .map(|(i, g)| i + g.len())
        .filter(|&b| b < ahead.len() || ahead.len() == rest.len())
        .collect();
    // Measures are monotone in the prefix, so binary search the boundaries.
    let (mut lo, mut hi) = (0_usize, bounds.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if measure(unit, &rest[..bounds[mid - 1]]) <= max {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    match lo {
        // Not even one grapheme fits: a lone grapheme goes whole, however long.
        0 => rest.graphemes(true).next().map_or(rest.len(), str::len),
        n => bounds[n - 1],
    }
}

/// Picks the cut in `text[start..=fit]` with the strongest boundary outside protected spans
/// (sorted and disjoint, so each lookup is a binary search).
fn best_cut(text: &str, start: usize, fit: usize, protected: &[Range<usize>]) -> usize {
    let allowed = |p: usize| {
        let i = protected.partition_point(|r| r.end <= p);
        protected.get(i).is_none_or(|r| !(r.start < p && p < r.end))
    };
    let ws_at = |p: usize| text[p..].starts_with(char::is_whitespace);
    // Strongest first: paragraph, line, sentence end, space.
    let levels: [&dyn Fn(usize) -> bool; 4] = [
        &|p| text[p..].starts_with("\n\n"),
        &|p| text[p..].starts_with('\n'),
        &|p| matches!(text.as_bytes()[p - 1], b'.' | b'!' | b'?') && ws_at(p),
        &|p| ws_at(p),
    ];
    let positions: Vec<usize> = text[start..fit]
        .char_indices()
        .map(|(i, _)| start + i)
        .filter(|&p| p > start)
        .chain((fit < text.len()).then_some(fit))
        .collect();
    for level in levels {
        if let Some(&p) = positions.iter().rev().find(|&&p| allowed(p) && level(p)) {
            return p;
        }
    }
    // Only a word, URL or code span longer than the limit gets here: cut it at a grapheme,
    // but not inside a `<…>` link that starts in this part (found by fuzzing: an unclosed
    // fence protects the rest of the text, and a cut there left `…<https` at a part's end).
    forced_cut(text, start, fit)
}

/// Where a part with no allowed boundary ends: at `fit`, or before the last `<` of the part
/// when no `>` closes it before `fit` (a link is then never cut in two, unless it alone is
/// longer than the limit and opens the part).
fn forced_cut(text: &str, start: usize, fit: usize) -> usize {
    let part = &text[start..fit];
    match part.rfind('<') {
        Some(open) if open > 0 && !part[open..].contains('>') => start + open,
        _ => fit,
    }
}

/// Code spans, fenced blocks, URLs and `<…>` links: places a cut must avoid.
fn protected_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    // A `<` looks ahead for `>`, whitespace and `|`: each found once, not once per `<`.
    let mut gt = Next::new(text, |c| c == '>');
    let mut ws = Next::new(text, char::is_whitespace);
    let mut pipe = Next::new(text, |c| c == '|');
    let mut i = 0;
    while i < bytes.len() {
        if text[i..].starts_with("```") {
            let end = text[i + 3..]
                .find("```")
                .map(|e| i + 3 + e + 3)
                .unwrap_or(text.len());
            out.push(i..end);
            i = end;
        } else if bytes[i] == b'`' {
            let end = text[i + 1..].find('`').map(|e| i + 1 + e + 1);
            match end {
                Some(end) if !text[i..end].contains('\n') => {
                    out.push(i..end);
                    i = end;
                }
                _ => i += 1,
            }
        } else if bytes[i] == b'<' {
            match gt.from(i) {
                Some(e)
                    if ws.from(i).is_none_or(|w| w > e) || pipe.from(i).is_some_and(|p| p < e) =>
                {
                    out.push(i..e + 1);
                    i = e + 1;
                }
                _ => i += 1,
            }
        } else if text[i..].starts_with("http://") || text[i..].starts_with("https://") {
            let len = text[i..]
                .find(char::is_whitespace)
                .unwrap_or(text.len() - i);
            out.push(i..i + len);
            i += len;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// The next position of a character class at or after a position that only moves forward:
/// every character is looked at once, however many queries.
struct Next<'a> {
    text: &'a str,
    class: fn(char) -> bool,
    /// The first match at or after `from` (`None`: no match after `from`).
    found: Option<usize>,
    from: usize,
}

impl<'a> Next<'a> {
    fn new(text: &'a str, class: fn(char) -> bool) -> Self {
        let found = text.find(class);
        Next {
            text,
            class,
            found,
            from: 0,
        }
    }

    /// The first match at or after `i` (`i` never smaller than in the previous call).
    fn from(&mut self, i: usize) -> Option<usize> {
        debug_assert!(i >= self.from, "Next::from must move forward");
        if self.found.is_some_and(|f| f < i) {
            self.found = self.text[i..].find(self.class).map(|f| i + f);
            self.from = i;
        }
        self.found
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    use super::*;

    thread_local! {
        /// Bytes measured by this thread's splits.
        pub(super) static MEASURED: Cell<usize> = const { Cell::new(0) };
    }

    fn measured_by(f: impl FnOnce()) -> usize {
        MEASURED.with(|m| m.set(0));
        f();
        MEASURED.with(Cell::get)
    }

    /// Issue 15: every part measured the whole remaining text (and segmented it into
    /// graphemes), O(n²/limit): 64 KB at 16 characters measured about 130 MB. Now each part
    /// measures a window bounded by the limit.
    #[test]
    fn work_is_linear_in_the_text_not_quadratic() {
        let text = "word ".repeat(64 * 1024 / 5);
        for (max, unit) in [
            (16, LengthUnit::Chars),
            (16, LengthUnit::Utf16),
            (100, LengthUnit::Bytes),
            (1, LengthUnit::SmsSegments),
        ] {
            let mut parts = 0;
            let work = measured_by(|| parts = split_ranges(&text, max, unit).len());
            assert!(parts > 100, "{unit:?}: {parts} parts");
            // log2 of the window's graphemes measures per part, each at most the window.
            assert!(
                work < 40 * text.len(),
                "{unit:?} at {max}: measured {work} bytes for {} bytes of text",
                text.len()
            );
        }
        // The same measure on the reference (the code before): quadratic, even on 8 KB.
        let small = &text[..8 * 1024];
        let old = measured_by(|| drop(reference_split(small, 16, LengthUnit::Chars)));
        let new = measured_by(|| drop(split_ranges(small, 16, LengthUnit::Chars)));
        assert!(old > 20 * new, "reference {old} bytes, now {new}");
    }

    /// Issue 15: a `<` without a `>` behind it (or with whitespace before it) looked for the
    /// `>` through the rest of the text, once per `<`: O(n²) before any limit applied.
    #[test]
    fn many_unclosed_angle_brackets_are_linear() {
        for text in [
            "<".repeat(400_000),
            "< ".repeat(200_000) + ">",
            "<a |".repeat(100_000),
        ] {
            let started = Instant::now();
            let parts = split_ranges(&text, 3000, LengthUnit::Chars);
            assert!(!parts.is_empty());
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "took {:?}",
                started.elapsed()
            );
        }
    }

    /// Found by fuzzing (issue 15): an unclosed fence protects the rest of the text, so cuts
    /// there are forced; one left a Slack link's `<https` at a part's end. A forced cut now goes
    /// before a link that opens in the part and does not close before the cut.
    #[test]
    fn a_forced_cut_never_leaves_half_a_link_at_a_parts_end() {
        let link = "<https://example.com/a|site>";
        let text = format!("A ```{}{link}{}{link}", "x".repeat(25), "y".repeat(7));
        for max in 20..60 {
            for r in split_ranges(&text, max, LengthUnit::Chars) {
                let part = &text[r];
                if let Some(open) = part.rfind('<') {
                    assert!(
                        open == 0 || part[open..].contains('>'),
                        "max {max}: a link cut in two at the end of {part:?}"
                    );
                }
            }
        }
    }

    /// The splitting before the window and the binary-searched spans, kept as the reference
    /// the fast one must agree with.
    fn reference_split(text: &str, max: usize, unit: LengthUnit) -> Vec<Range<usize>> {
        let max = max.max(1);
        let mut out = Vec::new();
        let protected = protected_ranges(text);
        let mut start = skip_ws(text, 0);
        while start < text.len() {
            let rest = &text[start..];
            if measure(unit, rest) <= max {
                out.push(start..start + rest.trim_end().len());
                break;
            }
            let bounds: Vec<usize> = rest
                .grapheme_indices(true)
                .map(|(i, g)| i + g.len())
                .collect();
            let (mut lo, mut hi) = (0_usize, bounds.len());
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if measure(unit, &rest[..bounds[mid - 1]]) <= max {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            let fit = start + bounds[lo.max(1) - 1];
            let cut = best_cut(text, start, fit, &protected);
            let end = start + text[start..cut].trim_end().len();
            if end > start {
                out.push(start..end);
            }
            start = skip_ws(text, cut);
        }
        out
    }

    fn reference_protected(text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            if text[i..].starts_with("```") {
                let end = text[i + 3..]
                    .find("```")
                    .map_or(text.len(), |e| i + 3 + e + 3);
                out.push(i..end);
                i = end;
            } else if text[i..].starts_with('`') {
                match text[i + 1..].find('`').map(|e| i + 1 + e + 1) {
                    Some(end) if !text[i..end].contains('\n') => {
                        out.push(i..end);
                        i = end;
                    }
                    _ => i += 1,
                }
            } else if text[i..].starts_with('<') {
                match text[i..].find('>') {
                    Some(e)
                        if !text[i..i + e].contains(char::is_whitespace)
                            || text[i..i + e].contains('|') =>
                    {
                        out.push(i..i + e + 1);
                        i += e + 1;
                    }
                    _ => i += 1,
                }
            } else if text[i..].starts_with("http://") || text[i..].starts_with("https://") {
                let len = text[i..]
                    .find(char::is_whitespace)
                    .unwrap_or(text.len() - i);
                out.push(i..i + len);
                i += len;
            } else {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_quadratic_reference(
            text in r"([a-c]{1,6}|[ .\n|<>`]|😀|🇮🇹|e\x{301}|https://x\.y/z|€){0,200}",
            max in 1_usize..40,
            unit in proptest::sample::select(vec![
                LengthUnit::Chars, LengthUnit::Utf16, LengthUnit::Bytes, LengthUnit::SmsSegments,
            ]),
        ) {
            let max = if unit == LengthUnit::SmsSegments { max % 3 + 1 } else { max };
            proptest::prop_assert_eq!(protected_ranges(&text), reference_protected(&text));
            proptest::prop_assert_eq!(split_ranges(&text, max, unit), reference_split(&text, max, unit));
        }
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(
            split("hello world", 100, LengthUnit::Chars),
            ["hello world"]
        );
        assert!(split("   ", 10, LengthUnit::Chars).is_empty());
    }

    #[test]
    fn prefers_paragraphs_then_sentences_then_words() {
        let text = "First para here.\n\nSecond para is here.";
        assert_eq!(
            split(text, 25, LengthUnit::Chars),
            ["First para here.", "Second para is here."]
        );
        let text = "One sentence. Two sentence here ok";
        assert_eq!(
            split(text, 20, LengthUnit::Chars),
            ["One sentence.", "Two sentence here ok"]
        );
        let text = "alpha beta gamma delta";
        assert_eq!(
            split(text, 11, LengthUnit::Chars),
            ["alpha beta", "gamma delta"]
        );
    }

    #[test]
    fn never_inside_urls_or_code() {
        let text = "see https://example.com/a/very/long/path now";
        let parts = split(text, 36, LengthUnit::Chars);
        assert_eq!(
            parts,
            ["see", "https://example.com/a/very/long/path", "now"]
        );
        let text = "run `cargo test --all` please";
        assert_eq!(
            split(text, 22, LengthUnit::Chars),
            ["run `cargo test --all`", "please"]
        );
    }

    #[test]
    fn overlong_words_are_cut_at_graphemes() {
        let text = "🇮🇹🇮🇹🇮🇹";
        let parts = split(text, 4, LengthUnit::Utf16);
        assert_eq!(parts, ["🇮🇹", "🇮🇹", "🇮🇹"]);
        assert_eq!(
            split("abcdefgh", 3, LengthUnit::Chars),
            ["abc", "def", "gh"]
        );
    }
}
