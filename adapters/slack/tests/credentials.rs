//! `verify_credentials` against the emulator: `auth.test` with the bot token.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use switchboard_core::{Adapter, ChannelName, ErrorKind, Retry, Secret};
use switchboard_slack::emulator::{Emulator, EmulatorOptions, Fault};
use switchboard_slack::{BotIdentity, SlackAdapter, SlackConfig};

fn adapter_at(base: &str, token: &str) -> SlackAdapter {
    let config = SlackConfig::builder(Secret::new(token), Secret::new("emulator-signing-secret"))
        .api_base_url(base)
        .build()
        .unwrap();
    SlackAdapter::new(ChannelName::new("team").unwrap(), config).unwrap()
}

#[tokio::test]
async fn good_credentials_pass_and_teach_the_bot_identity() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let a = adapter_at(&em.base_url(), "xoxb-emulator-token");
    a.verify_credentials().await.unwrap();
    let calls = em.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "auth.test");
    assert_eq!(
        a.bot_identity(),
        BotIdentity {
            user_id: Some("U0EMUBOT".into()),
            bot_id: Some("B0EMUBOT".into()),
        },
        "the identity learned on the way is kept for the loop guard"
    );
}

#[tokio::test]
async fn a_refused_token_is_unauthenticated() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let a = adapter_at(&em.base_url(), "xoxb-not-the-token");
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider_code()),
        (
            ErrorKind::Unauthenticated,
            Retry::Never,
            Some("invalid_auth")
        ),
        "{e:?}"
    );

    let a = adapter_at(&em.base_url(), "xoxb-emulator-token");
    em.stage(Fault::SlackError("token_revoked".into()));
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_code()),
        (ErrorKind::Unauthenticated, Some("token_revoked"))
    );
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = adapter_at(
        &format!("http://127.0.0.1:{port}/api"),
        "xoxb-emulator-token",
    );
    let e = a.verify_credentials().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider()),
        (ErrorKind::Transport, Retry::Safe, Some("slack")),
        "{e:?}"
    );
}
