//! What info-level logs may show of a conversation id.

/// A conversation id fit for info-level logs: a phone number (`+14155552345`,
/// `whatsapp:+14155552345`) or another long all-digit id (a Messenger PSID) keeps only its last
/// four digits (`+*******2345`); other ids (Slack channels) are shown as they are.
pub(crate) fn redacted(conversation: &str) -> String {
    let (scheme, number) = match conversation.split_once(':') {
        Some((scheme, rest)) => (&conversation[..=scheme.len()], rest),
        None => ("", conversation),
    };
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let phone_like = number
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'+'));
    if !phone_like || digits < 7 {
        return conversation.to_owned();
    }
    let mut seen = 0;
    let masked: String = number
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen > digits - 4 { c } else { '*' }
        })
        .collect();
    format!("{scheme}{masked}")
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn phone_numbers_and_long_numeric_ids_are_redacted_in_logs() {
        assert_eq!(redacted("+14155552345"), "+*******2345");
        assert_eq!(redacted("whatsapp:+14155552345"), "whatsapp:+*******2345");
        assert_eq!(redacted("1234567890123456"), "************3456");
        // Short codes, Slack ids and anything not purely numeric are kept.
        assert_eq!(redacted("12345"), "12345");
        assert_eq!(redacted("C0123456789"), "C0123456789");
        assert_eq!(redacted("C1"), "C1");
        assert_eq!(redacted("team:C0123"), "team:C0123");
    }
}
