//! `verify_credentials` against the emulator: Fetch Account with the auth token, the first entry
//! of the Messages list with an API key; the Account resource checked against the OpenAPI spec.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::config;
use serde_json::Value;
use switchboard_core::{Adapter, ChannelName, ErrorKind, Retry, Secret};
use switchboard_twilio::emulator::{Emulator, EmulatorOptions, Fault};
use switchboard_twilio::{TwilioAdapter, TwilioConfig};

const KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";

/// An adapter for the emulator's account with `token`, calling `base`.
fn with_token(emu: &Emulator, token: &str, base: &str) -> TwilioAdapter {
    adapter(emu, token, None, base)
}

/// An adapter for the emulator's account that calls the API with the key `KEY_SID`, `secret`.
fn with_api_key(emu: &Emulator, secret: &str) -> TwilioAdapter {
    adapter(emu, "unused-for-api", Some(secret), &emu.base_url())
}

fn adapter(emu: &Emulator, token: &str, key_secret: Option<&str>, base: &str) -> TwilioAdapter {
    let mut b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        emu.options().account_sid.clone(),
        Secret::new(token),
    )
    .from(emu.options().numbers[0].clone())
    .api_base_url(base);
    if let Some(secret) = key_secret {
        b = b.api_key(KEY_SID, Secret::new(secret));
    }
    TwilioAdapter::new(b.build().unwrap()).unwrap()
}

async fn emulator_with_key() -> Emulator {
    Emulator::start(EmulatorOptions {
        api_keys: vec![(KEY_SID.into(), "key-secret".into())],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_auth_token_fetches_the_account() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    sms.verify_credentials().await.unwrap();
    let calls = emu.calls();
    assert_eq!(calls.len(), 1);
    let sid = &emu.options().account_sid;
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", format!("/2010-04-01/Accounts/{sid}.json").as_str())
    );
    assert_eq!((calls[0].status, calls[0].authorized), (200, true));
    assert!(emu.messages().is_empty(), "nothing was sent");
}

/// A Standard API key may not read `/Accounts`: the check reads the Messages list instead.
#[tokio::test]
async fn an_api_key_reads_the_messages_list() {
    let emu = emulator_with_key().await;
    with_api_key(&emu, "key-secret")
        .verify_credentials()
        .await
        .unwrap();
    let calls = emu.calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].path.ends_with("/Messages.json"),
        "{}",
        calls[0].path
    );
    assert_eq!(calls[0].param("PageSize"), Some("1"));
    assert_eq!(calls[0].status, 200);

    let e = with_api_key(&emu, "not-the-secret")
        .verify_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_code()),
        (ErrorKind::Unauthenticated, Some("20003"))
    );
}

#[tokio::test]
async fn a_refused_token_is_unauthenticated() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let e = with_token(&emu, "not-the-token", &emu.base_url())
        .verify_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider_code()),
        (ErrorKind::Unauthenticated, Retry::Never, Some("20003")),
        "{e:?}"
    );
    assert_eq!(
        (emu.calls()[0].status, emu.calls()[0].authorized),
        (401, false)
    );

    let sms = TwilioAdapter::new(config(&emu, None)).unwrap();
    emu.stage(Fault::AuthFailure);
    let e = sms.verify_credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = with_token(
        &emu,
        &emu.options().auth_token.clone(),
        &format!("http://{closed}"),
    )
    .verify_credentials()
    .await
    .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider()),
        (ErrorKind::Transport, Retry::Safe, Some("twilio")),
        "{e:?}"
    );
}

/// The emulator's Account resource has the properties of the spec's schema and example; an API
/// key gets 20003 there, as a Standard key does at Twilio.
#[tokio::test]
async fn the_emulated_account_resource_follows_the_spec() {
    let spec: Value = serde_json::from_str(include_str!(
        "fixtures/openapi/twilio_api_v2010_account_subset.json"
    ))
    .unwrap();
    let emu = emulator_with_key().await;
    let c = emu.options().clone();
    let url = format!(
        "{}/2010-04-01/Accounts/{}.json",
        emu.base_url(),
        c.account_sid
    );
    let http = reqwest::Client::new();
    let get = |user: &str, pass: &str| http.get(&url).basic_auth(user, Some(pass)).send();

    let r = get(&c.account_sid, &c.auth_token).await.unwrap();
    assert_eq!(r.status(), 200);
    let account: Value = r.json().await.unwrap();
    let schema = &spec["components"]["schemas"]["api.v2010.account"]["properties"];
    let mut keys: Vec<&String> = account.as_object().unwrap().keys().collect();
    let mut documented: Vec<&String> = schema.as_object().unwrap().keys().collect();
    keys.sort();
    documented.sort();
    assert_eq!(keys, documented);
    let example = &spec["paths"]["/2010-04-01/Accounts/{Sid}.json"]["get"]["responses"]["200"]["content"]
        ["application/json"]["examples"]["fetch"]["value"];
    let with_our_sid = |v: &Value| {
        v.to_string()
            .replace("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &c.account_sid)
    };
    assert_eq!(
        with_our_sid(&example["subresource_uris"]),
        account["subresource_uris"].to_string()
    );
    assert_eq!(account["sid"], c.account_sid.as_str());
    assert_eq!(account["owner_account_sid"], c.account_sid.as_str());
    assert_eq!(
        (account["status"].as_str(), account["type"].as_str()),
        (Some("active"), Some("Full"))
    );
    assert_eq!(
        account["uri"],
        format!("/2010-04-01/Accounts/{}.json", c.account_sid)
    );
    let enums = &spec["components"]["schemas"];
    assert!(
        enums["account_enum_status"]["enum"]
            .as_array()
            .unwrap()
            .contains(&account["status"])
    );
    assert!(
        enums["account_enum_type"]["enum"]
            .as_array()
            .unwrap()
            .contains(&account["type"])
    );

    let r = get(KEY_SID, "key-secret").await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["code"].as_u64(), body["status"].as_u64()),
        (Some(20003), Some(401))
    );
    let other = url.replace(&c.account_sid, "AC00000000000000000000000000000009");
    let r = http
        .get(other)
        .basic_auth(&c.account_sid, Some(&c.auth_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
