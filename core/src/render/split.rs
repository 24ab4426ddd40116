//! Splitting rendered text into parts that fit a channel's limit.
//!
//! A cut goes at the last paragraph break that fits, else the last line break, else the last
//! sentence end, else the last space. It never falls inside a code span or fenced block, a URL,
//! a Slack `<…>` link, a word that would fit in a part of its own, or a grapheme cluster. Only a
//! single word, URL or code block longer than the limit is cut inside, at a grapheme boundary.
//! Whitespace at a cut is dropped; everything else is kept, in order.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use crate::capabilities::LengthUnit;

/// Splits `text` into byte ranges of `text`, each within `max` under `unit`, in order.
///
/// Concatenating the ranges' text gives back `text` minus the whitespace dropped at the cuts.
/// `max` of 0 is treated as 1 so that progress is always made.
pub fn split_ranges(text: &str, max: usize, unit: LengthUnit) -> Vec<Range<usize>> {
    let max = max.max(1);
    let mut out = Vec::new();
    let protected = protected_ranges(text);
    let mut start = skip_ws(text, 0);
    while start < text.len() {
        let rest = &text[start..];
        if unit.measure(rest) <= max {
            out.push(start..start + rest.trim_end().len());
            break;
        }
        let fit = start + longest_fitting_prefix(rest, max, unit);
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

fn skip_ws(text: &str, from: usize) -> usize {
    from + (text[from..].len() - text[from..].trim_start().len())
}

/// Byte length of the longest grapheme-aligned prefix of `s` within `max` (at least one grapheme).
fn longest_fitting_prefix(s: &str, max: usize, unit: LengthUnit) -> usize {
    let bounds: Vec<usize> = s.grapheme_indices(true).map(|(i, g)| i + g.len()).collect();
    // Measures are monotone in the prefix, so binary search the boundaries.
    let (mut lo, mut hi) = (0_usize, bounds.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if unit.measure(&s[..bounds[mid - 1]]) <= max {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    bounds[lo.max(1) - 1]
}

/// Picks the cut in `text[start..=fit]` with the strongest boundary outside protected spans.
fn best_cut(text: &str, start: usize, fit: usize, protected: &[Range<usize>]) -> usize {
    let allowed = |p: usize| !protected.iter().any(|r| r.start < p && p < r.end);
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
    // Only a word, URL or code span longer than the limit gets here: cut it at a grapheme.
    fit
}

/// Code spans, fenced blocks, URLs and `<…>` links: places a cut must avoid.
fn protected_ranges(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
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

#[cfg(test)]
mod tests {
    use super::*;

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
