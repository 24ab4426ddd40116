//! A local Twilio: the subset of the Messages API the adapter uses, on 127.0.0.1.
//!
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form, HTTP Basic with the account
//!   SID and auth token, or an API key): validated as documented (21604, 21211, 21603, 21606,
//!   21910, 21619, 21617, 21623, 21620), answered `201` with the full Message resource (`SM…`
//!   or `MM…`, `queued`, `num_segments` computed, RFC 2822 dates).
//! - `GET …/Messages/{Sid}.json` fetches it; `GET …/Messages/{Sid}/Media/{MediaSid}` serves
//!   media registered with [`Emulator::add_media`] (Basic auth required).
//! - `GET /2010-04-01/Accounts/{AccountSid}.json` (Fetch Account, what `verify_credentials`
//!   calls) answers the Account resource as the OpenAPI spec shows it (`active`, `Full`, the
//!   subresource URIs). With an API key it is 401 / 20003, as Twilio answers a Standard key, which
//!   may not read `/Accounts`.
//! - `GET …/Messages.json` lists messages as documented: filters `To`, `From`, `DateSent`,
//!   `DateSent<`, `DateSent>` (GMT dates `YYYY-MM-DD`; other date forms are refused with 400 /
//!   20001), the most recent `date_sent` first, `PageSize` (default 50, at most 1000) and
//!   `next_page_uri` / `previous_page_uri` with a `PageToken`. A message's `date_sent` is set when
//!   it is created, as in the spec's examples (the emulator does not schedule).
//! - Each message advances to `sent` then `delivered` (or `failed` with the code set by
//!   [`Emulator::fail_deliveries_to`]); one sent through a Messaging Service starts `accepted`
//!   with no `From`, then gets a sender of the recipient's channel from [`EmulatorOptions::numbers`]
//!   and goes `queued` first. With a `StatusCallback`, each step after the first is a signed
//!   status callback, posted to the URL exactly as given (query included, and signed over it).
//! - Errors use Twilio's legacy body; 429s carry `Retry-After`. Faults are staged with
//!   [`Emulator::stage`], including [`Fault::LostAnswer`] (the request is carried out and
//!   the connection closes before the answer); a per-sender rate limit is set with
//!   [`EmulatorOptions::rate_limit`].
//! - [`Emulator::deliver`] posts a signed inbound message to a webhook URL, and
//!   [`Emulator::signed_request`] builds the same request without the network. Either way the
//!   emulator applies Twilio's default opt-out handling to it: after an SMS `STOP` (or a
//!   synonym), creates to that number from the number it was sent to fail with 400 / 21610
//!   until it sends `START`.
//! - Every API call is recorded ([`Emulator::calls`]).

mod account;
mod accounts;
mod deliver;
mod list;
mod server;
mod state;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use switchboard_core::WebhookRequest;
use switchboard_core::emulator::{Listener, Server};

pub use accounts::EmulatedAccount;
pub use deliver::{Delivery, Inbound};
pub use state::{Call, DeliveredCallback, Fault};

use crate::wire::MessageResource;
use state::Shared;

/// What the emulated account owns and how it behaves.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// `AC…`.
    pub account_sid: String,
    /// The auth token: API auth and webhook signatures.
    pub auth_token: String,
    /// API keys `(SK…, secret)` also accepted for API auth.
    pub api_keys: Vec<(String, String)>,
    /// Senders the account owns (`+1…`, `whatsapp:+1…`, short codes, sender ids).
    pub numbers: Vec<String>,
    /// Messaging Services (`MG…`) the account owns.
    pub messaging_services: Vec<String>,
    /// Time between status steps.
    pub status_delay: Duration,
    /// At most this many creates per sender per window; then 429 / 20429.
    pub rate_limit: Option<(u32, Duration)>,
    /// More accounts (subaccounts), each with its own token, keys and numbers; see
    /// [`EmulatedAccount`].
    pub subaccounts: Vec<EmulatedAccount>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            account_sid: "AC00000000000000000000000000000001".to_owned(),
            auth_token: "emulator-auth-token-0000000000001".to_owned(),
            api_keys: Vec::new(),
            numbers: vec![
                "+15005550006".to_owned(),
                "whatsapp:+14155238886".to_owned(),
            ],
            messaging_services: vec!["MG00000000000000000000000000000001".to_owned()],
            status_delay: Duration::from_millis(20),
            rate_limit: None,
            subaccounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Inner {
    options: Arc<EmulatorOptions>,
    /// When the emulator started: the account's `date_created`.
    created: SystemTime,
    state: Shared,
    http: reqwest::Client,
    base_url: Arc<str>,
}

/// A running emulator. Stops when dropped.
#[derive(Debug)]
pub struct Emulator {
    inner: Inner,
    server: Server,
}

