//! `verify_credentials` against the emulator: `auth.test` with the bot token; installed
//! workspaces' rotating tokens refreshed once across instances.

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

/// Two adapters (two instances) sharing one set of installations: a burst of sends from both
/// while the token is within `refresh_before` of its expiry refreshes it exactly once, and
/// every send goes out with a valid token of that workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_tokens_are_refreshed_once_across_instances() {
    use std::sync::Arc;
    use std::time::Duration;

    use switchboard_core::install::{Installations, MemoryInstallations};
    use switchboard_core::{ConversationRef, OutboundMessage};
    use switchboard_slack::SlackOAuthConfig;
    use switchboard_slack::emulator::Workspace;

    let em = Emulator::start(EmulatorOptions {
        rate_limit: None,
        token_lifetime: Some(Duration::from_secs(3)),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let o = em.options().clone();
    let shared: Arc<dyn Installations> = Arc::new(MemoryInstallations::new());
    let instance = || {
        let oauth = SlackOAuthConfig::new(
            o.client_id.clone(),
            Secret::new(o.client_secret.clone()),
            vec!["chat:write".into()],
            "https://bot.example/oauth/slack/team/callback",
        )
        .with_oauth_base_url(em.oauth_base_url())
        .with_refresh_before(Duration::from_secs(2));
        let config =
            SlackConfig::multi_workspace_builder(Secret::new(o.signing_secret.clone()), oauth)
                .api_base_url(em.base_url())
                .build()
                .unwrap();
        let a = SlackAdapter::new(ChannelName::new("team").unwrap(), config).unwrap();
        a.attach_installations(shared.clone());
        Arc::new(a)
    };
    let (one, two) = (instance(), instance());
    let code = em.issue_code(Workspace::new("T0A"));
    let installed = one.oauth().unwrap().exchange(&code).await.unwrap();
    assert_eq!(installed.tenant, "T0A");
    shared.put(&installed).await.unwrap();
    // Within the refresh margin, still valid.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let to = ConversationRef::parse("team", "T0A/C0GENERAL").unwrap();
    let mut sends = Vec::new();
    for i in 0..20 {
        let a = if i % 2 == 0 { one.clone() } else { two.clone() };
        let to = to.clone();
        sends.push(tokio::spawn(async move {
            a.send(&to, &OutboundMessage::text(format!("m{i}")).unwrap())
                .await
        }));
    }
    for s in sends {
        s.await.unwrap().unwrap();
    }
    assert_eq!(em.refreshes(), 1, "one refresh for both instances");
    let posts: Vec<_> = em
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage")
        .collect();
    assert_eq!(posts.len(), 20);
    assert!(
        posts
            .iter()
            .all(|c| c.authorized && c.team.as_deref() == Some("T0A"))
    );
    let now = shared
        .get(&ChannelName::new("team").unwrap(), "T0A")
        .await
        .unwrap()
        .unwrap();
    assert!(
        now.expires_at > installed.expires_at,
        "the new token was kept"
    );
}
