//! Twilio's smart encoding: Unicode look-alikes replaced by GSM-7 characters before counting
//! segments (what the Messages API does with `SmartEncoded=true`).
//!
//! The table is Twilio's, transcribed from the official message-segment-calculator
//! (`src/libs/SmartEncodingMap.ts`); `tests/fixtures/smart_encoding_map.json` holds the same data
//! and a test checks that both agree entry by entry.

/// `(look-alike, replacement)`, in the order of Twilio's table. A replacement may be empty
/// (the character is removed) or longer than one character (`¼` → `1/4`).
pub(crate) const SMART_ENCODING_MAP: &[(char, &str)] = &[
    ('\u{ab}', "\""),     // LEFT-POINTING DOUBLE ANGLE QUOTATION MARK
    ('\u{bb}', "\""),     // RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK
    ('\u{201c}', "\""),   // LEFT DOUBLE QUOTATION MARK
    ('\u{201d}', "\""),   // RIGHT DOUBLE QUOTATION MARK
    ('\u{2ba}', "\""),    // MODIFIER LETTER DOUBLE PRIME
    ('\u{2ee}', "\""),    // MODIFIER LETTER DOUBLE APOSTROPHE
    ('\u{201f}', "\""),   // DOUBLE HIGH-REVERSED-9 QUOTATION MARK
    ('\u{201e}', "\""),   // DOUBLE LOW-9 QUOTATION MARK
    ('\u{275d}', "\""),   // HEAVY DOUBLE TURNED COMMA QUOTATION MARK ORNAMENT
    ('\u{275e}', "\""),   // HEAVY DOUBLE COMMA QUOTATION MARK ORNAMENT
    ('\u{301d}', "\""),   // REVERSED DOUBLE PRIME QUOTATION MARK
    ('\u{301e}', "\""),   // DOUBLE PRIME QUOTATION MARK
    ('\u{ff02}', "\""),   // FULLWIDTH QUOTATION MARK
    ('\u{2018}', "'"),    // LEFT SINGLE QUOTATION MARK
    ('\u{2019}', "'"),    // RIGHT SINGLE QUOTATION MARK
    ('\u{2bb}', "'"),     // MODIFIER LETTER TURNED COMMA
    ('\u{2c8}', "'"),     // MODIFIER LETTER VERTICAL LINE
    ('\u{2bc}', "'"),     // MODIFIER LETTER APOSTROPHE
    ('\u{2bd}', "'"),     // MODIFIER LETTER REVERSED COMMA
    ('\u{2b9}', "'"),     // MODIFIER LETTER PRIME
    ('\u{201b}', "'"),    // SINGLE HIGH-REVERSED-9 QUOTATION MARK
    ('\u{ff07}', "'"),    // FULLWIDTH APOSTROPHE
    ('\u{b4}', "'"),      // ACUTE ACCENT
    ('\u{2ca}', "'"),     // MODIFIER LETTER ACUTE ACCENT
    ('`', "'"),           // GRAVE ACCENT
    ('\u{2cb}', "'"),     // MODIFIER LETTER GRAVE ACCENT
    ('\u{275b}', "'"),    // HEAVY SINGLE TURNED COMMA QUOTATION MARK ORNAMENT
    ('\u{275c}', "'"),    // HEAVY SINGLE COMMA QUOTATION MARK ORNAMENT
    ('\u{313}', "'"),     // COMBINING COMMA ABOVE
    ('\u{314}', "'"),     // COMBINING REVERSED COMMA ABOVE
    ('\u{fe10}', "'"),    // PRESENTATION FORM FOR VERTICAL COMMA
    ('\u{fe11}', "'"),    // PRESENTATION FORM FOR VERTICAL IDEOGRAPHIC COMMA
    ('\u{f7}', "/"),      // DIVISION SIGN
    ('\u{bc}', "1/4"),    // VULGAR FRACTION ONE QUARTER
    ('\u{bd}', "1/2"),    // VULGAR FRACTION ONE HALF
    ('\u{be}', "3/4"),    // VULGAR FRACTION THREE QUARTERS
    ('\u{29f8}', "/"),    // BIG SOLIDUS
    ('\u{337}', "/"),     // COMBINING SHORT SOLIDUS OVERLAY
    ('\u{338}', "/"),     // COMBINING LONG SOLIDUS OVERLAY
    ('\u{2044}', "/"),    // FRACTION SLASH
    ('\u{2215}', "/"),    // DIVISION SLASH
    ('\u{ff0f}', "/"),    // FULLWIDTH SOLIDUS
    ('\u{29f9}', "\\"),   // BIG REVERSE SOLIDUS
    ('\u{29f5}', "\\"),   // REVERSE SOLIDUS OPERATOR
    ('\u{20e5}', "\\"),   // COMBINING REVERSE SOLIDUS OVERLAY
    ('\u{fe68}', "\\"),   // SMALL REVERSE SOLIDUS
    ('\u{ff3c}', "\\"),   // FULLWIDTH REVERSE SOLIDUS
    ('\u{332}', "_"),     // COMBINING LOW LINE
    ('\u{ff3f}', "_"),    // FULLWIDTH LOW LINE
    ('\u{20d2}', "|"),    // COMBINING LONG VERTICAL LINE OVERLAY
    ('\u{20d3}', "|"),    // COMBINING SHORT VERTICAL LINE OVERLAY
    ('\u{2223}', "|"),    // DIVIDES
    ('\u{ff5c}', "|"),    // FULLWIDTH VERTICAL LINE
    ('\u{23b8}', "|"),    // LEFT VERTICAL BOX LINE
    ('\u{23b9}', "|"),    // RIGHT VERTICAL BOX LINE
    ('\u{23d0}', "|"),    // VERTICAL LINE EXTENSION
    ('\u{239c}', "|"),    // LEFT PARENTHESIS EXTENSION
    ('\u{239f}', "|"),    // RIGHT PARENTHESIS EXTENSION
    ('\u{23bc}', "-"),    // HORIZONTAL SCAN LINE-7
    ('\u{23bd}', "-"),    // HORIZONTAL SCAN LINE-9
    ('\u{2015}', "-"),    // HORIZONTAL BAR
    ('\u{fe63}', "-"),    // SMALL HYPHEN-MINUS
    ('\u{ff0d}', "-"),    // FULLWIDTH HYPHEN-MINUS
    ('\u{2010}', "-"),    // HYPHEN
    ('\u{2043}', "-"),    // HYPHEN BULLET
    ('\u{fe6b}', "@"),    // SMALL COMMERCIAL AT
    ('\u{ff20}', "@"),    // FULLWIDTH COMMERCIAL AT
    ('\u{fe69}', "$"),    // SMALL DOLLAR SIGN
    ('\u{ff04}', "$"),    // FULLWIDTH DOLLAR SIGN
    ('\u{1c3}', "!"),     // LATIN LETTER RETROFLEX CLICK
    ('\u{fe15}', "!"),    // PRESENTATION FORM FOR VERTICAL EXLAMATION MARK
    ('\u{fe57}', "!"),    // SMALL EXCLAMATION MARK
    ('\u{ff01}', "!"),    // FULLWIDTH EXCLAMATION MARK
    ('\u{fe5f}', "#"),    // SMALL NUMBER SIGN
    ('\u{ff03}', "#"),    // FULLWIDTH NUMBER SIGN
    ('\u{fe6a}', "%"),    // SMALL PERCENT SIGN
    ('\u{ff05}', "%"),    // FULLWIDTH PERCENT SIGN
    ('\u{fe60}', "&"),    // SMALL AMPERSAND
    ('\u{ff06}', "&"),    // FULLWIDTH AMPERSAND
    ('\u{201a}', ","),    // SINGLE LOW-9 QUOTATION MARK
    ('\u{326}', ","),     // COMBINING COMMA BELOW
    ('\u{fe50}', ","),    // SMALL COMMA
    ('\u{fe51}', ","),    // SMALL IDEOGRAPHIC COMMA
    ('\u{ff0c}', ","),    // FULLWIDTH COMMA
    ('\u{ff64}', ","),    // HALFWIDTH IDEOGRAPHIC COMMA
    ('\u{2768}', "("),    // MEDIUM LEFT PARENTHESIS ORNAMENT
    ('\u{276a}', "("),    // MEDIUM FLATTENED LEFT PARENTHESIS ORNAMENT
    ('\u{fe59}', "("),    // SMALL LEFT PARENTHESIS
    ('\u{ff08}', "("),    // FULLWIDTH LEFT PARENTHESIS
    ('\u{27ee}', "("),    // MATHEMATICAL LEFT FLATTENED PARENTHESIS
    ('\u{2985}', "("),    // LEFT WHITE PARENTHESIS
    ('\u{2769}', ")"),    // MEDIUM RIGHT PARENTHESIS ORNAMENT
    ('\u{276b}', ")"),    // MEDIUM FLATTENED RIGHT PARENTHESIS ORNAMENT
    ('\u{fe5a}', ")"),    // SMALL RIGHT PARENTHESIS
    ('\u{ff09}', ")"),    // FULLWIDTH RIGHT PARENTHESIS
    ('\u{27ef}', ")"),    // MATHEMATICAL RIGHT FLATTENED PARENTHESIS
    ('\u{2986}', ")"),    // RIGHT WHITE PARENTHESIS
    ('\u{204e}', "*"),    // LOW ASTERISK
    ('\u{2217}', "*"),    // ASTERISK OPERATOR
    ('\u{229b}', "*"),    // CIRCLED ASTERISK OPERATOR
    ('\u{2722}', "*"),    // FOUR TEARDROP-SPOKED ASTERISK
    ('\u{2723}', "*"),    // FOUR BALLOON-SPOKED ASTERISK
    ('\u{2724}', "*"),    // HEAVY FOUR BALLOON-SPOKED ASTERISK
    ('\u{2725}', "*"),    // FOUR CLUB-SPOKED ASTERISK
    ('\u{2731}', "*"),    // HEAVY ASTERISK
    ('\u{2732}', "*"),    // OPEN CENTRE ASTERISK
    ('\u{2733}', "*"),    // EIGHT SPOKED ASTERISK
    ('\u{273a}', "*"),    // SIXTEEN POINTED ASTERISK
    ('\u{273b}', "*"),    // TEARDROP-SPOKED ASTERISK
    ('\u{273c}', "*"),    // OPEN CENTRE TEARDROP-SPOKED ASTERISK
    ('\u{273d}', "*"),    // HEAVY TEARDROP-SPOKED ASTERISK
    ('\u{2743}', "*"),    // HEAVY TEARDROP-SPOKED PINWHEEL ASTERISK
    ('\u{2749}', "*"),    // BALLOON-SPOKED ASTERISK
    ('\u{274a}', "*"),    // EIGHT TEARDROP-SPOKED PROPELLER ASTERISK
    ('\u{274b}', "*"),    // HEAVY EIGHT TEARDROP-SPOKED PROPELLER ASTERISK
    ('\u{29c6}', "*"),    // SQUARED ASTERISK
    ('\u{fe61}', "*"),    // SMALL ASTERISK
    ('\u{ff0a}', "*"),    // FULLWIDTH ASTERISK
    ('\u{2d6}', "+"),     // MODIFIER LETTER PLUS SIGN
    ('\u{fe62}', "+"),    // SMALL PLUS SIGN
    ('\u{ff0b}', "+"),    // FULLWIDTH PLUS SIGN
    ('\u{3002}', "."),    // IDEOGRAPHIC FULL STOP
    ('\u{fe52}', "."),    // SMALL FULL STOP
    ('\u{ff0e}', "."),    // FULLWIDTH FULL STOP
    ('\u{ff61}', "."),    // HALFWIDTH IDEOGRAPHIC FULL STOP
    ('\u{ff10}', "0"),    // FULLWIDTH DIGIT ZERO
    ('\u{ff11}', "1"),    // FULLWIDTH DIGIT ONE
    ('\u{ff12}', "2"),    // FULLWIDTH DIGIT TWO
    ('\u{ff13}', "3"),    // FULLWIDTH DIGIT THREE
    ('\u{ff14}', "4"),    // FULLWIDTH DIGIT FOUR
    ('\u{ff15}', "5"),    // FULLWIDTH DIGIT FIVE
    ('\u{ff16}', "6"),    // FULLWIDTH DIGIT SIX
    ('\u{ff17}', "7"),    // FULLWIDTH DIGIT SEVEN
    ('\u{ff18}', "8"),    // FULLWIDTH DIGIT EIGHT
    ('\u{ff19}', "9"),    // FULLWIDTH DIGIT NINE
    ('\u{2d0}', ":"),     // MODIFIER LETTER TRIANGULAR COLON
    ('\u{2f8}', ":"),     // MODIFIER LETTER RAISED COLON
    ('\u{2982}', ":"),    // Z NOTATION TYPE COLON
    ('\u{a789}', ":"),    // MODIFIER LETTER COLON
    ('\u{fe13}', ":"),    // PRESENTATION FORM FOR VERTICAL COLON
    ('\u{ff1a}', ":"),    // FULLWIDTH COLON
    ('\u{204f}', ";"),    // REVERSED SEMICOLON
    ('\u{fe14}', ";"),    // PRESENTATION FORM FOR VERTICAL SEMICOLON
    ('\u{fe54}', ";"),    // SMALL SEMICOLON
    ('\u{ff1b}', ";"),    // FULLWIDTH SEMICOLON
    ('\u{fe64}', "<"),    // SMALL LESS-THAN SIGN
    ('\u{ff1c}', "<"),    // FULLWIDTH LESS-THAN SIGN
    ('\u{347}', "="),     // COMBINING EQUALS SIGN BELOW
    ('\u{a78a}', "="),    // MODIFIER LETTER SHORT EQUALS SIGN
    ('\u{fe66}', "="),    // SMALL EQUALS SIGN
    ('\u{ff1d}', "="),    // FULLWIDTH EQUALS SIGN
    ('\u{fe65}', ">"),    // SMALL GREATER-THAN SIGN
    ('\u{ff1e}', ">"),    // FULLWIDTH GREATER-THAN SIGN
    ('\u{fe16}', "?"),    // PRESENTATION FORM FOR VERTICAL QUESTION MARK
    ('\u{fe56}', "?"),    // SMALL QUESTION MARK
    ('\u{ff1f}', "?"),    // FULLWIDTH QUESTION MARK
    ('\u{ff21}', "A"),    // FULLWIDTH LATIN CAPITAL LETTER A
    ('\u{1d00}', "A"),    // LATIN LETTER SMALL CAPITAL A
    ('\u{ff22}', "B"),    // FULLWIDTH LATIN CAPITAL LETTER B
    ('\u{299}', "B"),     // LATIN LETTER SMALL CAPITAL B
    ('\u{ff23}', "C"),    // FULLWIDTH LATIN CAPITAL LETTER C
    ('\u{1d04}', "C"),    // LATIN LETTER SMALL CAPITAL C
    ('\u{ff24}', "D"),    // FULLWIDTH LATIN CAPITAL LETTER D
    ('\u{1d05}', "D"),    // LATIN LETTER SMALL CAPITAL D
    ('\u{ff25}', "E"),    // FULLWIDTH LATIN CAPITAL LETTER E
    ('\u{1d07}', "E"),    // LATIN LETTER SMALL CAPITAL E
    ('\u{ff26}', "F"),    // FULLWIDTH LATIN CAPITAL LETTER F
    ('\u{a730}', "F"),    // LATIN LETTER SMALL CAPITAL F
    ('\u{ff27}', "G"),    // FULLWIDTH LATIN CAPITAL LETTER G
    ('\u{262}', "G"),     // LATIN LETTER SMALL CAPITAL G
    ('\u{ff28}', "H"),    // FULLWIDTH LATIN CAPITAL LETTER H
    ('\u{29c}', "H"),     // LATIN LETTER SMALL CAPITAL H
    ('\u{ff29}', "I"),    // FULLWIDTH LATIN CAPITAL LETTER I
    ('\u{26a}', "I"),     // LATIN LETTER SMALL CAPITAL I
    ('\u{ff2a}', "J"),    // FULLWIDTH LATIN CAPITAL LETTER J
    ('\u{1d0a}', "J"),    // LATIN LETTER SMALL CAPITAL J
    ('\u{ff2b}', "K"),    // FULLWIDTH LATIN CAPITAL LETTER K
    ('\u{1d0b}', "K"),    // LATIN LETTER SMALL CAPITAL K
    ('\u{ff2c}', "L"),    // FULLWIDTH LATIN CAPITAL LETTER L
    ('\u{29f}', "L"),     // LATIN LETTER SMALL CAPITAL L
    ('\u{ff2d}', "M"),    // FULLWIDTH LATIN CAPITAL LETTER M
    ('\u{1d0d}', "M"),    // LATIN LETTER SMALL CAPITAL M
    ('\u{ff2e}', "N"),    // FULLWIDTH LATIN CAPITAL LETTER N
    ('\u{274}', "N"),     // LATIN LETTER SMALL CAPITAL N
    ('\u{ff2f}', "O"),    // FULLWIDTH LATIN CAPITAL LETTER O
    ('\u{1d0f}', "O"),    // LATIN LETTER SMALL CAPITAL O
    ('\u{ff30}', "P"),    // FULLWIDTH LATIN CAPITAL LETTER P
    ('\u{1d18}', "P"),    // LATIN LETTER SMALL CAPITAL P
    ('\u{ff31}', "Q"),    // FULLWIDTH LATIN CAPITAL LETTER Q
    ('\u{ff32}', "R"),    // FULLWIDTH LATIN CAPITAL LETTER R
    ('\u{280}', "R"),     // LATIN LETTER SMALL CAPITAL R
    ('\u{ff33}', "S"),    // FULLWIDTH LATIN CAPITAL LETTER S
    ('\u{a731}', "S"),    // LATIN LETTER SMALL CAPITAL S
    ('\u{ff34}', "T"),    // FULLWIDTH LATIN CAPITAL LETTER T
    ('\u{1d1b}', "T"),    // LATIN LETTER SMALL CAPITAL T
    ('\u{ff35}', "U"),    // FULLWIDTH LATIN CAPITAL LETTER U
    ('\u{1d1c}', "U"),    // LATIN LETTER SMALL CAPITAL U
    ('\u{ff36}', "V"),    // FULLWIDTH LATIN CAPITAL LETTER V
    ('\u{1d20}', "V"),    // LATIN LETTER SMALL CAPITAL V
    ('\u{ff37}', "W"),    // FULLWIDTH LATIN CAPITAL LETTER W
    ('\u{1d21}', "W"),    // LATIN LETTER SMALL CAPITAL W
    ('\u{ff38}', "X"),    // FULLWIDTH LATIN CAPITAL LETTER X
    ('\u{ff39}', "Y"),    // FULLWIDTH LATIN CAPITAL LETTER Y
    ('\u{28f}', "Y"),     // LATIN LETTER SMALL CAPITAL Y
    ('\u{ff3a}', "Z"),    // FULLWIDTH LATIN CAPITAL LETTER Z
    ('\u{1d22}', "Z"),    // LATIN LETTER SMALL CAPITAL Z
    ('\u{2c6}', "^"),     // MODIFIER LETTER CIRCUMFLEX ACCENT
    ('\u{302}', "^"),     // COMBINING CIRCUMFLEX ACCENT
    ('\u{ff3e}', "^"),    // FULLWIDTH CIRCUMFLEX ACCENT
    ('\u{1dcd}', "^"),    // COMBINING DOUBLE CIRCUMFLEX ABOVE
    ('\u{2774}', "{"),    // MEDIUM LEFT CURLY BRACKET ORNAMENT
    ('\u{fe5b}', "{"),    // SMALL LEFT CURLY BRACKET
    ('\u{ff5b}', "{"),    // FULLWIDTH LEFT CURLY BRACKET
    ('\u{2775}', "}"),    // MEDIUM RIGHT CURLY BRACKET ORNAMENT
    ('\u{fe5c}', "}"),    // SMALL RIGHT CURLY BRACKET
    ('\u{ff5d}', "}"),    // FULLWIDTH RIGHT CURLY BRACKET
    ('\u{ff3b}', "["),    // FULLWIDTH LEFT SQUARE BRACKET
    ('\u{ff3d}', "]"),    // FULLWIDTH RIGHT SQUARE BRACKET
    ('\u{2dc}', "~"),     // SMALL TILDE
    ('\u{2f7}', "~"),     // MODIFIER LETTER LOW TILDE
    ('\u{303}', "~"),     // COMBINING TILDE
    ('\u{330}', "~"),     // COMBINING TILDE BELOW
    ('\u{334}', "~"),     // COMBINING TILDE OVERLAY
    ('\u{223c}', "~"),    // TILDE OPERATOR
    ('\u{ff5e}', "~"),    // FULLWIDTH TILDE
    ('\u{a0}', "  "),     // NO-BREAK SPACE
    ('\u{2000}', "  "),   // EN QUAD
    ('\u{2002}', "  "),   // EN SPACE
    ('\u{2003}', "  "),   // EM SPACE
    ('\u{2004}', "  "),   // THREE-PER-EM SPACE
    ('\u{2005}', "  "),   // FOUR-PER-EM SPACE
    ('\u{2006}', "  "),   // SIX-PER-EM SPACE
    ('\u{2007}', "  "),   // FIGURE SPACE
    ('\u{2008}', "  "),   // PUNCTUATION SPACE
    ('\u{2009}', "  "),   // THIN SPACE
    ('\u{200a}', "  "),   // HAIR SPACE
    ('\u{202f}', "  "),   // NARROW NO-BREAK SPACE
    ('\u{205f}', "  "),   // MEDIUM MATHEMATICAL SPACE
    ('\u{3000}', "  "),   // IDEOGRAHPIC SPACE
    ('\u{8d}', "  "),     // REVERSE LINE FEED (standard LF looks like \n, this looks like a space)
    ('\u{9f}', "  "),     // <control>
    ('\u{80}', "  "),     // C1 CONTROL CODES
    ('\u{90}', "  "),     // DEVICE CONTROL STRING
    ('\u{9b}', "  "),     // CONTROL SEQUENCE INTRODUCER
    ('\u{10}', ""),       // ESCAPE, DATA LINK (not visible)
    ('\u{9}', "       "), // TAB (7 spaces based on print statement in Python interpreter)
    ('\u{0}', ""),        // NULL
    ('\u{3}', ""),        // END OF TEXT
    ('\u{4}', ""),        // END OF TRANSMISSION
    ('\u{17}', ""),       // END OF TRANSMISSION BLOCK
    ('\u{19}', ""),       // END OF MEDIUM
    ('\u{11}', ""),       // DEVICE CONTROL ONE
    ('\u{12}', ""),       // DEVICE CONTROL TWO
    ('\u{13}', ""),       // DEVICE CONTROL THREE
    ('\u{14}', ""),       // DEVICE CONTROL FOUR
    ('\u{2060}', ""),     // WORD JOINER
    ('\u{2017}', "_"),    // DOUBLE LOW LINE
    ('\u{2014}', "-"),    // EM DASH
    ('\u{2013}', "-"),    // EN DASH
    ('\u{2039}', ">"),    // Single left-pointing angle quotation mark
    ('\u{203a}', "<"),    // Single right-pointing angle quotation mark
    ('\u{203c}', "!!"),   // Double exclamation mark
    ('\u{2028}', " "),    // Whitespace: Line Separator
    ('\u{2029}', " "),    // Whitespace: Paragraph Separator
    ('\u{2026}', "..."),  // Whitespace: Narrow No-Break Space
    ('\u{2001}', " "),    // Whitespace: Medium Mathematical Space
    ('\u{200b}', ""),     // ZERO WIDTH SPACE
    ('\u{3001}', ","),    // IDEOGRAPHIC COMMA
    ('\u{feff}', ""),     // ZERO WIDTH NO-BREAK SPACE
    ('\u{2022}', "-"),    // Bullet
];

