//! The REST API (`/v1/…`, Bearer keys of `[gateway] api_keys`), served on `server.listen`, or
//! on `server.admin_listen` with `[gateway] api_on = "admin_listen"`:
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/messages` | `{"channel", "conversation", "thread"?, "message"}` → 202 `{"id", "status"}`; with `Idempotency-Key` the same key and body give the same result, the same key with another body 409 |
//! | `GET /v1/messages/{id}` | `queued`, `sent`, `delivered`, `read`, `failed` (with the error) or `deleted`; the latest edit and the deletion |
//! | `PATCH /v1/messages/{id}` | `{"message"}`: replaces a sent message's content where the channel can edit → 202 |
//! | `DELETE /v1/messages/{id}` | deletes a sent message where the channel can delete → 202 |
//! | `GET /v1/channels` | the channels the key may use, with their capabilities |
//! | `GET`, `PUT /v1/conversations/{channel}/{id}/state` | `{"state": …}`: the conversation's application state |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document (no key needed) |
//!
//! Keys are compared as SHA-256 digests in constant time (every configured key is compared, so
//! the time does not tell which one matched); a key scoped to channels gets `403` for others
//! (and `404` for their messages). Errors are RFC 9457 problem details.
//! `Idempotency-Key` maps onto the outbox key (`{channel}/app/{Idempotency-Key}`), so the
//! outbox's own rule makes it exact: a repeat after a crash, a timeout or a SIGKILL finds the
//! row and sends nothing again. Keys are per channel.

mod edits;
mod messages;

pub(crate) use messages::message_id;
pub(crate) mod problem;
mod resources;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Shared;
use super::config::ApiKey;
use crate::engine::Engine;
use problem::Problem;

/// Every route of the API, as (method, path) in OpenAPI's notation: the OpenAPI document is
/// checked against it, and the API's test calls each on the router.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const ROUTES: [(&str, &str); 8] = [
    ("post", "/v1/messages"),
    ("get", "/v1/messages/{id}"),
    ("patch", "/v1/messages/{id}"),
    ("delete", "/v1/messages/{id}"),
    ("get", "/v1/channels"),
    ("get", "/v1/conversations/{channel}/{id}/state"),
    ("put", "/v1/conversations/{channel}/{id}/state"),
    ("get", "/v1/openapi.json"),
];

/// The OpenAPI 3.1 document, served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The largest request body the API reads.
const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) shared: Arc<Shared>,
}

/// The caller's key.
pub(crate) struct Caller(pub(crate) ApiKey);

impl Caller {
    /// `Ok` when the key may use `channel`.
    pub(crate) fn may_use(&self, channel: &str) -> Result<(), Problem> {
        if self.0.allows(channel) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this API key may not use channel '{channel}'"
            )))
        }
    }
}

/// The key presented in `Authorization: Bearer …`, compared with every configured one.
fn authenticate(headers: &HeaderMap, keys: &[ApiKey]) -> Result<ApiKey, Problem> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <api key>"))?;
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Problem::unauthorized("the Authorization header must be: Bearer <api key>")
        })?;
    let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    let mut found: Option<&ApiKey> = None;
    for key in keys {
        if bool::from(key.sha256.ct_eq(&digest)) {
            found = Some(key);
        }
    }
    found
        .cloned()
        .ok_or_else(|| Problem::unauthorized("the API key is not valid"))
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        authenticate(&parts.headers, &state.shared.config.api_keys).map(Caller)
    }
}

/// The API's routes.
pub(crate) fn routes(engine: Arc<Engine>, shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/messages", axum::routing::post(messages::send))
        .route(
            "/v1/messages/{id}",
            get(messages::status)
                .patch(edits::edit)
                .delete(edits::delete),
        )
        .route("/v1/channels", get(resources::channels))
        .route(
            "/v1/conversations/{channel}/{id}/state",
            get(resources::get_state).put(resources::put_state),
        )
        .route(
            "/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(ApiState { engine, shared })
}

/// A JSON body, or the problem with it.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, Problem> {
    body.map(|axum::Json(v)| v)
        .map_err(|e| Problem::new(e.status(), "invalid_message", e.body_text()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value =
            serde_json::from_str(OPENAPI).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"]
            .as_object()
            .unwrap_or_else(|| panic!("no paths"))
        {
            for method in item.as_object().unwrap_or_else(|| panic!("{path}")).keys() {
                if ["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let real: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, real);
    }

    #[test]
    fn keys_are_matched_by_digest() {
        let keys = vec![
            ApiKey::new("k-0123456789abcdef", None).unwrap_or_else(|e| panic!("{e}")),
            ApiKey::new("k-fedcba9876543210", None).unwrap_or_else(|e| panic!("{e}")),
        ];
        let mut h = HeaderMap::new();
        assert!(authenticate(&h, &keys).is_err());
        h.insert(
            header::AUTHORIZATION,
            "Bearer k-fedcba9876543210"
                .parse()
                .unwrap_or_else(|_| panic!()),
        );
        assert_eq!(
            authenticate(&h, &keys).map(|k| k.sha256).ok(),
            Some(keys[1].sha256)
        );
        h.insert(
            header::AUTHORIZATION,
            "Bearer k-nope-nope-nope-nope"
                .parse()
                .unwrap_or_else(|_| panic!()),
        );
        assert!(authenticate(&h, &keys).is_err());
        h.insert(
            header::AUTHORIZATION,
            "Basic abc".parse().unwrap_or_else(|_| panic!()),
        );
        assert!(authenticate(&h, &keys).is_err());
    }
}
