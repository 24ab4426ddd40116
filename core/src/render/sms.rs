//! SMS encoding and segment counting (GSM 03.38 and UCS-2), as carriers bill it.
//!
//! A single segment holds 160 GSM-7 septets or 70 UCS-2 units. A concatenated message spends 6
//! octets per segment on its header, leaving 153 septets or 67 units per segment. Characters
//! from the GSM-7 extension table (`| ^ € { } [ ] ~ \` and form feed) take two septets (an escape
//! and the character); an escape pair and a UTF-16 surrogate pair are never split across
//! segments.

use serde::{Deserialize, Serialize};

/// The GSM 03.38 default alphabet, in code order (0x1B, the escape, is left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each costs two septets.
const GSM7_EXTENDED: &str = "\u{c}^{}\\[~]|€";

/// The encoding a text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmsEncoding {
    /// The 7-bit GSM alphabet (with its extension table).
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (UTF-16 units), needed for any character outside GSM-7.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// How a text travels as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsInfo {
    /// The encoding.
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Segments billed (0 for an empty text).
    pub segments: u32,
}

/// Septets a character costs in GSM-7, or `None` if GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Whether the whole text fits the GSM-7 alphabet.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Encoding, units and segments of `text`.
pub fn analyze(text: &str) -> SmsInfo {
    if is_gsm7(text) {
        let costs = text.chars().map(|c| gsm7_septets(c).unwrap_or(1));
        pack(SmsEncoding::Gsm7, costs, 160, 153)
    } else {
        let costs = text.chars().map(char::len_utf16);
        pack(SmsEncoding::Ucs2, costs, 70, 67)
    }
}

fn pack(
    encoding: SmsEncoding,
    costs: impl Iterator<Item = usize> + Clone,
    single: usize,
    multi: usize,
) -> SmsInfo {
    let units: usize = costs.clone().sum();
    if units == 0 {
        return SmsInfo {
            encoding,
            units,
            segments: 0,
        };
    }
    if units <= single {
        return SmsInfo {
            encoding,
            units,
            segments: 1,
        };
    }
    let mut segments = 1_u32;
    let mut used = 0;
    for cost in costs {
        if used + cost > multi {
            segments += 1;
            used = 0;
        }
        used += cost;
    }
    SmsInfo {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_segment_boundaries() {
        assert_eq!(analyze("").segments, 0);
        assert_eq!(analyze(&"a".repeat(160)).segments, 1);
        assert_eq!(analyze(&"a".repeat(161)).segments, 2);
        assert_eq!(analyze(&"a".repeat(306)).segments, 2);
        assert_eq!(analyze(&"a".repeat(307)).segments, 3);
        assert_eq!(analyze(&"é".repeat(160)).encoding, SmsEncoding::Gsm7);
        let ucs = analyze(&"á".repeat(70));
        assert_eq!((ucs.encoding, ucs.segments), (SmsEncoding::Ucs2, 1));
        assert_eq!(analyze(&"á".repeat(71)).segments, 2);
    }

    #[test]
    fn escapes_and_surrogates_do_not_straddle_segments() {
        // 152 septets, then '€' (2): it does not fit the first 153-septet segment.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let info = analyze(&text);
        assert_eq!(info.units, 164);
        assert_eq!(info.segments, 2);
        // 66 units, then an emoji (2 units) must move to the next 67-unit segment.
        let text = format!("{}😀{}", "á".repeat(66), "á".repeat(67));
        assert_eq!(analyze(&text).segments, 3);
    }
}
