//! `GET|POST /webhooks/{channel}`: precheck, body, permit, verification, storage (the order is
//! explained in the [module docs](super)).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::{Rejection, WebhookOutcome, WebhookRequest, WebhookResponse};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::engine::Engine;
use crate::store::Inserted;

/// Bodies at least this large are verified and decoded on the blocking pool, so hashing and
/// parsing them never holds up an async worker (small ones cost less than the hand-off).
pub(crate) const BLOCKING_VERIFY_BYTES: usize = 64 * 1024;

/// The webhook route's state: the engine and the permits of `server.max_in_flight`.
#[derive(Clone)]
pub(crate) struct WebhookState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) permits: Arc<Semaphore>,
}

fn overloaded() -> Response {
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, "overloaded, retry later").into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

fn public_url(inner: &Engine, channel: &str, uri: &Uri, headers: &HeaderMap) -> String {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    match &inner.config.server.public_url {
        Some(base) => format!("{}/webhooks/{channel}{query}", base.trim_end_matches('/')),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!(
                "http://{host}{}",
                uri.path_and_query().map_or("/", |p| p.as_str())
            )
        }
    }
}

fn respond(r: WebhookResponse) -> Response {
    let mut builder = Response::builder().status(r.status);
    if let Some(ct) = r.content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder
        .body(Body::from(r.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Reads the body of `req` (whose parts were taken apart by the caller) within the body limit
/// the `DefaultBodyLimit` layer put into `extensions` (413 above it).
async fn read_body(body: Body, extensions: axum::http::Extensions) -> Result<Bytes, Response> {
    let mut req = Request::new(body);
    *req.extensions_mut() = extensions;
    Bytes::from_request(req, &())
        .await
        .map_err(IntoResponse::into_response)
}

fn rejected(inner: &Engine, channel: &str, rejection: &Rejection) -> Response {
    inner.metrics.rejected(channel, rejection.reason.as_str());
    tracing::info!(
        channel,
        reason = rejection.reason.as_str(),
        "webhook rejected"
    );
    respond(rejection.response())
}

/// Verifies and decodes `request` with the channel's adapter; large bodies on the blocking
/// pool.
async fn verify(
    adapter: Arc<dyn switchboard_core::Adapter>,
    request: WebhookRequest,
) -> WebhookOutcome {
    if request.body.len() < BLOCKING_VERIFY_BYTES {
        return adapter.handle_webhook(&request);
    }
    match tokio::task::spawn_blocking(move || adapter.handle_webhook(&request)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "webhook verification task failed");
            WebhookOutcome::Rejected(Rejection::new(
                switchboard_core::RejectReason::Malformed,
                "could not be verified",
            ))
        }
    }
}

pub(crate) async fn webhook(
    State(state): State<WebhookState>,
    Path(channel): Path<String>,
    req: Request,
) -> Response {
    let inner = &state.engine;
    let start = Instant::now();
    let timeout = inner.config.server.request_timeout;
    let Some(entry) = inner.channels.get(&channel) else {
        return (StatusCode::NOT_FOUND, "unknown channel").into_response();
    };
    let span = tracing::info_span!("webhook", channel = %channel);
    let (mut parts, body) = req.into_parts();
    // 1. What the method and headers alone refuse: no body is read.
    if let Some(rejection) = entry
        .adapter
        .precheck_webhook(&parts.method, &parts.headers)
    {
        inner.metrics.ack(&channel, start.elapsed());
        return rejected(inner, &channel, &rejection);
    }
    // 2. The body, within max_body_bytes and request_timeout, holding no permit.
    let extensions = std::mem::take(&mut parts.extensions);
    let body = match tokio::time::timeout(timeout, read_body(body, extensions)).await {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => {
            inner.metrics.ack(&channel, start.elapsed());
            return rejection;
        }
        Err(_) => {
            inner.metrics.ack(&channel, start.elapsed());
            tracing::info!(parent: &span, "webhook body not received within request_timeout");
            return (StatusCode::REQUEST_TIMEOUT, "timed out reading the body").into_response();
        }
    };
    // 3. A permit for verification and storage: never held by a body still arriving.
    let Ok(_permit) = state.permits.try_acquire() else {
        inner.metrics.ack(&channel, start.elapsed());
        return overloaded();
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let adapter = entry.adapter.clone();
    let work = async {
        let request = WebhookRequest {
            method,
            url: public_url(inner, &channel, &uri, &headers),
            headers,
            body,
            received_at: SystemTime::now(),
        };
        // 4. Verification and decoding (nothing is stored on a rejection), then the
        // adapter's admission with I/O (a multi-tenant channel checks each event's tenant).
        let outcome = verify(adapter.clone(), request).await;
        match adapter.admit_webhook(outcome).await {
            WebhookOutcome::Rejected(rejection) => rejected(inner, &channel, &rejection),
            WebhookOutcome::Accepted { response, events } => {
                inner.metrics.webhook(&channel);
                if events.is_empty() {
                    return respond(response);
                }
                // 5. Room in the backlog (`crate::backlog`): at `server.max_backlog` the
                // webhook waits for an event to be handled, 503 when the deadline comes first.
                if tokio::time::timeout_at(deadline, inner.backlog.room())
                    .await
                    .is_err()
                {
                    inner.metrics.rejected(&channel, "backlog_full");
                    tracing::warn!(
                        pending = inner.backlog.pending(),
                        "backlog full for request_timeout; answered 503"
                    );
                    return overloaded();
                }
                // 6. Deduplicated and stored in one transaction, then answered.
                match inner.store.insert_inbound(&events).await {
                    Ok(results) => {
                        let new = results
                            .iter()
                            .filter(|r| matches!(r, Inserted::New(_)))
                            .count() as u64;
                        inner
                            .metrics
                            .received(&channel, new, results.len() as u64 - new);
                        for (ev, r) in events.iter().zip(&results) {
                            tracing::debug!(
                                event_id = %ev.id,
                                conversation = %ev.conversation.conversation,
                                duplicate = matches!(r, Inserted::Duplicate),
                                "stored"
                            );
                        }
                        // Counted, or the wake-up that admitted it passed on (`backlog`).
                        inner.backlog.added(new);
                        if new > 0 {
                            inner.inbox_ready.notify_one();
                        }
                        respond(response)
                    }
                    Err(e) => {
                        inner.backlog.added(0);
                        tracing::error!(error = %e, "inbox insert failed");
                        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
                    }
                }
            }
        }
    }
    .instrument(span);
    let response = match tokio::time::timeout_at(deadline, work).await {
        Ok(r) => r,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "timed out storing the webhook",
        )
            .into_response(),
    };
    inner.metrics.ack(&channel, start.elapsed());
    response
}
