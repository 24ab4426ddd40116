//! `verify_credentials` against the Graph API emulator: `GET /{version}/me?fields=id` with the
//! Page token and `appsecret_proof`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use switchboard_core::{Adapter, ChannelTable, ErrorKind, Retry};
use switchboard_messenger::MessengerAdapter;
use switchboard_messenger::emulator::{Emulator, EmulatorOptions, Fault};
use switchboard_messenger::signature::appsecret_proof;

/// An adapter for the emulator's Page, with `replace` applied to its channel table.
fn adapter(emu: &Emulator, replace: (&str, &str)) -> MessengerAdapter {
    let toml = emu.channel_toml().replace(replace.0, replace.1);
    MessengerAdapter::from_table(ChannelTable::from_toml_str("fb", &toml).unwrap()).unwrap()
}

#[tokio::test]
async fn the_page_token_is_accepted() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let a = adapter(&emu, ("", ""));
    a.verify_credentials().await.unwrap();
    let calls = emu.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!((c.method.as_str(), c.path.as_str()), ("GET", "/v25.0/me"));
    assert_eq!(c.query["fields"], "id");
    let o = emu.options();
    assert_eq!(c.query["access_token"], o.page_access_token);
    assert_eq!(
        c.query["appsecret_proof"],
        appsecret_proof(&o.app_secret, &o.page_access_token)
    );
    assert_eq!(c.response, serde_json::json!({"id": o.page_id}));
    assert!(emu.messages().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_refused_token_is_unauthenticated() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let token = emu.options().page_access_token.clone();
    let a = adapter(&emu, (&token, "EAAsomeoneElsesToken"));
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider_code()),
        (ErrorKind::Unauthenticated, Retry::Never, Some("190")),
        "{e:?}"
    );
    assert_eq!(emu.calls()[0].status, 400);

    // An expired session (190/460) is refused the same way.
    let a = adapter(&emu, ("", ""));
    emu.stage(Fault::AuthFailure);
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_code()),
        (ErrorKind::Unauthenticated, Some("190/460"))
    );

    // A wrong App Secret makes the proof wrong: refused before the token is used.
    let secret = emu.options().app_secret.clone();
    let a = adapter(&emu, (&secret, "not-the-app-secret"));
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e:?}");
    assert!(e.message().contains("appsecret_proof"), "{e}");
}

#[tokio::test]
async fn a_token_of_another_page_is_a_config_error() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let page = emu.options().page_id.clone();
    let a = adapter(&emu, (&format!("page_id = \"{page}\""), "page_id = \"42\""));
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e:?}");
    assert!(e.to_string().contains(&format!("node {page}")), "{e}");
}

#[tokio::test]
async fn an_unreachable_graph_api_is_a_transport_error() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = adapter(&emu, (&emu.base_url(), &format!("http://127.0.0.1:{port}")));
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider()),
        (ErrorKind::Transport, Retry::Safe, Some("messenger")),
        "{e:?}"
    );
}

/// The node read as Graph answers it: the fields asked for, `name` and `id` by default, error
/// 100 for a field a Page lacks, error 190 for a bad token.
#[tokio::test]
async fn the_emulator_answers_the_page_node_as_graph_does() {
    let emu = Emulator::start(EmulatorOptions {
        require_appsecret_proof: false,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let o = emu.options().clone();
    let get = |path: String| async move {
        let r = reqwest::get(path).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    let base = format!("{}/v25.0", emu.base_url());
    let token = &o.page_access_token;
    let (status, body) = get(format!("{base}/me?access_token={token}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"name": o.page_name, "id": o.page_id})
    );
    let (_, body) = get(format!(
        "{base}/{}?fields=id&access_token={token}",
        o.page_id
    ))
    .await;
    assert_eq!(body, serde_json::json!({"id": o.page_id}));
    let (status, body) = get(format!("{base}/me?fields=email&access_token={token}")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &serde_json::json!(100))
    );
    let (status, body) = get(format!("{base}/me?fields=id&access_token=EAAwrong")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &serde_json::json!(190))
    );
    assert_eq!(body["error"]["type"], "OAuthException");
}