impl Emulator {
    /// Starts an emulator for `options` on 127.0.0.1 (a free port); needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error of binding the local port, or of building its callback client.
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = Listener::bind().await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let inner = Inner {
            options: Arc::new(options),
            created: SystemTime::now(),
            state: Shared::default(),
            http,
            base_url: listener.url().into(),
        };
        let server = listener.serve(server::router(inner.clone()));
        Ok(Emulator { inner, server })
    }

    /// The base URL to configure as `api_base_url`: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.to_string()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The account it emulates.
    pub fn options(&self) -> &EmulatorOptions {
        &self.inner.options
    }

    /// Makes the next API call answer with `fault` (faults queue up, one per call).
    pub fn stage(&self, fault: Fault) {
        self.inner.state.lock().faults.push_back(fault);
    }

    /// Messages to `to` created from now on end `failed` with error `code` (e.g. 30003, 63016).
    pub fn fail_deliveries_to(&self, to: &str, code: u32) {
        self.inner
            .state
            .lock()
            .failing_recipients
            .insert(to.to_owned(), code);
    }

    /// Every API call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.state.lock().calls.clone()
    }

    /// How many API calls were made.
    pub fn request_count(&self) -> usize {
        self.inner.state.lock().calls.len()
    }

    /// The messages created so far, in order, with their current status.
    pub fn messages(&self) -> Vec<MessageResource> {
        let s = self.inner.state.lock();
        s.order
            .iter()
            .filter_map(|sid| s.messages.get(sid).cloned())
            .collect()
    }

    /// The status callbacks delivered so far.
    pub fn callbacks(&self) -> Vec<DeliveredCallback> {
        self.inner.state.lock().callbacks.clone()
    }

    /// Serves `bytes` as inbound media of the main account; returns its URL (on this
    /// emulator, Basic auth of that account required).
    pub fn add_media(&self, bytes: impl Into<Bytes>, content_type: &str) -> String {
        self.add_media_for(&self.inner.options.account_sid, bytes, content_type)
    }

    /// Serves `bytes` as inbound media of account `account_sid`; returns its URL.
    pub fn add_media_for(
        &self,
        account_sid: &str,
        bytes: impl Into<Bytes>,
        content_type: &str,
    ) -> String {
        let mut s = self.inner.state.lock();
        let message = s.sid("MM");
        let media = s.sid("ME");
        s.media.insert(
            media.clone(),
            (
                account_sid.to_owned(),
                bytes.into(),
                content_type.to_owned(),
            ),
        );
        format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages/{message}/Media/{media}",
            self.inner.base_url
        )
    }

    /// A new message SID, as Twilio would give an inbound message.
    pub fn next_message_sid(&self, media: bool) -> String {
        self.inner.state.lock().sid(if media { "MM" } else { "SM" })
    }

    /// What Twilio does itself with an inbound message: an SMS `STOP` (`STOPALL`,
    /// `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`) opts the sender out of our number, so creates
    /// to them from it fail with 400 / 21610 until they send `START` (`UNSTOP`, `YES`).
    fn received(&self, msg: &Inbound) {
        self.inner
            .state
            .lock()
            .inbound_keyword(&msg.from, &msg.to, &msg.body);
    }

    /// The signed request Twilio makes to `url` for inbound `msg` to the main account (no
    /// network).
    pub fn signed_request(&self, url: &str, msg: &Inbound) -> WebhookRequest {
        self.signed_request_for(&self.inner.options.account_sid, url, msg)
    }

    /// The signed request for inbound `msg` to account `account_sid`: its `AccountSid`, signed
    /// with that account's token (an account the emulator does not have is signed with the
    /// main account's token, for tests of refusals).
    pub fn signed_request_for(
        &self,
        account_sid: &str,
        url: &str,
        msg: &Inbound,
    ) -> WebhookRequest {
        self.received(msg);
        let sid = self.next_message_sid(!msg.media.is_empty());
        let params = deliver::inbound_params(account_sid, &sid, msg);
        deliver::signed_request(&self.token_of(account_sid), url, &params)
    }

    /// Posts inbound `msg` to the main account to `url`, signed, once (Twilio does not retry an
    /// incoming message webhook); what the receiver answered.
    pub async fn deliver(&self, url: &str, msg: &Inbound) -> Delivery {
        self.deliver_for(&self.inner.options.account_sid, url, msg)
            .await
    }

    /// Posts inbound `msg` to account `account_sid` to `url`, signed with that account's token
    /// (see [`signed_request_for`](Self::signed_request_for)), once.
    pub async fn deliver_for(&self, account_sid: &str, url: &str, msg: &Inbound) -> Delivery {
        self.received(msg);
        let sid = self.next_message_sid(!msg.media.is_empty());
        let params = deliver::inbound_params(account_sid, &sid, msg);
        deliver::post_signed(&self.inner, &self.token_of(account_sid), url, &params).await
    }

    fn token_of(&self, account_sid: &str) -> String {
        self.inner
            .options
            .account(account_sid)
            .map_or_else(|| self.inner.options.auth_token.clone(), |a| a.auth_token)
    }
}
