//! The shared conformance kit, run against the Twilio adapter pointed at the Twilio emulator.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;

use bytes::Bytes;
use switchboard_core::render::RenderPolicy;
use switchboard_core::testkit::{Harness, Received, SignedSet, Staged};
use switchboard_core::{Adapter, ChannelTable, ConversationRef, Registry, WebhookRequest};
use switchboard_twilio::emulator::{Emulator, EmulatorOptions, Fault, Inbound};
use switchboard_twilio::{TwilioAdapter, signature};

const CHANNEL: &str = "support-sms";
const USER: &str = "+15558675310";
const WEBHOOK_URL: &str = "https://bot.example.com/webhooks/support-sms";

struct TwilioHarness {
    emulator: Emulator,
    adapter: Arc<TwilioAdapter>,
    policy: RenderPolicy,
}

/// A channel table pointing at `emulator`, with render `policy`.
fn table(emulator: &Emulator, policy: RenderPolicy) -> ChannelTable {
    let c = emulator.options();
    let policy = match policy {
        RenderPolicy::Fallback => "fallback",
        RenderPolicy::Strict => "strict",
        RenderPolicy::Drop => "drop",
    };
    let text = format!(
        "provider = 'twilio'\naccount_sid = '{}'\nauth_token = '{}'\nfrom = '{}'\napi_base_url = '{}'\nrender = '{policy}'",
        c.account_sid,
        c.auth_token,
        c.numbers[0],
        emulator.base_url()
    );
    ChannelTable::from_toml_str(CHANNEL, &text).unwrap()
}

#[switchboard_core::async_trait]
impl Harness for TwilioHarness {
    async fn start(policy: RenderPolicy) -> Self {
        let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
        let adapter = Arc::new(TwilioAdapter::from_table(table(&emulator, policy)).unwrap());
        TwilioHarness {
            emulator,
            adapter,
            policy,
        }
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter.clone()
    }

    fn conversation(&self) -> ConversationRef {
        ConversationRef::parse(CHANNEL, USER).unwrap()
    }

    async fn stage(&self, outcome: Staged) {
        let fault = match outcome {
            Staged::RateLimited { retry_after } => Fault::RateLimited { retry_after },
            Staged::ServerError => Fault::ServerError,
            Staged::AuthFailure => Fault::AuthFailure,
            Staged::UnknownRecipient => Fault::UnknownRecipient,
            Staged::LostAnswer => Fault::LostAnswer,
            other => panic!("unknown staged outcome {other:?}"),
        };
        self.emulator.stage(fault);
    }

    async fn received(&self) -> Vec<Received> {
        self.emulator
            .calls()
            .iter()
            .filter(|c| c.created_message())
            .map(|c| Received {
                to: c.param("To").unwrap_or_default().to_owned(),
                text: c.param("Body").unwrap_or_default().to_owned(),
                buttons: Vec::new(),
                quick_replies: Vec::new(),
                attachments: c
                    .params_named("MediaUrl")
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })
            .collect()
    }

    async fn request_count(&self) -> usize {
        self.emulator.request_count()
    }

    fn inbound_text(&self, text: &str) -> SignedSet {
        let ours = &self.emulator.options().numbers[0];
        let valid = self
            .emulator
            .signed_request(WEBHOOK_URL, &Inbound::text(USER, ours, text));
        let mut tampered = valid.clone();
        let body = String::from_utf8(valid.body.to_vec()).unwrap();
        tampered.body = Bytes::from(body.replace("Body=", "Body=tampered+"));
        assert!(valid.header(signature::SIGNATURE_HEADER).is_some());
        // Twilio signs no timestamp: there is no stale form.
        SignedSet {
            valid,
            tampered,
            stale: None,
        }
    }

    fn handshake(&self) -> Option<(WebhookRequest, Bytes)> {
        // Twilio has no subscription handshake.
        None
    }

    fn config(&self) -> ChannelTable {
        table(&self.emulator, self.policy)
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::new();
        switchboard_twilio::register(&mut r);
        r
    }

    fn secrets(&self) -> Vec<String> {
        vec![self.emulator.options().auth_token.clone()]
    }
}

switchboard_core::conformance_tests!(TwilioHarness: Reconcile, UnsupportedOperations);
