//! HTTP: `GET|POST /webhooks/{channel}`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
//!
//! Layer order (outermost first) on the webhook route: load shedding (a fixed number of
//! requests in flight, 503 beyond it, never an unbounded queue) → body limit (413) → one
//! deadline, `server.request_timeout` from when the request got its permit, for reading the
//! body *and* storing the events. A body not fully received by then is answered **408** (a slow
//! or stalled client; the permit is released at once); events not stored by then are answered
//! **503** (the provider retries, and dedupe keeps the retry from running twice). Inside: the
//! adapter verifies and decodes (401/400/403/405; nothing is stored), then the events are
//! deduplicated and stored in one transaction, and only then is the adapter's answer sent.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use switchboard_core::{WebhookOutcome, WebhookRequest, WebhookResponse};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::engine::Engine;
use crate::store::Inserted;

pub(crate) fn router(inner: Arc<Engine>) -> Router {
    let limit = Arc::new(Semaphore::new(inner.config.server.max_in_flight.max(1)));
    let webhooks = Router::new()
        .route("/webhooks/{channel}", any(webhook))
        .layer(DefaultBodyLimit::max(inner.config.server.max_body_bytes))
        .layer(middleware::from_fn_with_state(limit, shed_load));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(webhooks)
        .with_state(inner)
}

async fn shed_load(State(limit): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    match limit.try_acquire() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            let mut r =
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded, retry later").into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

async fn readyz(State(inner): State<Arc<Engine>>) -> Response {
    match inner.store.ping().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            // The store's error (paths, SQL) is logged, not served to whoever asks.
            tracing::warn!(error = %e, "readiness check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn metrics(State(inner): State<Arc<Engine>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        inner.metrics.encode(),
    )
        .into_response()
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
/// the [`DefaultBodyLimit`] layer put into `extensions`.
async fn read_body(body: Body, extensions: axum::http::Extensions) -> Result<Bytes, Response> {
    let mut req = Request::new(body);
    *req.extensions_mut() = extensions;
    Bytes::from_request(req, &())
        .await
        .map_err(IntoResponse::into_response)
}

async fn webhook(
    State(inner): State<Arc<Engine>>,
    Path(channel): Path<String>,
    req: Request,
) -> Response {
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start) + inner.config.server.request_timeout;
    let Some(entry) = inner.channels.get(&channel) else {
        return (StatusCode::NOT_FOUND, "unknown channel").into_response();
    };
    let span = tracing::info_span!("webhook", channel = %channel);
    let (mut parts, body) = req.into_parts();
    let extensions = std::mem::take(&mut parts.extensions);
    let body = match tokio::time::timeout_at(deadline, read_body(body, extensions)).await {
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
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let work = async {
        let request = WebhookRequest {
            method,
            url: public_url(&inner, &channel, &uri, &headers),
            headers,
            body,
            received_at: SystemTime::now(),
        };
        match entry.adapter.handle_webhook(&request) {
            WebhookOutcome::Rejected(rejection) => {
                inner.metrics.rejected(&channel, rejection.reason.as_str());
                tracing::info!(reason = rejection.reason.as_str(), "webhook rejected");
                respond(rejection.response())
            }
            WebhookOutcome::Accepted { response, events } => {
                inner.metrics.webhook(&channel);
                if events.is_empty() {
                    return respond(response);
                }
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
                        if new > 0 {
                            inner.inbox_ready.notify_one();
                        }
                        respond(response)
                    }
                    Err(e) => {
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
