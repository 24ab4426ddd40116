//! The shared conformance kit, run against the Messenger adapter and the Graph API emulator on
//! 127.0.0.1. The Page subscribes to `message_echoes` and the channel says `message_echoes =
//! true`, so the adapter declares `reconcile`; `settle` hands the emulator's echoes to the
//! adapter as the engine's webhook route would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // harness plumbing outside #[test] functions

use std::sync::Arc;

use bytes::Bytes;
use switchboard_core::testkit::{Harness, Received, SignedSet, Staged};
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, Env, Registry, RenderPolicy, WebhookRequest,
};
use switchboard_messenger::MessengerAdapter;
use switchboard_messenger::emulator::{Emulator, EmulatorOptions, Fault};

const PSID: &str = "5275811702471834";
const CHANNEL: &str = "fb";
const WEBHOOK_URL: &str = "https://bot.example/webhooks/fb";

struct MessengerHarness {
    emulator: Emulator,
    adapter: Arc<MessengerAdapter>,
    policy: RenderPolicy,
}

impl MessengerHarness {
    fn table(emulator: &Emulator, policy: RenderPolicy) -> ChannelTable {
        let o = emulator.options();
        let render = match policy {
            RenderPolicy::Fallback => "fallback",
            RenderPolicy::Strict => "strict",
            RenderPolicy::Drop => "drop",
        };
        let text = format!(
            "provider = 'messenger'\npage_id = '{}'\npage_access_token = '${{FB_TOKEN}}'\n\
             app_secret = '${{FB_APP_SECRET}}'\nverify_token = '${{FB_VERIFY}}'\n\
             api_base_url = '{}'\nrender = '{render}'\nmessage_echoes = true\n\
             echo_wait = '300ms'\n",
            o.page_id,
            emulator.base_url()
        );
        ChannelTable::from_toml_str(CHANNEL, &text)
            .unwrap()
            .with_env(Env::from_pairs([
                ("FB_TOKEN", o.page_access_token.clone()),
                ("FB_APP_SECRET", o.app_secret.clone()),
                ("FB_VERIFY", o.verify_token.clone()),
            ]))
    }
}

#[switchboard_core::async_trait]
impl Harness for MessengerHarness {
    async fn start(policy: RenderPolicy) -> Self {
        let emulator = Emulator::start(EmulatorOptions {
            subscribed_fields: vec!["message_echoes".into()],
            ..EmulatorOptions::default()
        })
        .await
        .unwrap();
        emulator.add_user(PSID);
        let adapter = MessengerAdapter::from_table(Self::table(&emulator, policy)).unwrap();
        MessengerHarness {
            emulator,
            adapter: Arc::new(adapter),
            policy,
        }
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter.clone()
    }

    fn conversation(&self) -> ConversationRef {
        ConversationRef::parse(CHANNEL, PSID).unwrap()
    }

    async fn stage(&self, outcome: Staged) {
        let fault = match outcome {
            Staged::RateLimited { retry_after } => Fault::RateLimited { retry_after },
            Staged::ServerError => Fault::ServerError,
            Staged::AuthFailure => Fault::AuthFailure,
            Staged::UnknownRecipient => Fault::UnknownRecipient,
            Staged::LostAnswer => Fault::LostAnswer,
            other => panic!("no emulator fault for {other:?}"),
        };
        self.emulator.stage(fault);
    }

    async fn received(&self) -> Vec<Received> {
        self.emulator
            .messages()
            .iter()
            .map(|s| Received {
                to: s.recipient.clone(),
                text: s.text().unwrap_or_default().to_owned(),
                buttons: s.buttons(),
                quick_replies: s.quick_replies(),
                attachments: s.attachment().into_iter().collect(),
            })
            .collect()
    }

    async fn request_count(&self) -> usize {
        self.emulator.calls().len()
    }

    fn inbound_text(&self, text: &str) -> SignedSet {
        let body = self
            .emulator
            .webhook_body(&[self.emulator.text_item(PSID, text)]);
        let valid = self.emulator.signed_request(WEBHOOK_URL, &body);
        let mut tampered = valid.clone();
        tampered.body = Bytes::from(body.replace(text, &format!("{text}!")));
        SignedSet {
            valid,
            tampered,
            stale: None,
        }
    }

    async fn settle(&self) {
        let items = self.emulator.take_webhooks();
        if items.is_empty() {
            return;
        }
        let body = self.emulator.webhook_body(&items);
        let outcome = self
            .adapter
            .handle_webhook(&self.emulator.signed_request(WEBHOOK_URL, &body));
        assert!(outcome.accepted_events().is_some(), "{outcome:?}");
    }

    fn handshake(&self) -> Option<(WebhookRequest, Bytes)> {
        let mut url = url::Url::parse(WEBHOOK_URL).unwrap();
        url.query_pairs_mut()
            .append_pair("hub.mode", "subscribe")
            .append_pair("hub.verify_token", &self.emulator.options().verify_token)
            .append_pair("hub.challenge", "1158201444");
        Some((
            WebhookRequest::get(url.as_str()),
            Bytes::from_static(b"1158201444"),
        ))
    }

    fn config(&self) -> ChannelTable {
        Self::table(&self.emulator, self.policy)
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::new();
        switchboard_messenger::register(&mut r);
        r
    }

    fn secrets(&self) -> Vec<String> {
        let o = self.emulator.options();
        vec![
            o.page_access_token.clone(),
            o.app_secret.clone(),
            o.verify_token.clone(),
        ]
    }
}

switchboard_core::conformance_tests!(MessengerHarness: Reconcile, Handshake, UnsupportedOperations);
