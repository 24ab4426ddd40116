//! A local Graph API emulator (feature `emulator`) for tests and the sandbox.
//!
//! It serves, on `127.0.0.1`, the subset of the Graph API the adapter uses, as Meta documents it:
//! - `POST /{version}/{page_id|me}/messages` (JSON, or form fields whose values are JSON): the
//!   Page token as `access_token` (or `Authorization: Bearer`; a bad one is error 190),
//!   `appsecret_proof` when required, the recipient (unknown PSIDs: 100/2018001),
//!   `messaging_type`/`tag`, text ≤ 2,000 characters, ≤ 13 quick replies with titles ≤ 20,
//!   button templates with ≤ 640 characters and 1–3 buttons (all: error 100), the 24 h window
//!   (a send without `MESSAGE_TAG` to a user whose last message is older, or with `HUMAN_AGENT`
//!   more than 7 days later: 10/2018278), sender actions; it answers
//!   `{"recipient_id", "message_id": "m_…"}`.
//! - `POST /{version}/{page_id|me}/message_attachments` (multipart `message` + `filedata`, or JSON
//!   by URL): `{"attachment_id"}`.
//! - `GET /{version}/{page_id|me}?fields=id,name` (what `verify_credentials` calls): the Page
//!   node with the fields asked for (without `fields`, `name` and `id`; another field: error
//!   100). The same token and proof checks apply: a bad token is error 190.
//! - `GET /{version}/me/accounts` with the user token ([`EmulatorOptions::user_access_token`]):
//!   every Page with its Page token (see `accounts.rs`).
//! - Rate limiting (code 613, with `Retry-After` and `X-Business-Use-Case-Usage`), staged
//!   [`Fault`]s (including [`Fault::LostAnswer`]: the message is accepted but the connection
//!   drops before the answer), a fixed [`EmulatorOptions::latency`], a settable clock, a log of
//!   every call, and [`Emulator::deliver`], which POSTs correctly signed webhooks (several items
//!   per POST when asked) and retries non-2xx answers.
//! - Webhooks the Page causes itself: when the Page subscribes to `message_echoes`
//!   ([`Emulator::subscribe`]), every accepted message is echoed with its `metadata`. Echoes go
//!   to the callback URL ([`Emulator::set_callback_url`]) as they happen, signed, retried on
//!   failure as Meta does; without a callback URL they wait for [`Emulator::take_webhooks`].

mod accounts;
mod call;
mod deliver;
mod page;
mod server;
mod state;
mod upload;
mod validate;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use switchboard_core::emulator::{Listener, Server};

pub use deliver::Delivery;
pub use page::{EmulatedPage, PageView};
pub use state::{Call, EmulatedMessage, Fault, Upload};

use server::Shared;

/// How the emulated Page(s) and app are set up. Build it with struct update syntax:
/// `EmulatorOptions { rate_limit_per_second: Some(10), ..EmulatorOptions::default() }`.
#[derive(Clone)]
pub struct EmulatorOptions {
    /// The (first) Page's id.
    pub page_id: String,
    /// The Page's name (the node's `name` field).
    pub page_name: String,
    /// The Page's access token: a call with it may address only this Page (or `me`).
    pub page_access_token: String,
    /// A user access token of a person who manages every Page: `GET /me/accounts` with it
    /// lists the Pages with their tokens (Facebook Login for Business).
    pub user_access_token: String,
    /// More Pages of the same app, each with its own token (a token is accepted only for its
    /// own Page; users, windows, uploads and message ids are per Page).
    pub other_pages: Vec<EmulatedPage>,
    /// The App Secret (webhook signatures, `appsecret_proof`).
    pub app_secret: String,
    /// The webhook verify token (for [`Emulator::channel_toml`]).
    pub verify_token: String,
    /// The app's id, carried by the echoes of its sends ([`Emulator::echo_item`]).
    pub app_id: String,
    /// Refuse calls without a valid `appsecret_proof`.
    pub require_appsecret_proof: bool,
    /// Calls per second before code 613 (`None`: unlimited).
    pub rate_limit_per_second: Option<u32>,
    /// The standard messaging window.
    pub window: Duration,
    /// Attempts per webhook delivery by [`Emulator::deliver`].
    pub delivery_attempts: u32,
    /// The webhook fields the Page subscribes the app to (e.g. `message_echoes`); see
    /// [`Emulator::subscribe`].
    pub subscribed_fields: Vec<String>,
    /// Where webhooks the Page causes (echoes) are POSTed; see [`Emulator::set_callback_url`].
    pub callback_url: Option<String>,
    /// How long the sender keeps retrying a webhook the callback URL refuses (Meta: up to 36 h).
    pub webhook_retry_for: Duration,
    /// How long every API call takes before it is processed.
    pub latency: Duration,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            page_id: "1895382890692545".into(),
            page_name: "Emulated Page".into(),
            page_access_token: "EAAemulatorPageToken".into(),
            other_pages: Vec::new(),
            user_access_token: "EAAemulatorUserToken".into(),
            app_secret: "emulator-app-secret".into(),
            verify_token: "emulator-verify-token".into(),
            app_id: "1517776481860111".into(),
            require_appsecret_proof: true,
            rate_limit_per_second: None,
            window: Duration::from_secs(24 * 60 * 60),
            delivery_attempts: 3,
            subscribed_fields: Vec::new(),
            callback_url: None,
            webhook_retry_for: Duration::from_secs(36 * 60 * 60),
            latency: Duration::ZERO,
        }
    }
}

