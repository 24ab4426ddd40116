//! The bridge as one plugin among others: one engine runs the bridge, the gateway (forwarding
//! to a receiver on 127.0.0.1), the application's own handler (with its own conversation
//! state) and the application's own plugin, and each does its part; a reply the provider
//! refuses is reported in the thread by the bridge, told once to the application's plugin and
//! forwarded by the gateway as `message.failed`.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::routing::post;
use serde_json::json;
use switchboard::gateway::GatewayConfig;
use switchboard::plugin::{FailedSend, Plugin};
use switchboard::twilio::emulator::Fault as TwilioFault;
use switchboard::{Env, ErrorKind, Result, Switchboard, async_trait};

use crate::world::{AGENTS, PHONE, World, eventually};

/// Records every request body it gets, answers 200.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().route(
        "/events",
        post(move |body: String| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/events"), seen)
}

fn gateway(url: &str) -> GatewayConfig {
    let doc: toml::Table = format!(
        "[gateway]\nallow_private_targets = true\n[[gateway.forward]]\nname = \"app\"\n\
         url = \"{url}\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n"
    )
    .parse()
    .unwrap();
    GatewayConfig::from_document(&doc, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .unwrap()
}

/// The application's own plugin: the sends the engine gave up on.
#[derive(Clone, Default)]
struct DeadLetters(Arc<Mutex<Vec<FailedSend>>>);

#[async_trait]
impl Plugin for DeadLetters {
    fn name(&self) -> &str {
        "app-alerts"
    }

    async fn on_dead_letter(&self, _: &Switchboard, failed: &FailedSend) -> Result<()> {
        self.0.lock().unwrap().push(failed.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_the_gateway_and_the_apps_handler_and_plugin_run_together() {
    let w = World::start("bridge-plugins").await;
    let (url, forwarded) = receiver().await;
    let alerts = DeadLetters::default();
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = handled.clone();
    let (_sb, running) = w
        .engine_with(|builder| {
            builder
                .gateway(gateway(&url))
                .plugin(alerts.clone())
                .on_message(move |ctx| {
                    let h = h.clone();
                    async move {
                        let event = ctx.event();
                        let text = event.text().unwrap_or_default().to_owned();
                        h.lock().unwrap().push(text.clone());
                        match (event.conversation.channel.as_str(), ctx.conversation()) {
                            // The app answers in its own Slack channel …
                            ("team", c) if c.conversation.as_str() == "C0GENERAL" => {
                                ctx.reply_text(format!("pong: {text}"))?;
                            }
                            // … and keeps its own state in the customers' conversations.
                            ("sms", _) => {
                                let n: u32 = ctx.state().await?.unwrap_or(0);
                                ctx.set_state(&json!(n + 1))?;
                            }
                            _ => {}
                        }
                        Ok(())
                    }
                })
        })
        .await;

    // A customer writes: the bridge opens a thread, the app's handler and the gateway see it.
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    assert!(parent.text.contains("Hello?"), "{}", parent.text);
    eventually("the handler saw it", || async {
        handled.lock().unwrap().iter().any(|t| t == "Hello?")
    })
    .await;
    eventually("the gateway forwarded it", || async {
        forwarded
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("Hello?"))
    })
    .await;

    // The app's conversation state does not disturb the bridge's link: the next message goes
    // into the same thread.
    w.customer_sms(&running, "Still there?").await;
    eventually("the follow-up in the thread", || async {
        w.in_thread(&parent.ts)
            .iter()
            .any(|m| m.text.contains("Still there?"))
    })
    .await;
    assert_eq!(w.parents().len(), 1, "no second thread");

    // The app's own Slack channel is the app's: it answers, the bridge stays out.
    w.slack_event(
        &running,
        json!({"type": "message", "channel": "C0GENERAL", "user": "U0BOB", "text": "ping",
            "ts": "1700000900.000100", "channel_type": "channel"}),
    )
    .await;
    eventually("the app's answer", || async {
        w.slack
            .messages()
            .iter()
            .any(|m| m.channel == "C0GENERAL" && m.text.contains("pong: ping"))
    })
    .await;

    // An agent's reply the provider refuses for good: the bridge's notice in the thread, and
    // one FailedSend for the app's plugin.
    w.twilio.stage(TwilioFault::Error {
        status: 400,
        code: 21610,
        message: "Attempt to send to unsubscribed recipient".to_owned(),
    });
    w.agent(&running, &parent.ts, "1700000400.000100", "Hi there")
        .await;
    eventually("the refusal notice", || async {
        w.in_thread(&parent.ts)
            .iter()
            .any(|m| m.text.contains("Not delivered") && m.text.contains("opted_out"))
    })
    .await;
    eventually("the app's plugin told", || async {
        !alerts.0.lock().unwrap().is_empty()
    })
    .await;
    let failed = alerts.0.lock().unwrap().clone();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].kind, ErrorKind::OptedOut);
    assert_eq!(failed[0].to.channel.as_str(), "sms");
    assert!(
        failed[0].key.starts_with("team/plugin/bridge/"),
        "the bridge's reply, under the bridge's key: {}",
        failed[0].key
    );
    assert_eq!(failed[0].provider_code.as_deref(), Some("21610"));
    // Every event reached the gateway's endpoint, the agent's reply included, and so did the
    // failure of the reply it became (`message.failed`).
    eventually("the agent's reply forwarded", || async {
        forwarded
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("Hi there"))
    })
    .await;
    eventually("the failure forwarded", || async {
        forwarded.lock().unwrap().iter().any(|b| {
            b.contains(r#""type":"message.failed""#) && b.contains(r#""kind":"opted_out""#)
        })
    })
    .await;
    assert!(
        w.agents_messages()
            .iter()
            .all(|m| m.channel == AGENTS && !m.text.contains("pong")),
        "the app did not answer in the agents' channel"
    );
    running.shutdown().await.unwrap();
}

/// A thread opened before the bridge was a plugin (its link kept as the customer
/// conversation's own state) is found and kept: the customer's next message goes into it, and
/// the link moves to the bridge's plugin state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_kept_by_the_bridge_before_it_was_a_plugin_is_still_followed() {
    let w = World::start("bridge-legacy-link").await;
    let (sb, running) = w.engine().await;
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    running.shutdown().await.unwrap();
    // Where the bridge kept the link before.
    let customer = switchboard::ConversationRef::new(
        switchboard::ChannelName::new("sms").unwrap(),
        switchboard::ConversationId::new(PHONE).unwrap(),
    );
    let key = switchboard::plugin::state_key("bridge", &customer);
    let store = sb.store().clone();
    let link = store.get_state(&key).await.unwrap().unwrap();
    assert!(
        link["parent"]
            .as_str()
            .unwrap()
            .starts_with("sms/plugin/bridge/"),
        "{link}"
    );
    store.set_state(&key, None).await.unwrap();
    store
        .set_state(&format!("sms/{PHONE}"), Some(link.clone()))
        .await
        .unwrap();
    drop((sb, store));

    let (sb, running) = w.engine().await;
    w.customer_sms(&running, "Still there?").await;
    eventually("the follow-up in the old thread", || async {
        w.in_thread(&parent.ts)
            .iter()
            .any(|m| m.text.contains("Still there?"))
    })
    .await;
    assert_eq!(w.parents().len(), 1, "no second thread");
    assert_eq!(sb.store().get_state(&key).await.unwrap(), Some(link));
    running.shutdown().await.unwrap();
}
