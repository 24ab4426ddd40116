//! A local Slack: the Web API methods the adapter uses, on 127.0.0.1, exactly as Slack documents
//! them, plus signed Events API delivery (feature `emulator`).
//!
//! - `POST /api/{method}`: bearer token (or `token` argument) checked (`not_authed`,
//!   `invalid_auth`); JSON or form bodies (methods without JSON support read the form only);
//!   arguments checked against Slack's method reference (unknown → `invalid_arg_name`, missing →
//!   `invalid_arguments` / `channel_not_found`); `blocks` ≤ 50; `text` or `blocks` required
//!   (`no_text`); `text` over 40,000 characters truncated; `chat.update` text over 4,000 →
//!   `msg_too_long`; real-looking, increasing `ts` values; per-channel `chat.postMessage` rate
//!   limit (1/s with a burst of 3 by default) → HTTP 429 + `Retry-After` +
//!   `{"ok":false,"error":"ratelimited"}`.
//! - Methods: `auth.test`, `chat.postMessage`, `chat.postEphemeral`, `chat.update`,
//!   `chat.delete`, `reactions.add`, `reactions.remove`, `conversations.open`,
//!   `files.getUploadURLExternal`, `files.completeUploadExternal`, `conversations.history` and
//!   `conversations.replies` (time window, `limit`, cursor pages, message `metadata` with
//!   `include_all_metadata`); the upload URLs it hands out take the bytes; `GET
//!   /files/{id}/{name}` serves them with the bot token. `chat.postMessage` keeps `metadata`
//!   (`invalid_metadata_format` / `invalid_metadata_schema` when malformed).
//! - Faults for the next calls ([`Fault`]): a 5xx, a delay, a dropped connection (before or
//!   after the call takes effect), any Slack error, a 429. Every call is logged ([`Emulator::calls`]).
//! - [`Emulator::deliver`] POSTs a correctly signed event to a URL and retries like Slack.

mod deliver;
mod handlers;
mod history;
mod methods;
mod oauth;
mod server;
mod state;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use switchboard_core::emulator::{Listener, Server};

pub use deliver::{Attempt, Delivery};
pub use handlers::{MAX_BLOCKS, MAX_POST_TEXT, MAX_UPDATE_TEXT};
pub use methods::{MethodSpec, methods};
pub use oauth::Workspace;
pub use state::{Call, EmulatedFile, EmulatedMessage, Fault, RateLimit};

/// How the emulated workspace is set up.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The only bot token accepted.
    pub bot_token: String,
    /// The signing secret of delivered events.
    pub signing_secret: String,
    /// The workspace id.
    pub team_id: String,
    /// The app id (`api_app_id` of delivered events).
    pub app_id: String,
    /// The bot's user id (`auth.test`).
    pub bot_user_id: String,
    /// The bot's id (`auth.test`).
    pub bot_id: String,
    /// Channels that exist.
    pub channels: Vec<String>,
    /// Users that exist (DMs can be opened with them).
    pub users: Vec<String>,
    /// The per-channel posting limit; `None` disables it.
    pub rate_limit: Option<RateLimit>,
    /// How long [`Emulator::deliver`] waits for an answer (Slack: 3 s).
    pub delivery_timeout: Duration,
    /// The waits before each redelivery (Slack: at once, about 1 min, about 5 min).
    pub retry_delays: Vec<Duration>,
    /// How long each Web API call takes: half before it takes effect, half after (so a client
    /// killed mid-call may leave a message posted without having seen the answer). Zero by
    /// default.
    pub latency: Duration,
    /// The app's client id and secret (`oauth.v2.access`).
    pub client_id: String,
    /// See [`client_id`](Self::client_id).
    pub client_secret: String,
    /// The scopes `oauth.v2.access` grants (comma separated).
    pub scopes: String,
    /// Token rotation: the life of the `xoxe.xoxb-` tokens `oauth.v2.access` hands out
    /// (`None`: plain `xoxb-` tokens that do not expire).
    pub token_lifetime: Option<Duration>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            bot_token: "xoxb-emulator-token".to_owned(),
            signing_secret: "emulator-signing-secret".to_owned(),
            team_id: "T0EMULATOR".to_owned(),
            app_id: "A0EMULATOR".to_owned(),
            bot_user_id: "U0EMUBOT".to_owned(),
            bot_id: "B0EMUBOT".to_owned(),
            channels: vec!["C0GENERAL".to_owned(), "C0RANDOM".to_owned()],
            users: vec!["U0ALICE".to_owned(), "U0BOB".to_owned()],
            rate_limit: Some(RateLimit::default()),
            delivery_timeout: Duration::from_secs(3),
            retry_delays: vec![
                Duration::ZERO,
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
            latency: Duration::ZERO,
            client_id: "1111.2222".to_owned(),
            client_secret: "emulator-client-secret".to_owned(),
            scopes: "chat:write,channels:history".to_owned(),
            token_lifetime: None,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) options: EmulatorOptions,
    pub(crate) identity: handlers::Identity,
    pub(crate) base_url: String,
    state: Mutex<state::State>,
    oauth: Mutex<oauth::OAuthState>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn oauth(&self) -> MutexGuard<'_, oauth::OAuthState> {
        self.oauth.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    inner: Arc<Inner>,
    server: Server,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.server.addr())
            .finish()
    }
}