/// The replacement for `c`, if Twilio's table has one.
pub(crate) fn replacement(c: char) -> Option<&'static str> {
    SMART_ENCODING_MAP
        .iter()
        .find(|(from, _)| *from == c)
        .map(|(_, to)| *to)
}

/// `text` with every look-alike in Twilio's table replaced.
pub(crate) fn smart_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match replacement(c) {
            Some(to) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use switchboard_core::render::sms::{self, SmsEncoding};

    use super::*;

    #[test]
    fn quotes_dashes_and_spaces_become_gsm7() {
        assert_eq!(
            smart_encode("\u{201c}Hi\u{201d} \u{2014} it\u{2019}s \u{bd}"),
            "\"Hi\" - it's 1/2"
        );
        assert_eq!(replacement('a'), None);
        let encoded = smart_encode("\u{2018}quoted\u{2019} \u{2026}");
        assert!(
            switchboard_core::render::sms::is_gsm7(&encoded),
            "{encoded}"
        );
    }

    #[test]
    fn smart_encoding_table_is_twilios() {
        let v: Value =
            serde_json::from_str(include_str!("../tests/fixtures/smart_encoding_map.json"))
                .unwrap();
        let map = v["map"].as_array().unwrap();
        assert_eq!(map.len(), SMART_ENCODING_MAP.len());
        for (entry, (from, to)) in map.iter().zip(SMART_ENCODING_MAP) {
            let f = entry["from"].as_str().unwrap();
            assert_eq!(f.chars().collect::<Vec<_>>(), [*from], "{}", entry["name"]);
            assert_eq!(entry["to"].as_str().unwrap(), *to, "{}", entry["name"]);
            assert_eq!(smart_encode(f), *to);
        }
    }

    #[test]
    fn smart_encoding_turns_look_alikes_into_gsm7() {
        let text = "\u{201c}Smart\u{201d} quotes \u{2014} and \u{2018}apostrophes\u{2019}\u{2026}";
        assert_eq!(sms::analyze(text).encoding, SmsEncoding::Ucs2);
        let encoded = smart_encode(text);
        assert_eq!(encoded, "\"Smart\" quotes - and 'apostrophes'...");
        assert_eq!(sms::analyze(&encoded).encoding, SmsEncoding::Gsm7);
    }
}
