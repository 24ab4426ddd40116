//! Twilio addresses and SIDs: what `From`, `To` and the configured SIDs may look like.

/// The prefix of WhatsApp addresses.
pub const WHATSAPP_PREFIX: &str = "whatsapp:";

/// Whether a conversation id is a WhatsApp address.
pub fn is_whatsapp(conversation: &str) -> bool {
    conversation.starts_with(WHATSAPP_PREFIX)
}

/// `prefix` followed by 32 hex digits.
pub(crate) fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `+` and 2–15 digits, the first not 0.
pub(crate) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// An address a message can be sent to: E.164 or `whatsapp:` + E.164.
pub(crate) fn is_recipient_address(s: &str) -> bool {
    is_e164(s.strip_prefix(WHATSAPP_PREFIX).unwrap_or(s))
}

/// A `From`: a recipient address, a short code (3–8 digits) or an alphanumeric sender id
/// (1–11 letters, digits and spaces, at least one letter).
pub(crate) fn is_sender_address(s: &str) -> bool {
    let short_code = (3..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && s.bytes().any(|b| b.is_ascii_alphabetic());
    is_recipient_address(s) || short_code || alphanumeric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_addresses() {
        for ok in [
            "+14155552345",
            "whatsapp:+14155238886",
            "12345",
            "MyShop",
            "Shop 24",
        ] {
            assert!(is_sender_address(ok), "{ok}");
        }
        for bad in [
            "14155552345x",
            "+0123",
            "whatsapp:123",
            "",
            "This is too long",
            "12",
        ] {
            assert!(!is_sender_address(bad), "{bad}");
        }
        assert!(is_recipient_address("whatsapp:+886123456789"));
        assert!(!is_recipient_address("MyShop"));
    }
}
