//! The OAuth install routes of channels whose adapter offers an
//! [`OAuthFlow`](switchboard_core::OAuthFlow) ("Add to Slack"):
//!
//! - `GET /oauth/{provider}/{channel}/install`: 302 to the provider's authorize URL with a
//!   fresh `state` (see [`crate::install::state`]: signed, ten minutes, single use).
//! - `GET /oauth/{provider}/{channel}/callback?code=…&state=…`: checks the state (malformed or
//!   expired: 400; forged or replayed: 403), exchanges the code through the adapter (a refusal
//!   or an unreachable provider: 502), keeps the installation (tokens encrypted) and answers a
//!   small success page.
//!
//! Each answer says why in a few words; the log line names the channel, the tenant and the
//! reason, never a code, a state or a token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use switchboard_core::{Installations, OAuthFlow};

use crate::engine::Engine;
use crate::install::StoreInstallations;
use crate::install::state::{self, StateError};

/// The install routes.
pub(crate) fn routes(inner: Arc<Engine>) -> Router {
    Router::new()
        .route("/oauth/{provider}/{channel}/install", get(install))
        .route("/oauth/{provider}/{channel}/callback", get(callback))
        .with_state(inner)
}

fn answer(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{reason}\n"),
    )
        .into_response()
}

/// The installations and the OAuth flow of `channel` when its adapter serves `provider` and
/// offers one.
fn flow_of<'a>(
    inner: &'a Engine,
    provider: &str,
    channel: &str,
) -> Option<(&'a StoreInstallations, &'a dyn OAuthFlow)> {
    let entry = inner
        .channels
        .get(channel)
        .filter(|e| e.adapter.info().provider == provider);
    match (entry.and_then(|e| e.adapter.oauth()), &inner.installations) {
        (Some(flow), Some(installs)) => Some((installs.as_ref(), flow)),
        _ => None,
    }
}

async fn install(
    State(inner): State<Arc<Engine>>,
    Path((provider, channel)): Path<(String, String)>,
) -> Response {
    let Some((installs, flow)) = flow_of(&inner, &provider, &channel) else {
        return answer(
            StatusCode::NOT_FOUND,
            "no channel with an OAuth install flow here",
        );
    };
    let url = state::issue(installs.keys(), &channel, SystemTime::now())
        .and_then(|s| flow.authorize_url(&s));
    match url {
        Ok(url) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, url),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(channel, error = %e, "oauth: cannot start an install");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "install is misconfigured",
            )
        }
    }
}

async fn callback(
    State(inner): State<Arc<Engine>>,
    Path((provider, channel)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some((installs, flow)) = flow_of(&inner, &provider, &channel) else {
        return answer(
            StatusCode::NOT_FOUND,
            "no channel with an OAuth install flow here",
        );
    };
    let refuse = |e: StateError| {
        tracing::info!(channel, reason = e.reason(), "oauth: callback refused");
        let status = match e {
            StateError::Forged | StateError::Replayed => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        answer(status, e.reason())
    };
    let now = SystemTime::now();
    let checked = match state::check(
        installs.keys(),
        &channel,
        query.get("state").map_or("", String::as_str),
        now,
    ) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    // The provider's own refusal (the user cancelled): the state is good, nothing to spend.
    if let Some(error) = query.get("error") {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        tracing::info!(channel, error, "oauth: install not granted");
        return answer(
            StatusCode::BAD_REQUEST,
            &format!("install not granted: {error}"),
        );
    }
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return answer(StatusCode::BAD_REQUEST, "missing code");
    };
    match installs
        .spend_state(&checked.nonce, checked.expires_at, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return refuse(StateError::Replayed),
        Err(e) => {
            tracing::error!(channel, error = %e, "oauth: cannot record the state");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
        }
    }
    let installation = match flow.exchange(code).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(channel, error = %e, "oauth: code exchange failed");
            let why = e.provider_code().unwrap_or(e.kind().as_str()).to_owned();
            return answer(
                StatusCode::BAD_GATEWAY,
                &format!("code exchange failed: {why}"),
            );
        }
    };
    if let Err(e) = installs.put(&installation).await {
        tracing::error!(channel, tenant = %installation.tenant, error = %e, "oauth: cannot keep the installation");
        return answer(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
    }
    tracing::info!(
        channel,
        tenant = %installation.tenant,
        scopes = installation.scopes.len(),
        rotating = installation.refresh_token.is_some(),
        "oauth: installed"
    );
    let tenant = html_escape(&installation.tenant);
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Installed</title>\
         <p>Installed for <b>{tenant}</b> on channel <b>{}</b>. You can close this page.</p>\n",
        html_escape(&channel)
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
