//! Admission of a multi-workspace channel's webhooks: routing by team then enterprise, unknown
//! workspaces acknowledged and dropped, uninstalls and revoked bot tokens removing the
//! installation, the bot's own messages dropped, the default workspace kept unprefixed.

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard_core::install::{Installation, Installations, MemoryInstallations, SecretString};
use switchboard_core::{Adapter, ChannelName, RejectReason, Secret, WebhookOutcome};

use crate::emulator::{Emulator, EmulatorOptions};
use crate::{SlackAdapter, SlackConfig, SlackOAuthConfig};

fn channel() -> ChannelName {
    ChannelName::new("team").unwrap()
}

fn adapter(em: &Emulator, default_team: Option<&str>) -> (SlackAdapter, Arc<MemoryInstallations>) {
    let o = em.options();
    let oauth = SlackOAuthConfig::new(
        o.client_id.clone(),
        Secret::new(o.client_secret.clone()),
        vec!["chat:write".into()],
        "https://bot.example/oauth/slack/team/callback",
    );
    let b = match default_team {
        Some(team) => SlackConfig::builder(
            Secret::new(o.bot_token.clone()),
            Secret::new(o.signing_secret.clone()),
        )
        .oauth(oauth)
        .team_id(team),
        None => SlackConfig::multi_workspace_builder(Secret::new(o.signing_secret.clone()), oauth),
    };
    let config = b.api_base_url(em.base_url()).build().unwrap();
    let a = SlackAdapter::new(channel(), config).unwrap();
    let installs = Arc::new(MemoryInstallations::new());
    a.attach_installations(installs.clone());
    (a, installs)
}

async fn install(installs: &MemoryInstallations, tenant: &str, enterprise: Option<&str>) {
    let i = Installation::new(
        channel(),
        tenant,
        SecretString::from(format!("xoxb-{tenant}")),
    )
    .with_enterprise(enterprise.map(str::to_owned))
    .with_bot(Some(format!("U{tenant}BOT")), Some(format!("B{tenant}BOT")));
    installs.put(&i).await.unwrap();
}

/// `event` of `team` (and `enterprise`) through `handle_webhook` and `admit_webhook`.
async fn admit(
    a: &SlackAdapter,
    em: &Emulator,
    event: Value,
    team: &str,
    enterprise: Option<&str>,
) -> WebhookOutcome {
    let mut body = em.event_callback(event);
    body["team_id"] = json!(team);
    if let Some(e) = enterprise {
        body["enterprise_id"] = json!(e);
    }
    let req = em.signed_request(
        "https://bot.example/webhooks/team",
        serde_json::to_vec(&body).unwrap(),
        "application/json",
    );
    a.admit_webhook(a.handle_webhook(&req)).await
}

fn message(channel: &str, user: &str) -> Value {
    json!({"type": "message", "channel": channel, "user": user, "text": "hi",
           "ts": "1700000000.000100", "channel_type": "channel"})
}

fn conversations(outcome: &WebhookOutcome) -> Vec<String> {
    outcome
        .accepted_events()
        .unwrap_or_default()
        .iter()
        .map(|e| e.conversation.conversation.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn events_are_routed_to_their_workspace_or_dropped() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let (a, installs) = adapter(&em, None);
    install(&installs, "T0A", None).await;
    install(&installs, "E0ORG", Some("E0ORG")).await;
    let ok = admit(&a, &em, message("C1", "U0ALICE"), "T0A", None).await;
    assert_eq!(conversations(&ok), ["T0A/C1"]);
    // A workspace of an org-wide install: routed to the enterprise's installation.
    let org = admit(&a, &em, message("C2", "U0ALICE"), "T0OTHER", Some("E0ORG")).await;
    assert_eq!(conversations(&org), ["E0ORG/C2"]);
    // No installation: acknowledged (200), nothing stored, never another workspace's.
    let unknown = admit(&a, &em, message("C1", "U0ALICE"), "T0NOPE", None).await;
    let rejection = unknown.rejection().unwrap();
    assert_eq!(rejection.reason, RejectReason::ForeignTenant);
    assert_eq!(unknown.response().status, 200);
    // The bot's own message in that workspace is dropped.
    let own = admit(&a, &em, message("C1", "UT0ABOT"), "T0A", None).await;
    assert!(conversations(&own).is_empty());
}

#[tokio::test]
async fn uninstalls_and_revoked_bot_tokens_remove_the_installation() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let (a, installs) = adapter(&em, None);
    install(&installs, "T0A", None).await;
    install(&installs, "T0B", None).await;
    // A user's token revoked: the bot stays.
    let user_only = json!({"type": "tokens_revoked", "tokens": {"oauth": ["U0ALICE"], "bot": []}});
    admit(&a, &em, user_only, "T0A", None).await;
    assert!(installs.get(&channel(), "T0A").await.unwrap().is_some());
    let bot = json!({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UT0ABOT"]}});
    let out = admit(&a, &em, bot, "T0A", None).await;
    assert_eq!(
        conversations(&out).len(),
        1,
        "the application still gets the event"
    );
    assert!(installs.get(&channel(), "T0A").await.unwrap().is_none());
    let gone = admit(&a, &em, json!({"type": "app_uninstalled"}), "T0B", None).await;
    assert_eq!(conversations(&gone).len(), 1);
    assert!(installs.list(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_default_workspace_keeps_unprefixed_ids() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let team = em.options().team_id.clone();
    let (a, installs) = adapter(&em, Some(&team));
    install(&installs, "T0A", None).await;
    let default = admit(&a, &em, message("C1", "U0ALICE"), &team, None).await;
    assert_eq!(conversations(&default), ["C1"]);
    let other = admit(&a, &em, message("C1", "U0ALICE"), "T0A", None).await;
    assert_eq!(conversations(&other), ["T0A/C1"]);
    // A default bot_token without its team_id is refused at build time.
    let o = em.options();
    let oauth = SlackOAuthConfig::new("1", Secret::new("c"), vec!["a".into()], "https://x");
    let config = SlackConfig::builder(Secret::new(o.bot_token.clone()), Secret::new("s"))
        .oauth(oauth)
        .build()
        .unwrap();
    let e = SlackAdapter::new(channel(), config).unwrap_err();
    assert!(e.to_string().contains("team_id"), "{e}");
}
