//! HTTP: `GET|POST /webhooks/{channel}` and `GET /healthz` on `server.listen`; `GET /readyz`
//! and `GET /metrics` there too, or only on `server.admin_listen` when that is set (with the
//! plugins' admin routes: the gateway's API where `[gateway] api_on = "admin_listen"`).
//!
//! **Connections** ([`conn`]): HTTP/1.1, at most `server.max_connections` open at once (by
//! default three quarters of the process's open-file limit, read from `/proc/self/limits`:
//! the rest is left to the store, the providers' clients and the logs). At the cap the server
//! stops accepting, so further clients wait in the kernel's backlog instead of failing with
//! "too many open files". A connection must send a complete request head within
//! `server.header_read_timeout` of the server starting to wait for one, which also bounds how
//! long an idle keep-alive connection stays open: a client that sends headers a byte at a time
//! (slowloris), or opens connections and sends nothing, holds a slot for at most that long.
//!
//! **A webhook**, in order, each step refusing before the next costs anything:
//! 1. *Precheck* ([`Adapter::precheck_webhook`](switchboard_core::Adapter::precheck_webhook)):
//!    the adapter refuses from the method and headers alone (405; 415 for a content type it
//!    never parses; 401 when a signature header every request must carry is missing). No
//!    body is read.
//! 2. *Body*: at most `server.max_body_bytes` (413), received within `server.request_timeout`
//!    of the request's start (else **408**). Reading a body holds no permit, so slow or stalled
//!    uploads cannot starve verified webhooks; what they can hold is bounded by
//!    `max_connections` × `max_body_bytes`.
//! 3. *Permit*: one of `server.max_in_flight`, taken without waiting (else **503** with
//!    `Retry-After: 1`, never an unbounded queue), for verification and storage only.
//! 4. *Verification and decoding* by the adapter (401/400/403; nothing is stored). Forms with
//!    more than [`MAX_FORM_PARAMS`](switchboard_core::webhook::MAX_FORM_PARAMS) pairs are
//!    refused before they are parsed, sorted or hashed; bodies of 64 KiB and more are verified
//!    on the blocking pool, away from the async workers.
//! 5. *Room in the backlog* ([`crate::backlog`]): with `server.max_backlog` events
//!    acknowledged and not yet handled, the webhook waits until one is handled (holding no CPU),
//!    so a burst slows acknowledgements instead of piling up work the handlers cannot reach.
//! 6. *Storage*: the events are deduplicated and stored in one transaction, and only then is
//!    the adapter's answer sent. Steps 4 to 6 must finish within `server.request_timeout` of
//!    the permit (else **503**, with `Retry-After: 1` when the backlog stayed full: the
//!    provider retries, and dedupe keeps the retry from running twice).
//!
//! `/readyz` asks the store for a trivial round trip (`SELECT 1` on SQLite), never a scan.

mod conn;
mod limits;
mod oauth;
#[cfg(feature = "webchat")]
mod webchat;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::sync::Semaphore;

pub(crate) use conn::{ConnLimits, serve};
pub(crate) use limits::{default_max_connections, open_file_limit};

use crate::engine::Engine;
use webhook::WebhookState;

/// The routes of `server.listen`: webhooks and `/healthz`, plus `/readyz` and `/metrics`
/// unless `server.admin_listen` is set.
pub(crate) fn router(inner: Arc<Engine>) -> Router {
    let state = WebhookState {
        permits: Arc::new(Semaphore::new(inner.config.server.max_in_flight.max(1))),
        engine: inner.clone(),
    };
    let webhooks = Router::new()
        .route("/webhooks/{channel}", any(webhook::webhook))
        .layer(DefaultBodyLimit::max(inner.config.server.max_body_bytes))
        .with_state(state);
    let health = Router::new().route("/healthz", get(|| async { "ok" }));
    let mut router = webhooks.merge(health);
    if inner.installations.is_some() {
        router = router.merge(oauth::routes(inner.clone()));
    }
    #[cfg(feature = "webchat")]
    {
        router = router.merge(webchat::routes(inner.clone()));
    }
    for plugin in &inner.plugins {
        if let Some(routes) = plugin.routes(crate::plugin::handle(&inner)) {
            router = router.merge(routes);
        }
    }
    let router = if inner.config.server.admin_listen.is_some() {
        router
    } else {
        router.merge(admin_routes(inner))
    };
    router.layer(axum::middleware::map_response(close_after_refusal))
}

/// A refused request (4xx or 5xx) gets `Connection: close`: its body may be unread (a wrong
/// origin, a missing signature and an oversized body are refused before it is read), and
/// hyper closes such a connection only after the response is written, so a client that
/// reused it for its next request would see the connection drop instead of an answer. An
/// attacker's connection is closed too rather than kept for its next attempt.
async fn close_after_refusal(mut response: Response) -> Response {
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// `/readyz` and `/metrics`.
fn admin_routes(inner: Arc<Engine>) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(inner)
}

/// The admin listener's routes: `/readyz`, `/metrics` and `/healthz`, and the plugins' admin
/// routes (the gateway's API with `api_on = "admin_listen"`).
pub(crate) fn admin_router(inner: Arc<Engine>) -> Router {
    let mut router = admin_routes(inner.clone()).route("/healthz", get(|| async { "ok" }));
    for plugin in &inner.plugins {
        if let Some(routes) = plugin.admin_routes(crate::plugin::handle(&inner)) {
            router = router.merge(routes);
        }
    }
    router
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