impl std::fmt::Debug for EmulatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorOptions")
            .field("page_id", &self.page_id)
            .field("other_pages", &self.other_pages)
            .field("app_id", &self.app_id)
            .field("require_appsecret_proof", &self.require_appsecret_proof)
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("window", &self.window)
            .field("subscribed_fields", &self.subscribed_fields)
            .field("callback_url", &self.callback_url)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    server: Server,
    sender: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

impl Emulator {
    /// Starts an emulator for `options` on 127.0.0.1 (a free port); needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error of binding the local port, or of building its webhook client.
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = Listener::bind().await?;
        let state = state::State {
            subscribed: options.subscribed_fields.iter().cloned().collect(),
            callback_url: options.callback_url.clone(),
            ..state::State::default()
        };
        let shared = Arc::new(Shared {
            options,
            state: Mutex::new(state),
            outgoing: tokio::sync::Notify::new(),
        });
        let server = listener.serve(server::router(shared.clone()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?;
        let sender = tokio::spawn(deliver::run_sender(shared.clone(), http.clone()));
        shared.outgoing.notify_one();
        Ok(Emulator {
            shared,
            server,
            sender,
            http,
        })
    }

    /// `http://127.0.0.1:<port>`: the adapter's `api_base_url`.
    pub fn base_url(&self) -> String {
        self.server.url()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The options it runs with.
    pub fn options(&self) -> &EmulatorOptions {
        &self.shared.options
    }

    /// The keys of a `[channels.NAME]` table for an adapter pointed at this emulator: one
    /// Page as `page_id` and `page_access_token`, several as `pages`.
    pub fn channel_toml(&self) -> String {
        let o = self.options();
        let pages = if o.other_pages.is_empty() {
            format!(
                "page_id = \"{}\"\npage_access_token = \"{}\"\n",
                o.page_id, o.page_access_token
            )
        } else {
            let list: Vec<String> = o
                .pages()
                .iter()
                .map(|p| {
                    format!(
                        "{{ id = \"{}\", access_token = \"{}\" }}",
                        p.id, p.access_token
                    )
                })
                .collect();
            format!("pages = [{}]\n", list.join(", "))
        };
        format!(
            "provider = \"messenger\"\n{pages}app_secret = \"{}\"\nverify_token = \"{}\"\n\
             api_base_url = \"{}\"\n",
            o.app_secret,
            o.verify_token,
            self.base_url()
        )
    }

    /// Registers a user (PSID) who messaged the (first) Page now, opening the 24 h window.
    pub fn add_user(&self, psid: &str) {
        self.main_page().add_user(psid);
    }

    /// Registers a user of the (first) Page whose last message was at `at`.
    pub fn user_messaged_at(&self, psid: &str, at: SystemTime) {
        self.main_page().user_messaged_at(psid, at);
    }

    /// The emulator clock.
    pub fn now(&self) -> SystemTime {
        self.shared.state().now()
    }

    /// Fixes the emulator clock at `at`.
    pub fn set_now(&self, at: SystemTime) {
        self.shared.state().fixed_now = Some(at);
    }

    /// Moves the emulator clock forward (fixing it).
    pub fn advance(&self, by: Duration) {
        let mut st = self.shared.state();
        let now = st.now();
        st.fixed_now = Some(now + by);
    }

    /// Makes the next API call answer with `fault` (faults queue up, one per call).
    pub fn stage(&self, fault: Fault) {
        self.shared.state().faults.push_back(fault);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.state().calls.clone()
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<EmulatedMessage> {
        self.shared.state().sent.clone()
    }

    /// Every upload so far.
    pub fn uploads(&self) -> Vec<Upload> {
        self.shared.state().uploads.clone()
    }

    /// Sets the webhook fields the Page subscribes the app to (Meta's `subscribed_fields`),
    /// replacing the previous set. With `message_echoes`, every message the Page sends from now
    /// on is echoed.
    pub fn subscribe(&self, fields: &[&str]) {
        self.shared.state().subscribed = fields.iter().map(|f| (*f).to_owned()).collect();
    }

    /// Sets where webhooks the Page causes are POSTed (`None`: they wait for
    /// [`take_webhooks`](Self::take_webhooks)); waiting items go out at once.
    pub fn set_callback_url(&self, url: Option<&str>) {
        self.shared.state().callback_url = url.map(str::to_owned);
        self.shared.outgoing.notify_one();
    }

    /// The webhook items (echoes) not delivered yet, oldest first, removed from the queue: hand
    /// them to an adapter with [`webhook_body`](Self::webhook_body) and
    /// [`signed_request`](Self::signed_request), or POST them with [`deliver`](Self::deliver).
    pub fn take_webhooks(&self) -> Vec<serde_json::Value> {
        self.shared.state().webhooks.drain(..).collect()
    }

    /// How many webhook items wait to be delivered.
    pub fn pending_webhooks(&self) -> usize {
        self.shared.state().webhooks.len()
    }

    /// Forgets calls, messages, uploads, staged faults and waiting webhooks (users, the clock
    /// and the subscription stay).
    pub fn clear(&self) {
        let mut st = self.shared.state();
        st.calls.clear();
        st.sent.clear();
        st.uploads.clear();
        st.faults.clear();
        st.webhooks.clear();
    }
}