impl Emulator {
    /// Starts an emulator for `options` on 127.0.0.1 (a free port); needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error of binding the local port.
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Self> {
        let listener = Listener::bind().await?;
        let state = state::State {
            channels: options.channels.iter().cloned().collect::<BTreeSet<_>>(),
            users: options.users.iter().cloned().collect(),
            rate_limit: options.rate_limit,
            ..state::State::default()
        };
        let inner = Arc::new(Inner {
            identity: handlers::Identity {
                team_id: options.team_id.clone(),
                bot_user_id: options.bot_user_id.clone(),
                bot_id: options.bot_id.clone(),
            },
            options,
            base_url: listener.url(),
            state: Mutex::new(state),
            oauth: Mutex::new(oauth::OAuthState::default()),
        });
        let server = listener.serve(server::router(inner.clone()));
        Ok(Emulator { inner, server })
    }

    /// The value for the adapter's `api_base_url`: `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        format!("{}/api", self.inner.base_url)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The workspace it emulates.
    pub fn options(&self) -> &EmulatorOptions {
        &self.inner.options
    }

    /// Makes the next Web API call answer with `fault` (faults queue up, one per call).
    pub fn stage(&self, fault: Fault) {
        self.inner.lock().faults.push_back(fault);
    }

    /// Every Web API call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().calls.clone()
    }

    /// Every message posted so far (including edited, deleted and ephemeral ones), in order.
    pub fn messages(&self) -> Vec<EmulatedMessage> {
        self.inner.lock().messages.clone()
    }

    /// Uploaded files, in order.
    pub fn files(&self) -> Vec<EmulatedFile> {
        self.inner.lock().files.clone()
    }

    /// The bytes of an uploaded file.
    pub fn file_bytes(&self, id: &str) -> Option<Bytes> {
        self.inner
            .lock()
            .files
            .iter()
            .find(|f| f.id == id)
            .and_then(|f| f.bytes.clone())
    }

    /// The value for the adapter's `oauth_base_url` (`GET {it}/oauth/v2/authorize`).
    pub fn oauth_base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Makes the next `GET /oauth/v2/authorize` approve the install for `workspace` at once
    /// (a redirect to `redirect_uri` with a code and the state), as its user would.
    pub fn approve_as(&self, workspace: Workspace) {
        self.inner.oauth().approve_as = Some(workspace);
    }

    /// A fresh authorization code for `workspace` (what the authorize redirect carries).
    pub fn issue_code(&self, workspace: Workspace) -> String {
        self.inner.oauth().issue_code(workspace)
    }

    /// Revokes every token handed out for `team_id` (an uninstall); how many.
    pub fn revoke(&self, team_id: &str) -> usize {
        self.inner.oauth().revoke(team_id)
    }

    /// How many token refreshes `oauth.v2.access` granted.
    pub fn refreshes(&self) -> u64 {
        self.inner.oauth().refreshes
    }

    /// Adds a channel.
    pub fn add_channel(&self, id: &str) {
        self.inner.lock().channels.insert(id.to_owned());
    }

    /// Stores `bytes` as a file shared by a user and returns its `url_private_download`, served
    /// by the emulator with the bot token (for inbound `file_share` events).
    pub fn host_file(&self, filename: &str, bytes: Bytes) -> String {
        let team = self.inner.options.team_id.clone();
        self.host_file_in(&team, filename, bytes)
    }

    /// Like [`host_file`](Self::host_file) for a file of workspace `team` (an installed
    /// one): only a token of that workspace downloads it.
    pub fn host_file_in(&self, team: &str, filename: &str, bytes: Bytes) -> String {
        let mut s = self.inner.lock();
        let id = s.new_id("F");
        s.files.push(EmulatedFile {
            id: id.clone(),
            filename: filename.to_owned(),
            length: bytes.len(),
            bytes: Some(bytes),
            title: None,
            completed: true,
            team: team.to_owned(),
        });
        format!("{}/files/{id}/{filename}", self.inner.base_url)
    }
}

#[cfg(test)]
mod tests;
