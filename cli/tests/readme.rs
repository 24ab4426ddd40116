//! The README against the code: the adapter table is the code's `Capabilities`, row for row, and
//! the configuration reference lists every key the code reads, and no other.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use switchboard::{Capabilities, ChannelTable, ConversationId, Env, LengthUnit};

/// (provider, crate, channel table, a conversation) for each row of the table.
const ROWS: [(&str, &str, &str, &str); 5] = [
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
    (
        "Web chat",
        "switchboard-webchat",
        "provider = 'webchat'\nallowed_origins = ['https://shop.example']",
        "anon:00000000000000000000000000000000",
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

/// The keys an unknown key's error lists as known (`known keys: a, b` or serde's
/// ``expected one of `a`, `b` `` and ``expected `a` or `b` ``).
fn known_keys(error: &str) -> BTreeSet<String> {
    let list = error
        .split("known keys: ")
        .nth(1)
        .or_else(|| error.split("expected ").nth(1))
        .unwrap_or_else(|| panic!("no key list in: {error}"));
    list.trim_start_matches("one of ")
        .trim_end_matches(')')
        .split([',', ' ', '\n'])
        .filter(|k| !k.is_empty() && *k != "or")
        .map(|k| k.trim_matches('`').to_owned())
        .collect()
}

fn keys(table: &toml::Value) -> BTreeSet<String> {
    table.as_table().unwrap().keys().cloned().collect()
}

/// The README's ```toml blocks, parsed.
fn reference_blocks(readme: &str) -> Vec<toml::Table> {
    readme
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_config_reference_lists_every_key_and_only_real_ones() {
    let readme = include_str!("../../README.md");
    let blocks = reference_blocks(readme);
    let mut differences = Vec::new();
    let mut compare = |what: &str, documented: BTreeSet<String>, real: BTreeSet<String>| {
        if documented != real {
            differences.push(format!(
                "{what}: documented but not real {:?}; real but not documented {:?}",
                documented.difference(&real).collect::<Vec<_>>(),
                real.difference(&documented).collect::<Vec<_>>()
            ));
        }
    };
    // [server], [store], [engine], [rate_limits], [installs], [bridge] and [channels.NAME.rate].
    let sections = blocks.iter().find(|b| b.contains_key("engine")).unwrap();
    for section in ["server", "store", "engine", "rate_limits", "installs"] {
        let doc: toml::Table = format!("[{section}]\nzz_unknown = 1").parse().unwrap();
        let error = switchboard::Config::from_document(&doc)
            .unwrap_err()
            .to_string();
        compare(section, keys(&sections[section]), known_keys(&error));
    }
    let doc: toml::Table = "[bridge]\nzz_unknown = 1".parse().unwrap();
    let error = switchboard::bridge::BridgeConfig::from_document(&doc)
        .unwrap_err()
        .to_string();
    compare("bridge", keys(&sections["bridge"]), known_keys(&error));
    let env = Env::from_pairs::<_, &str, &str>([]);
    let doc: toml::Table = "[gateway]\nzz_unknown = 1".parse().unwrap();
    let error = switchboard::gateway::GatewayConfig::from_document(&doc, &env)
        .unwrap_err()
        .to_string();
    compare("gateway", keys(&sections["gateway"]), known_keys(&error));
    let doc: toml::Table = "[[gateway.forward]]\nzz_unknown = 1".parse().unwrap();
    let error = switchboard::gateway::GatewayConfig::from_document(&doc, &env)
        .unwrap_err()
        .to_string();
    compare(
        "gateway.forward",
        keys(&sections["gateway"]["forward"][0]),
        known_keys(&error),
    );
    let rate: toml::Value = "zz_unknown = 1".parse::<toml::Table>().unwrap().into();
    let error = rate
        .try_into::<switchboard::RateConfig>()
        .unwrap_err()
        .to_string();
    compare(
        "channels.NAME.rate",
        keys(&sections["channels"]["NAME"]["rate"]),
        known_keys(&error),
    );
    // Each provider's channel table.
    let registry = switchboard::registry();
    for (provider, _, table, _) in ROWS {
        let documented = blocks
            .iter()
            .filter_map(|b| b.get("channels")?.as_table()?.values().next().cloned())
            .find(|t| t.get("provider").and_then(|p| p.as_str()) == table.split('\'').nth(1))
            .unwrap_or_else(|| panic!("no [channels.X] block for {provider}"));
        let table = ChannelTable::from_toml_str("x", &format!("{table}\nzz_unknown = 1"))
            .unwrap()
            .with_env(Env::from_pairs::<_, &str, &str>([]));
        let error = registry.build(table).unwrap_err().to_string();
        compare(provider, keys(&documented), known_keys(&error));
    }
    assert!(
        differences.is_empty(),
        "README.md's configuration reference differs from the code:\n{}",
        differences.join("\n")
    );
}
