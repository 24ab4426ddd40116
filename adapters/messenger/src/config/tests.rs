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

fn pages_table(pages: &str) -> ChannelTable {
    let text = format!(
        "provider = 'messenger'\n{pages}\napp_secret = 'APP_SECRET'\nverify_token = '1qaz2wsx'\n"
    );
    ChannelTable::from_toml_str("fb", &text)
        .unwrap()
        .with_env(Env::from_pairs([
            ("PAGE_A", "EAAtokenA"),
            ("PAGE_B", "EAAtokenB"),
        ]))
}

#[test]
fn a_list_of_pages_is_read_in_order() {
    let c = MessengerConfig::from_table(pages_table(
        "pages = [{ id = '123', access_token = '${PAGE_A}' }, { id = '456', access_token = '${PAGE_B}' }]",
    ))
    .unwrap();
    assert_eq!(c.page_id, "123");
    assert_eq!(c.page_access_token.expose(), "EAAtokenA");
    assert_eq!(c.other_pages.len(), 1);
    assert_eq!(c.other_pages[0].id, "456");
    assert_eq!(c.other_pages[0].access_token.expose(), "EAAtokenB");
    assert!(c.is_multi_page());
    assert_eq!(c.page_ids().collect::<Vec<_>>(), ["123", "456"]);
    assert_eq!(c.conversation_id("456", "77"), "456/77");
    assert_eq!(c.route("456/77").unwrap(), (1, "77"));
    assert_eq!(
        c.route("77").unwrap(),
        (0, "77"),
        "unprefixed: the default Page"
    );
    assert_eq!(c.route("user_ref:a/b").unwrap(), (0, "user_ref:a/b"));
    assert_eq!(c.route("789/77").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(c.canonical("77").unwrap(), "123/77");
    let views = c.page_views();
    assert_eq!(views[1].page_id, "456");
    assert_eq!(views[1].page_access_token.expose(), "EAAtokenB");
    assert!(!views[1].is_multi_page());
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("EAAtokenA") && !shown.contains("EAAtokenB"),
        "{shown}"
    );
}

#[test]
fn one_page_keeps_native_conversation_ids() {
    let c = MessengerConfig::from_table(table("")).unwrap();
    assert!(!c.is_multi_page());
    assert_eq!(c.conversation_id("1895382890692545", "77"), "77");
    assert_eq!(c.canonical("1895382890692545/77").unwrap(), "77");
    let one = MessengerConfig::from_table(pages_table(
        "pages = [{ id = '123', access_token = '${PAGE_A}' }]",
    ))
    .unwrap();
    assert!(!one.is_multi_page());
}

#[test]
fn bad_page_lists_name_the_key() {
    for (pages, needle) in [
        (
            "page_id = '1'\npage_access_token = 't'\npages = [{ id = '2', access_token = 't' }]",
            "keys 'page_id' and 'pages' cannot both be set",
        ),
        (
            "page_access_token = 't'\npages = [{ id = '2', access_token = 't' }]",
            "keys 'page_access_token' and 'pages' cannot both be set",
        ),
        ("pages = []", "key 'pages' must list at least one Page"),
        ("", "missing key 'page_id' (or 'pages')"),
        (
            "pages = [{ id = '2', access_token = 'a' }, { id = '2', access_token = 'b' }]",
            "key 'pages': Page 2 is listed twice",
        ),
        (
            "pages = [{ id = '2', access_token = 'a' }, { id = 'x-y', access_token = 'b' }]",
            "key 'pages[1].id'",
        ),
        (
            "pages = [{ id = '2', access_token = '${UNSET}' }]",
            "key 'pages[0].access_token'",
        ),
        (
            "pages = [{ id = '2', access_token = '' }]",
            "key 'pages[0].access_token' must not be empty",
        ),
        ("pages = [{ id = '2', token = 'a' }]", "key 'pages'"),
    ] {
        let err = MessengerConfig::from_table(pages_table(pages)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{pages}");
        assert!(
            err.to_string().contains("channels.fb") && err.to_string().contains(needle),
            "{err} lacks {needle}"
        );
        assert!(!err.to_string().contains("EAAtoken"), "{err}");
    }
}

#[test]
fn the_builder_adds_pages_and_refuses_duplicates() {
    let b = || {
        MessengerConfig::builder(
            ChannelName::new("fb").unwrap(),
            "123",
            Secret::new("a"),
            Secret::new("s"),
            Secret::new("v"),
        )
    };
    let c = b().page("456", Secret::new("b")).build().unwrap();
    assert_eq!(c.page_ids().collect::<Vec<_>>(), ["123", "456"]);
    let e = b().page("123", Secret::new("b")).build().unwrap_err();
    assert!(e.to_string().contains("Page 123 is listed twice"), "{e}");
    let e = b().page("456", Secret::new("")).build().unwrap_err();
    assert!(e.to_string().contains("Page 456 must not be empty"), "{e}");
}
