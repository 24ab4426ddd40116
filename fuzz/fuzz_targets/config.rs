//! The `switchboard` config loader, from TOML text: `bridge::from_config_str` (what `switchboard
//! serve` reads: `[server]`, `[store]`, `[engine]`, `[rate_limits]`, `[bridge]`, `[channels.*]`
//! with `${ENV}` substitution), then every channel table built into its adapter by the default
//! registry (no network).
//!
//! Invariant: `Ok`, or an `InvalidConfig` error with a message; never a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use switchboard::{ChannelTable, Env, ErrorKind};

static ENV: LazyLock<Env> = LazyLock::new(|| {
    Env::from_pairs([
        ("SLACK_BOT_TOKEN", "xoxb-fuzz"),
        ("SLACK_SIGNING_SECRET", "fuzz-secret"),
        ("TWILIO_AUTH_TOKEN", "fuzz-token"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("EMPTY", ""),
    ])
});

fn check(result: Result<(), switchboard::Error>) {
    if let Err(e) = result {
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidConfig,
            "config error of another kind: {e}"
        );
        assert!(!e.message().is_empty(), "config error without a message");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(switchboard::bridge::from_config_str(text, &ENV).map(|_| ()));
    let Ok((doc, _bridge)) = switchboard::bridge::split_document(text) else {
        return;
    };
    let Ok(tables) = ChannelTable::parse_all(&doc, &ENV) else {
        return;
    };
    let registry = switchboard::registry();
    for mut table in tables {
        // The engine takes these two before the adapter sees the table.
        let _ = table.take("rate");
        let _ = table.take("delivery");
        check(registry.build(table).map(|_| ()));
    }
});
