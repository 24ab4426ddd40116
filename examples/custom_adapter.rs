//! A custom adapter: a new provider ("Acme Chat", made up for this example) implemented outside
//! the workspace's adapter crates, registered in a `Registry`, and proved with the shared
//! conformance kit against a small local emulator of its API.
//!
//! Acme's API: `POST {api_base_url}/v1/messages` with `Authorization: Bearer TOKEN` and JSON
//! `{to, text, buttons}` answers `{"id": …}`; errors are 401, 404, 429 (with `Retry-After`) and
//! 5xx. Its webhooks are JSON, signed `X-Acme-Signature: hex(HMAC-SHA256(secret, "{ts}.{body}"))`
//! with `X-Acme-Timestamp`; `GET ?challenge=X` is its handshake.
//!
//! Run with: `cargo run --example custom_adapter`

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchboard::RenderPolicy;
use switchboard::core::model::{EventId, InboundMessage, Sender};
use switchboard::core::render::render;
use switchboard::core::testkit::{Ability, Harness, Received, SignedSet, Staged, checks};
use switchboard::{
    Adapter, AdapterInfo, Capabilities, ChannelTable, ConversationId, ConversationRef, Env, Error,
    ErrorKind, EventKind, InboundEvent, MessageId, OutboundMessage, Registry, RejectReason, Retry,
    Secret, SendReceipt, SentMessage, TextLimit, UserId, WebhookOutcome, WebhookRequest,
    WebhookResponse,
};

// ───────────────────────────── the adapter ─────────────────────────────

/// What Acme Chat can do: plain text up to 1,000 characters and 3 buttons.
fn capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: 1000,
            unit: switchboard::LengthUnit::Chars,
        },
        max_buttons: 3,
        ..Capabilities::default()
    }
}

#[derive(Debug)]
struct AcmeAdapter {
    info: AdapterInfo,
    base: String,
    token: Secret,
    signing_secret: Secret,
    policy: RenderPolicy,
    http: reqwest::Client,
}

impl AcmeAdapter {
    /// Builds from `[channels.NAME]` with `provider = "acme"`; unknown keys are refused.
    fn from_table(mut t: ChannelTable) -> switchboard::Result<Self> {
        let token = t.secret("api_token")?;
        let signing_secret = t.secret("signing_secret")?;
        let base = t.api_base_url("https://api.acme.example")?;
        let policy = t.render_policy()?;
        let info = AdapterInfo::new("acme", t.channel().clone(), capabilities());
        t.finish()?;
        Ok(AcmeAdapter {
            info,
            base,
            token,
            signing_secret,
            policy,
            http: reqwest::Client::new(),
        })
    }

    /// The one place that knows Acme's error statuses.
    fn error(status: u16, retry_after: Option<Duration>, body: &str) -> Error {
        let (kind, retry) = match status {
            401 => (ErrorKind::Unauthenticated, Retry::Never),
            404 => (ErrorKind::NotFound, Retry::Never),
            429 => (ErrorKind::RateLimited, Retry::Safe),
            500..=599 => (ErrorKind::Provider, Retry::Ambiguous),
            _ => (ErrorKind::InvalidMessage, Retry::Never),
        };
        let mut e = Error::new(kind, format!("acme: HTTP {status}: {body}"))
            .with_retry(retry)
            .with_provider("acme")
            .with_provider_code(status.to_string());
        if let Some(after) = retry_after {
            e = e.with_retry_after(after);
        }
        e
    }
}

fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[switchboard::async_trait]
impl Adapter for AcmeAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    async fn send(
        &self,
        to: &ConversationRef,
        message: &OutboundMessage,
    ) -> switchboard::Result<SendReceipt> {
        let plan = render(message, &self.info.capabilities, self.policy)?;
        let mut sent = Vec::new();
        let last = plan.parts.len().saturating_sub(1);
        for (i, part) in plan.parts.iter().enumerate() {
            let buttons: Vec<Value> = if i == last {
                plan.actions
                    .iter()
                    .filter_map(|a| match a {
                        switchboard::core::model::Action::Postback { label, payload } => {
                            Some(json!({"label": label, "payload": payload}))
                        }
                        switchboard::core::model::Action::Link { .. } => None,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let body =
                json!({"to": to.conversation.as_str(), "text": part.text, "buttons": buttons});
            let resp = self
                .http
                .post(format!("{}/v1/messages", self.base))
                .bearer_auth(self.token.expose())
                .json(&body)
                .send()
                .await
                .map_err(|e| {
                    let retry = if e.is_connect() {
                        Retry::Safe
                    } else {
                        Retry::Ambiguous
                    };
                    Error::new(ErrorKind::Transport, format!("acme: {e}"))
                        .with_retry(retry)
                        .with_provider("acme")
                        .with_partial(sent.clone())
                })?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map(Duration::from_secs);
            let text = resp.text().await.unwrap_or_default();
            if status != 200 {
                return Err(Self::error(status, retry_after, &text).with_partial(sent));
            }
            let id: Value = serde_json::from_str(&text).unwrap_or_default();
            let id = MessageId::new(id["id"].as_str().unwrap_or_default())?;
            sent.push(SentMessage::new(id, to.clone()));
        }
        Ok(SendReceipt::from_plan(sent, &plan))
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        if request.method == http::Method::GET {
            return match request.query_param("challenge") {
                Some(c) => WebhookOutcome::handshake(WebhookResponse::text(c)),
                None => WebhookOutcome::reject(RejectReason::Malformed, "no challenge"),
            };
        }
        let (Some(ts), Some(sig)) = (
            request.header("x-acme-timestamp"),
            request.header("x-acme-signature"),
        ) else {
            return WebhookOutcome::reject(RejectReason::MissingSignature, "unsigned");
        };
        let Ok(secs) = ts.parse::<u64>() else {
            return WebhookOutcome::reject(RejectReason::Malformed, "bad timestamp");
        };
        let signed_at = UNIX_EPOCH + Duration::from_secs(secs);
        let skew = request
            .received_at
            .duration_since(signed_at)
            .or_else(|e| Ok::<_, ()>(e.duration()))
            .unwrap_or_default();
        if skew > Duration::from_secs(300) {
            return WebhookOutcome::reject(RejectReason::StaleTimestamp, "outside 5 minutes");
        }
        let verified =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.signing_secret.expose().as_bytes())
                .ok()
                .zip(hex::decode(sig).ok())
                .is_some_and(|(mut mac, sig)| {
                    mac.update(ts.as_bytes());
                    mac.update(b".");
                    mac.update(&request.body);
                    mac.verify_slice(&sig).is_ok() // constant time
                });
        if !verified {
            return WebhookOutcome::reject(RejectReason::BadSignature, "signature mismatch");
        }
        let decode = || -> switchboard::Result<InboundEvent> {
            let raw: Value = serde_json::from_slice(&request.body)
                .map_err(|e| Error::new(ErrorKind::Webhook, e.to_string()))?;
            let field = |k: &str| raw[k].as_str().unwrap_or_default().to_owned();
            Ok(InboundEvent::new(
                EventId::new(field("id"))?,
                ConversationRef::new(
                    self.info.channel.clone(),
                    ConversationId::new(field("conversation"))?,
                ),
                Sender::user(UserId::new(field("user"))?),
                signed_at,
                EventKind::Message(InboundMessage::text(field("text"))),
                raw,
            ))
        };
        match decode() {
            Ok(event) => WebhookOutcome::events(vec![event]),
            Err(e) => WebhookOutcome::reject(RejectReason::Malformed, e.to_string()),
        }
    }
}

/// Adds provider "acme" to a registry, the way the workspace's adapters do it.
fn register(registry: &mut Registry) {
    registry.register("acme", |table| {
        Ok(Arc::new(AcmeAdapter::from_table(table)?) as Arc<dyn Adapter>)
    });
}

// ───────────────────────────── its emulator ─────────────────────────────

#[derive(Default)]
struct EmuState {
    received: Vec<Value>,
    staged: Vec<Staged>,
    requests: usize,
}

type Shared = Arc<Mutex<EmuState>>;

async fn post_message(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    s.requests += 1;
    let staged = if s.staged.is_empty() {
        None
    } else {
        Some(s.staged.remove(0))
    };
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer acme-token");
    match staged {
        Some(Staged::RateLimited { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after.as_secs().to_string())],
            "slow down",
        )
            .into_response(),
        Some(Staged::ServerError) => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        Some(Staged::UnknownRecipient) => (StatusCode::NOT_FOUND, "no such user").into_response(),
        Some(Staged::AuthFailure) => (StatusCode::UNAUTHORIZED, "bad token").into_response(),
        _ if !authorized => (StatusCode::UNAUTHORIZED, "bad token").into_response(),
        _ => {
            let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
                return (StatusCode::BAD_REQUEST, "not json").into_response();
            };
            s.received.push(msg);
            let id = format!("msg_{}", s.received.len());
            axum::Json(json!({ "id": id })).into_response()
        }
    }
}

// ───────────────────────────── the conformance harness ─────────────────────────────

const SECRETS: [(&str, &str); 2] = [
    ("ACME_TOKEN", "acme-token"),
    ("ACME_SECRET", "acme-signing"),
];

struct AcmeHarness {
    adapter: Arc<dyn Adapter>,
    state: Shared,
    base: String,
    policy: RenderPolicy,
    _server: tokio::task::JoinHandle<()>,
}

