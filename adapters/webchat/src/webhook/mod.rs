//! The inbound entry: origin, version, route, token, body checks, then dispatch to the
//! endpoint (`POST sessions`, `messages`, `typing`, `read`; `OPTIONS` preflights).
//!
//! Pure and synchronous like every adapter's webhook handling: nothing here stores or waits.
//! The endpoints that need the durable log (`GET events`, `GET messages`, uploads) are served
//! by the engine's web chat module, which authenticates with [`Endpoint::authorize`].

use std::net::IpAddr;
use std::time::SystemTime;

use http::header;
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use switchboard_core::{ChannelName, WebhookRequest};

use crate::config::WebchatConfig;
use crate::error::{Reason, WebchatError};
use crate::limit::Limits;
use crate::origin;
use crate::reply::{Handled, Reply};
use crate::session::SessionIssuer;
use crate::token::{SessionClaims, TokenKey, verify_session};
use crate::wire::{PROTOCOL_HEADER, SessionRequest};

pub(crate) mod message;
#[cfg(test)]
mod tests;

/// Bytes a JSON body may have beyond `max_message_bytes` (field names, ids, references).
pub const BODY_OVERHEAD_BYTES: usize = 16 * 1024;

/// One channel's view of its endpoints.
pub(crate) struct Endpoint<'a> {
    pub(crate) channel: &'a ChannelName,
    pub(crate) config: &'a WebchatConfig,
    pub(crate) key: &'a TokenKey,
    pub(crate) limits: &'a Limits,
    /// The client's address, when the server knows it (the per-IP cap on new sessions).
    pub(crate) peer: Option<IpAddr>,
}

/// Where a request goes: the path after `/webchat/{channel}/`, and the URL up to it.
pub(crate) struct Route {
    /// `https://chat.example/webchat/site/`: the base of upload URLs.
    pub(crate) base: String,
    /// `messages`, `sessions`, `uploads/…`.
    pub(crate) endpoint: String,
}

impl Endpoint<'_> {
    /// Answers one request.
    pub(crate) fn handle(&self, request: &WebhookRequest) -> Handled {
        match self.dispatch(request) {
            Ok(handled) => handled,
            Err(e) => {
                let mut h = Handled::refused(e);
                self.finish(request, &mut h);
                h
            }
        }
    }

    fn dispatch(&self, request: &WebhookRequest) -> Result<Handled, WebchatError> {
        origin::check(self.config, &request.headers)?;
        if let Some(v) = request.header(PROTOCOL_HEADER)
            && v.trim() != "1"
        {
            return Err(WebchatError::new(
                Reason::UnsupportedVersion,
                "this server speaks version 1",
            ));
        }
        let route = self.route(&request.url)?;
        let mut handled = match (&request.method, route.endpoint.as_str()) {
            (&Method::OPTIONS, _) => {
                let mut r = Reply::empty(StatusCode::NO_CONTENT);
                origin::preflight(&mut r.headers);
                Handled::reply(r)
            }
            (&Method::POST, "sessions") => {
                let body: SessionRequest = self.json(request)?;
                if let Some(ip) = self.peer {
                    self.limits.session(ip, request.received_at)?;
                }
                let issuer = SessionIssuer {
                    channel: self.channel.as_str(),
                    config: self.config,
                    key: self.key,
                };
                let session = issuer.open(&body, request.received_at)?;
                Handled::reply(Reply::json(StatusCode::OK, &session))
            }
            (&Method::POST, "messages") => {
                let claims = self.authorize(request)?;
                self.limits
                    .visitor(&claims.conversation, request.received_at)?;
                let body = self.json(request)?;
                self.message(&claims, body, &route, request)?
            }
            (&Method::POST, "typing") => {
                let claims = self.authorize(request)?;
                self.limits
                    .visitor(&claims.conversation, request.received_at)?;
                let body = self.json(request)?;
                self.typing(&claims, body, request.received_at)?
            }
            (&Method::POST, "read") => {
                let claims = self.authorize(request)?;
                self.limits
                    .visitor(&claims.conversation, request.received_at)?;
                let body = self.json(request)?;
                self.read(&claims, body, request.received_at)?
            }
            (_, "sessions" | "typing" | "read") => {
                return Err(WebchatError::new(
                    Reason::MethodNotAllowed,
                    "this path takes POST",
                ));
            }
            _ => {
                return Err(WebchatError::new(Reason::NotFound, "no such endpoint here"));
            }
        };
        self.finish(request, &mut handled);
        Ok(handled)
    }

    /// Adds the CORS headers for an allowed origin.
    fn finish(&self, request: &WebhookRequest, handled: &mut Handled) {
        if let Ok(Some(o)) = origin::check(self.config, &request.headers) {
            origin::cors(&mut handled.reply.headers, &o);
        }
    }

    /// The origin check and the session of a request: the bearer token (or `?token=` on a
    /// `GET`), verified for this channel at the request's receive time.
    pub(crate) fn authorize(
        &self,
        request: &WebhookRequest,
    ) -> Result<SessionClaims, WebchatError> {
        origin::check(self.config, &request.headers)?;
        let from_header = request
            .header(header::AUTHORIZATION.as_str())
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, t)| t.trim().to_owned())
            });
        let token = match from_header {
            Some(t) => Some(t),
            None if request.method == Method::GET => request.query_param("token"),
            None => None,
        };
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(WebchatError::new(
                Reason::MissingToken,
                "send the session token as 'Authorization: Bearer'",
            ));
        };
        verify_session(self.key, self.channel.as_str(), &token, request.received_at)
    }

    /// The path after `/webchat/{this channel}/`.
    pub(crate) fn route(&self, url: &str) -> Result<Route, WebchatError> {
        let not_found = || WebchatError::new(Reason::NotFound, "no such endpoint here");
        let path_start = url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(0);
        let path_end = url.find(['?', '#']).unwrap_or(url.len()).max(path_start);
        let marker = format!("/webchat/{}/", self.channel);
        let at = url[path_start..path_end]
            .find(&marker)
            .map(|i| path_start + i)
            .ok_or_else(not_found)?;
        let base_end = at + marker.len();
        Ok(Route {
            base: url[..base_end].to_owned(),
            endpoint: url[base_end..path_end].trim_end_matches('/').to_owned(),
        })
    }

    /// The body as JSON of type `T`: `415` without a JSON content type, `413` over the body
    /// limit, `400 malformed_json` when it does not parse. An empty body reads as `{}`.
    fn json<T: DeserializeOwned>(&self, request: &WebhookRequest) -> Result<T, WebchatError> {
        let is_json = request
            .header(header::CONTENT_TYPE.as_str())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json && !request.body.is_empty() {
            return Err(WebchatError::new(
                Reason::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
        if request.body.len() > self.config.max_message_bytes + BODY_OVERHEAD_BYTES {
            return Err(WebchatError::new(
                Reason::MessageTooLarge,
                "the body is too large",
            ));
        }
        let body: &[u8] = if request.body.is_empty() {
            b"{}"
        } else {
            &request.body
        };
        serde_json::from_slice(body).map_err(|e| {
            WebchatError::new(
                Reason::MalformedJson,
                format!(
                    "the body is not valid JSON of this endpoint ({})",
                    e.classify_name()
                ),
            )
        })
    }
}

/// A short name of a JSON error's class, without echoing the body back.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// Unix ms of a receive time.
pub(crate) fn millis(at: SystemTime) -> i64 {
    switchboard_core::model::time::to_millis(at)
}
