//! The README's adapter table is the code's `Capabilities`, row for row.
#![allow(clippy::unwrap_used)]

use switchboard::{Capabilities, ChannelTable, ConversationId, Env, LengthUnit};

/// (provider, crate, channel table, a conversation) for each row of the table.
const ROWS: [(&str, &str, &str, &str); 4] = [
    (
        "Slack",
        "switchboard-slack",
        "provider = 'slack'\nbot_token = 'xoxb-1'\nsigning_secret = 's'",
        "C0GENERAL",
    ),
    (
        "Messenger",
        "switchboard-messenger",
        "provider = 'messenger'\npage_id = '1'\npage_access_token = 't'\napp_secret = 's'\nverify_token = 'v'",
        "6254710388245291",
    ),
    (
        "Twilio SMS/MMS",
        "switchboard-twilio",
        "provider = 'twilio'\naccount_sid = 'AC00000000000000000000000000000001'\nauth_token = 't'\nfrom = '+15005550006'",
        "+15558675310",
    ),
    (
        "Twilio WhatsApp",
        "switchboard-twilio",
        "provider = 'twilio'\naccount_sid = 'AC00000000000000000000000000000001'\nauth_token = 't'\nfrom = 'whatsapp:+14155238886'",
        "whatsapp:+15558675310",
    ),
];

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn row(provider: &str, krate: &str, c: &Capabilities) -> String {
    let unit = match c.text.unit {
        LengthUnit::Chars => "chars",
        LengthUnit::Utf16 => "UTF-16 units",
        LengthUnit::Bytes => "bytes",
        LengthUnit::SmsSegments => "segments",
    };
    let markdown = serde_json::to_value(c.markdown).unwrap();
    let kinds: Vec<&str> = c.attachments.kinds.iter().map(|k| k.as_str()).collect();
    let attachments = if kinds.is_empty() {
        "none".to_owned()
    } else {
        format!("{} ≤{}", kinds.join("/"), c.attachments.max_per_message)
    };
    let window = c
        .messaging_window
        .map_or("none".to_owned(), |w| format!("{} h", w.as_secs() / 3600));
    format!(
        "| {provider} | `{krate}` | {} {unit} | {} | {} | {} | {attachments} | {} | {} | {} | {} | {} | {} | {window} |",
        c.text.max,
        markdown.as_str().unwrap(),
        c.max_buttons,
        c.max_quick_replies,
        yes(c.threads),
        yes(c.edit),
        yes(c.delete),
        yes(c.reactions),
        yes(c.typing),
        yes(c.receipts),
    )
}

#[test]
fn the_adapter_table_matches_the_code() {
    let readme = include_str!("../../README.md");
    let registry = switchboard::registry();
    let mut missing = Vec::new();
    for (provider, krate, table, conversation) in ROWS {
        let table = ChannelTable::from_toml_str("x", table)
            .unwrap()
            .with_env(Env::from_pairs::<_, &str, &str>([]));
        let adapter = registry.build(table).unwrap();
        let caps = adapter.capabilities_for(&ConversationId::new(conversation).unwrap());
        let expected = row(provider, krate, &caps);
        if !readme.lines().any(|l| l.trim() == expected) {
            missing.push(expected);
        }
    }
    assert!(
        missing.is_empty(),
        "README.md's adapter table differs from the code; expected rows:\n{}",
        missing.join("\n")
    );
}