impl AcmeHarness {
    fn table(&self, policy: RenderPolicy) -> ChannelTable {
        let policy = match policy {
            RenderPolicy::Strict => "strict",
            RenderPolicy::Drop => "drop",
            _ => "fallback",
        };
        let text = format!(
            "provider = 'acme'\napi_token = '${{ACME_TOKEN}}'\nsigning_secret = '${{ACME_SECRET}}'\napi_base_url = '{}'\nrender = '{policy}'",
            self.base
        );
        ChannelTable::from_toml_str("acme", &text)
            .map(|t| t.with_env(Env::from_pairs(SECRETS)))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

#[switchboard::async_trait]
impl Harness for AcmeHarness {
    async fn start(policy: RenderPolicy) -> Self {
        let state = Shared::default();
        let app = axum::Router::new()
            .route("/v1/messages", axum::routing::post(post_message))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let base = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut h = AcmeHarness {
            adapter: Arc::new(switchboard::MemoryAdapter::new(
                switchboard::ChannelName::new("placeholder").unwrap_or_else(|e| panic!("{e}")),
                Secret::new("x"),
            )),
            state,
            base,
            policy,
            _server: server,
        };
        h.adapter = h
            .registry()
            .build(h.table(policy))
            .unwrap_or_else(|e| panic!("{e}"));
        h
    }

    fn adapter(&self) -> Arc<dyn Adapter> {
        self.adapter.clone()
    }

    fn conversation(&self) -> ConversationRef {
        ConversationRef::parse("acme", "user-42").unwrap_or_else(|e| panic!("{e}"))
    }

    async fn stage(&self, outcome: Staged) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .staged
            .push(outcome);
    }

    async fn received(&self) -> Vec<Received> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.received
            .iter()
            .map(|m| Received {
                to: m["to"].as_str().unwrap_or_default().to_owned(),
                text: m["text"].as_str().unwrap_or_default().to_owned(),
                buttons: m["buttons"]
                    .as_array()
                    .map(|b| {
                        b.iter()
                            .filter_map(|b| b["label"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                ..Received::default()
            })
            .collect()
    }

    async fn request_count(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requests
    }

    fn inbound_text(&self, text: &str) -> SignedSet {
        let body =
            json!({"id": "ev-1", "conversation": "user-42", "user": "user-42", "text": text})
                .to_string();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let request = |body: &str| {
            WebhookRequest::post("http://127.0.0.1/webhooks/acme", body.to_owned())
                .with_header("x-acme-timestamp", &ts)
        };
        let sig = sign("acme-signing", &ts, body.as_bytes());
        let valid = request(&body).with_header("x-acme-signature", &sig);
        let tampered =
            request(&body.replace(text, "something else")).with_header("x-acme-signature", &sig);
        let stale = valid
            .clone()
            .received_at(SystemTime::now() + Duration::from_secs(600));
        SignedSet {
            valid,
            tampered,
            stale: Some(stale),
        }
    }

    fn handshake(&self) -> Option<(WebhookRequest, Bytes)> {
        Some((
            WebhookRequest::get("http://127.0.0.1/webhooks/acme?challenge=abc"),
            Bytes::from_static(b"abc"),
        ))
    }

    fn config(&self) -> ChannelTable {
        self.table(self.policy)
    }

    fn registry(&self) -> Registry {
        let mut r = Registry::empty();
        register(&mut r);
        r
    }

    fn secrets(&self) -> Vec<String> {
        SECRETS.iter().map(|(_, v)| (*v).to_owned()).collect()
    }

    fn reports_retry_after(&self) -> bool {
        true
    }
}

macro_rules! run_checks {
    ($($check:ident),* $(,)?) => {{
        let mut n = 0;
        $(
            checks::$check::<AcmeHarness>().await;
            println!("  ok  {}", stringify!($check));
            n += 1;
        )*
        n
    }};
}

#[tokio::main]
async fn main() {
    println!("Conformance kit against the Acme adapter and its emulator:");
    // Acme signs a timestamp, has a handshake and lacks edit, delete, reactions and typing; it
    // cannot reconcile, so the reconcile checks do not apply and are not run.
    let abilities = [
        Ability::SignedTimestamp,
        Ability::Handshake,
        Ability::UnsupportedOperations,
    ];
    checks::declared_abilities_match::<AcmeHarness>(&abilities).await;
    println!("  ok  declared_abilities_match ({abilities:?})");
    let n = run_checks!(
        text_round_trip,
        long_text_split_in_order,
        buttons_degrade_to_numbered_options,
        strict_policy_sends_nothing,
        rate_limited_is_safe_with_retry_after,
        auth_failure_is_unauthenticated,
        unknown_recipient_is_not_found,
        server_error_is_ambiguous,
        valid_webhook_decodes,
        tampered_webhook_rejected,
        unknown_config_key_rejected,
        debug_shows_no_secret,
        // The checks of Acme's abilities:
        stale_webhook_rejected,
        handshake_answered,
        unsupported_operations_send_nothing,
    );
    println!("{} checks passed.", n + 1);
    println!(
        "In a test suite: `switchboard_core::conformance_tests!(AcmeHarness: SignedTimestamp, \
         Handshake, UnsupportedOperations);`, one #[test] per check that applies."
    );
}
