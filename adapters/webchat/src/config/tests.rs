use std::time::Duration;

use switchboard_core::{ChannelTable, Env, ErrorKind, Secret};

use super::*;

fn table(text: &str) -> ChannelTable {
    ChannelTable::from_toml_str("site", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_env(Env::from_pairs([("WEBCHAT_IDENTITY_SECRET", "id-s3cret")]))
}

fn read(text: &str) -> Result<WebchatConfig> {
    let mut t = table(text);
    let c = WebchatConfig::from_table(&mut t)?;
    t.finish()?;
    Ok(c)
}

fn error_of(text: &str) -> String {
    match read(text) {
        Ok(c) => panic!("accepted {c:?}"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            e.to_string()
        }
    }
}

#[test]
fn reads_the_issue_example() {
    let c = read(
        "provider = 'webchat'\n\
         allowed_origins = ['https://shop.example', 'HTTP://Localhost:8080/']\n\
         identity_secret = '${WEBCHAT_IDENTITY_SECRET}'\n\
         require_identity = true\n\
         session_ttl = '30d'\n\
         max_message_bytes = 4096\n\
         upload_max_bytes = 10485760\n\
         visitor_rate = { per_second = 2.0, burst = 10 }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.allowed_origins,
        ["https://shop.example", "http://localhost:8080"]
    );
    assert_eq!(
        c.identity_secret.as_ref().map(Secret::expose),
        Some("id-s3cret")
    );
    assert!(c.require_identity);
    assert_eq!(c.session_ttl, Duration::from_secs(30 * 86_400));
    assert_eq!(
        (c.max_message_bytes, c.upload_max_bytes),
        (4096, 10_485_760)
    );
    assert_eq!(
        c.visitor_rate,
        VisitorRate {
            per_second: 2.0,
            burst: 10
        }
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("id-s3cret"), "{debug}");
}

#[test]
fn defaults() {
    let c = read("provider = 'webchat'\nallowed_origins = ['https://shop.example']")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(c.identity_secret.is_none());
    assert!(!c.require_identity);
    assert_eq!(c.session_ttl, DEFAULT_SESSION_TTL);
    assert_eq!(c.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(c.upload_max_bytes, DEFAULT_UPLOAD_MAX_BYTES);
    assert_eq!(c.visitor_rate, VisitorRate::default());
}

#[test]
fn each_bad_key_is_named_with_the_channel() {
    let base = "provider = 'webchat'\nallowed_origins = ['https://shop.example']\n";
    let cases = [
        ("provider = 'webchat'", "missing key 'allowed_origins'"),
        (
            "provider = 'webchat'\nallowed_origins = []",
            "key 'allowed_origins'",
        ),
        (
            "provider = 'webchat'\nallowed_origins = ['https://shop.example/path']",
            "key 'allowed_origins'",
        ),
        (
            "provider = 'webchat'\nallowed_origins = ['*']",
            "key 'allowed_origins'",
        ),
        (
            "provider = 'webchat'\nallowed_origins = 'https://shop.example'",
            "key 'allowed_origins'",
        ),
        ("require_identity = true", "key 'require_identity'"),
        ("require_identity = 'yes'", "key 'require_identity'"),
        ("session_ttl = '30 days'", "key 'session_ttl'"),
        ("session_ttl = '10s'", "key 'session_ttl'"),
        ("session_ttl = '400d'", "key 'session_ttl'"),
        ("max_message_bytes = 0", "key 'max_message_bytes'"),
        ("max_message_bytes = -1", "key 'max_message_bytes'"),
        ("upload_max_bytes = 0", "key 'upload_max_bytes'"),
        (
            "visitor_rate = { per_second = 0.0, burst = 10 }",
            "key 'visitor_rate'",
        ),
        (
            "visitor_rate = { per_second = 1.0, burst = 0 }",
            "key 'visitor_rate'",
        ),
        (
            "visitor_rate = { per_second = 1.0, bust = 3 }",
            "key 'visitor_rate'",
        ),
        ("identity_secret = '${NOPE}'", "key 'identity_secret'"),
        ("api_base_url = 'http://x'", "unknown key 'api_base_url'"),
    ];
    for (text, key) in cases {
        let text = if text.starts_with("provider") {
            text.to_owned()
        } else {
            format!("{base}{text}")
        };
        let e = error_of(&text);
        assert!(e.contains("channels.site"), "{text}: {e}");
        assert!(e.contains(key), "{text}: {e}");
    }
}

#[test]
fn ttl_units() {
    assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_ttl("12h"), Ok(Duration::from_secs(43_200)));
    assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
    assert!(parse_ttl("7").is_err());
    assert!(parse_ttl("d").is_err());
    assert!(parse_ttl("1.5h").is_err());
}

#[test]
fn origins_are_normalized_or_refused() {
    assert_eq!(
        normalize_origin("https://Shop.Example:443").as_deref(),
        Some("https://shop.example")
    );
    assert_eq!(
        normalize_origin("http://127.0.0.1:3000/").as_deref(),
        Some("http://127.0.0.1:3000")
    );
    for bad in [
        "shop.example",
        "ftp://shop.example",
        "https://u:p@shop.example",
        "https://shop.example/?q",
        "null",
    ] {
        assert_eq!(normalize_origin(bad), None, "{bad}");
    }
}

#[test]
fn history_retention_is_optional_and_checked() {
    let c = read("provider = 'webchat'\nallowed_origins = ['https://shop.example']")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.history_ttl, c.history_max_records),
        (None, None),
        "the default keeps everything"
    );
    let c = read(
        "provider = 'webchat'\nallowed_origins = ['https://shop.example']\n\
         history_ttl = '90d'\nhistory_max_records = 5000",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.history_ttl, Some(Duration::from_secs(90 * 86_400)));
    assert_eq!(c.history_max_records, Some(5000));
    for (line, key) in [
        ("history_ttl = '30s'", "history_ttl"),
        ("history_ttl = '90 days'", "history_ttl"),
        ("history_max_records = 0", "history_max_records"),
        ("history_max_records = -1", "history_max_records"),
    ] {
        let e = error_of(&format!(
            "provider = 'webchat'\nallowed_origins = ['https://shop.example']\n{line}"
        ));
        assert!(e.contains(key) && e.contains("site"), "{line}: {e}");
    }
}
