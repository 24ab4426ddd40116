//! The web chat routes: `/webchat/{channel}/…` of every `provider = "webchat"` channel, the
//! protocol of `adapters/webchat/PROTOCOL.md`.
//!
//! - `OPTIONS *`, `POST sessions`, `messages`, `typing`, `read`: decoded by the adapter
//!   ([`WebchatAdapter::handle_from`]); the events it gives are stored in the inbox (deduplicated
//!   on `{conversation}/{client_id}`, so a retried message is stored once) and the echo is
//!   appended to the conversation's log (keyed by the event id: once) **before** the answer,
//!   like any webhook. A store that fails answers `503 unavailable`: the client retries, and
//!   nothing it was told was accepted is lost.
//! - `GET events` (Server-Sent Events) and `GET messages` (long poll): [`events`].
//! - `POST uploads`, `GET uploads/{id}`: [`uploads`].
//! - `GET widget.js`, `GET demo`: [`assets`].
//!
//! Every answer carries `Webchat-Protocol: 1` and, for an allowed `Origin`, the CORS headers;
//! a refused request is a status and `{"error", "message"}` (the crate's [`Reply::error`]).
//! The client address for the per-IP session limit is the TCP peer (put there by the
//! connection loop); behind a reverse proxy that is the proxy's, so the limit then caps the
//! proxy as a whole.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use switchboard_core::WebhookRequest;
use switchboard_webchat::{BODY_OVERHEAD_BYTES, Reason, Reply, WebchatAdapter, WebchatError};

use crate::engine::Engine;
use crate::store::{LogAppend, conversation_key};

mod assets;
mod events;
mod uploads;

/// The routes under `/webchat/{channel}/`.
pub(crate) fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/webchat/{channel}/{*path}", any(handle))
        .with_state(engine)
}

/// A protocol answer as an HTTP response.
pub(super) fn respond(reply: Reply) -> Response {
    let mut r = Response::new(Body::from(reply.body));
    *r.status_mut() = reply.status;
    *r.headers_mut() = reply.headers;
    r
}

/// A refusal as an HTTP response.
pub(super) fn refuse(reason: Reason, message: &str) -> Response {
    respond(Reply::error(&WebchatError::new(reason, message)))
}

/// The request as the adapter reads it: the public URL (its path names the channel and the
/// endpoint), the headers and the body.
fn request(
    engine: &Engine,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> WebhookRequest {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let url = match &engine.config.server.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    };
    WebhookRequest {
        method,
        url,
        headers,
        body,
        received_at: SystemTime::now(),
    }
}

async fn handle(
    State(engine): State<Arc<Engine>>,
    Path((channel, path)): Path<(String, String)>,
    req: Request,
) -> Response {
    let Some(web) = engine.webchat.get(&channel).cloned() else {
        return refuse(Reason::NotFound, "no web chat channel of that name");
    };
    let adapter = &web.adapter;
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let request_headers = parts.headers.clone();
    let path = path.trim_end_matches('/');
    let mut response = match (&parts.method, path) {
        (&Method::GET, "widget.js") => assets::widget(),
        (&Method::GET, "demo") => assets::demo(adapter.channel().as_str()),
        (&Method::GET, "events") => {
            let r = request(
                &engine,
                parts.method,
                &parts.uri,
                parts.headers,
                Bytes::new(),
            );
            events::stream(&engine, adapter, &r).await
        }
        (&Method::GET, "messages") => {
            let r = request(
                &engine,
                parts.method,
                &parts.uri,
                parts.headers,
                Bytes::new(),
            );
            events::poll(&engine, adapter, &r).await
        }
        (&Method::POST, "uploads") => uploads::post(&engine, adapter, parts, body).await,
        (&Method::GET, p) if p.starts_with("uploads/") => {
            let id = p["uploads/".len()..].to_owned();
            let r = request(
                &engine,
                parts.method,
                &parts.uri,
                parts.headers,
                Bytes::new(),
            );
            uploads::get(&engine, adapter, &r, &id).await
        }
        (_, "widget.js" | "demo" | "events" | "uploads") if parts.method != Method::OPTIONS => {
            refuse(
                Reason::MethodNotAllowed,
                "this path takes GET (uploads: POST)",
            )
        }
        _ => {
            let limit = adapter.config().max_message_bytes + BODY_OVERHEAD_BYTES;
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => {
                    let r = request(&engine, parts.method, &parts.uri, parts.headers, bytes);
                    endpoint(&engine, adapter, &r, peer).await
                }
                Err(_) => refuse(Reason::MessageTooLarge, "the body is too large"),
            }
        }
    };
    adapter.cors(&request_headers, response.headers_mut());
    response
}

/// `OPTIONS`, `POST sessions`, `messages`, `typing`, `read`: the adapter decides; what it
/// accepted is stored before the answer.
async fn endpoint(
    engine: &Engine,
    adapter: &WebchatAdapter,
    request: &WebhookRequest,
    peer: Option<std::net::IpAddr>,
) -> Response {
    let handled = match peer {
        Some(ip) => adapter.handle_from(request, ip),
        None => adapter.handle(request),
    };
    if let Some(e) = &handled.error {
        engine
            .metrics
            .rejected(adapter.channel().as_str(), e.reason().as_str());
        return respond(handled.reply);
    }
    if handled.events.is_empty() && handled.echo.is_none() {
        return respond(handled.reply);
    }
    let work = async {
        let stored = engine.store.insert_inbound(&handled.events).await?;
        let new = stored
            .iter()
            .filter(|s| matches!(s, crate::store::Inserted::New(_)))
            .count() as u64;
        engine
            .metrics
            .received(adapter.channel().as_str(), new, stored.len() as u64 - new);
        if new > 0 {
            engine.backlog.added(new);
            engine.inbox_ready.notify_one();
        }
        // The echo, once per event (also when this is a retry of a stored message whose
        // echo was not appended yet).
        if let (Some(echo), Some(first)) = (&handled.echo, handled.events.first()) {
            let key = conversation_key(&first.conversation);
            let event = serde_json::to_value(echo).map_err(|e| {
                switchboard_core::Error::new(
                    switchboard_core::ErrorKind::InvalidMessage,
                    e.to_string(),
                )
            })?;
            let append = LogAppend::new(
                key.clone(),
                Some(format!("in:{}", first.id)),
                event,
                SystemTime::now(),
            );
            engine.store.log_append(&[append]).await?;
            engine.webchat.hub.wake(&key);
        }
        Ok::<(), switchboard_core::Error>(())
    };
    match tokio::time::timeout(engine.config.server.request_timeout, work).await {
        Ok(Ok(())) => respond(handled.reply),
        Ok(Err(e)) => {
            tracing::error!(error = %e, channel = %adapter.channel(), "web chat: storing failed");
            unavailable()
        }
        Err(_) => {
            tracing::error!(channel = %adapter.channel(), "web chat: storing timed out");
            unavailable()
        }
    }
}

/// `503 unavailable` with `Retry-After: 1`.
pub(super) fn unavailable() -> Response {
    let mut r = refuse(Reason::Unavailable, "cannot store the request now; retry");
    r.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    r
}

impl IntoResponse for WebFailure {
    fn into_response(self) -> Response {
        respond(Reply::error(&self.0))
    }
}

/// A protocol refusal as a response (for `?` in the route functions).
pub(super) struct WebFailure(pub(super) WebchatError);

impl From<WebchatError> for WebFailure {
    fn from(e: WebchatError) -> Self {
        WebFailure(e)
    }
}
