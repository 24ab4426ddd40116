use super::*;
use switchboard_core::{Env, ErrorKind};

fn table(extra: &str) -> ChannelTable {
    let text = format!(
        "provider = 'messenger'\npage_id = '1895382890692545'\npage_access_token = '${{TOKEN}}'\n\
         app_secret = 'APP_SECRET'\nverify_token = '1qaz2wsx'\n{extra}"
    );
    ChannelTable::from_toml_str("fb", &text)
        .unwrap()
        .with_env(Env::from_pairs([("TOKEN", "EAAtoken")]))
}

#[test]
fn defaults_apply() {
    let c = MessengerConfig::from_table(table("")).unwrap();
    assert_eq!(c.page_id, "1895382890692545");
    assert_eq!(c.page_access_token.expose(), "EAAtoken");
    assert_eq!(c.api_version, "v25.0");
    assert_eq!(c.api_base_url, "https://graph.facebook.com");
    assert!(c.appsecret_proof);
    assert_eq!(c.render, RenderPolicy::Fallback);
    assert_eq!(
        c.page_url("messages"),
        "https://graph.facebook.com/v25.0/1895382890692545/messages"
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("EAAtoken") && !shown.contains("APP_SECRET") && !shown.contains("1qaz2wsx")
    );
}

#[test]
fn every_key_is_read() {
    let c = MessengerConfig::from_table(table(
        "app_id = '1517776481860111'\napi_version = 'v19.0'\napi_base_url = 'http://127.0.0.1:9/'\n\
         appsecret_proof = false\nrender = 'strict'",
    ))
    .unwrap();
    assert_eq!(c.app_id.as_deref(), Some("1517776481860111"));
    assert_eq!(
        c.page_url("message_attachments"),
        "http://127.0.0.1:9/v19.0/1895382890692545/message_attachments"
    );
    assert!(!c.appsecret_proof);
    assert_eq!(c.render, RenderPolicy::Strict);
    assert!(!c.message_echoes);
    assert_eq!(c.echo_wait, DEFAULT_ECHO_WAIT);
}

#[test]
fn echo_keys_are_read() {
    for (wait, expected) in [
        ("'250ms'", Duration::from_millis(250)),
        ("'2s'", Duration::from_secs(2)),
        ("'1m'", Duration::from_secs(60)),
        ("3", Duration::from_secs(3)),
        ("0.5", Duration::from_millis(500)),
    ] {
        let c = MessengerConfig::from_table(table(&format!(
            "message_echoes = true\necho_wait = {wait}"
        )))
        .unwrap();
        assert!(c.message_echoes);
        assert_eq!(c.echo_wait, expected, "{wait}");
    }
    for wait in ["'5 parsecs'", "-1", "'11m'", "true"] {
        let e = MessengerConfig::from_table(table(&format!("echo_wait = {wait}"))).unwrap_err();
        assert!(
            e.to_string().contains("channels.fb: key 'echo_wait'"),
            "{e}"
        );
    }
}

#[test]
fn errors_name_channel_and_key() {
    for (extra, needle) in [
        (
            "verify_tokn = 'x'",
            "channels.fb: unknown key 'verify_tokn'",
        ),
        ("api_version = '25'", "channels.fb: key 'api_version'"),
        (
            "appsecret_proof = 'yes'",
            "channels.fb: key 'appsecret_proof' must be a boolean",
        ),
        ("render = 'loud'", "channels.fb: key 'render'"),
    ] {
        let err = MessengerConfig::from_table(table(extra)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    }
    let t = ChannelTable::from_toml_str("fb", "provider = 'messenger'\npage_id = '1'").unwrap();
    let err = MessengerConfig::from_table(t).unwrap_err();
    assert!(
        err.to_string()
            .contains("channels.fb: missing key 'page_access_token'"),
        "{err}"
    );
}
