//! `POST /v1/messages` and `GET /v1/messages/{id}` (edits and deletes: [`super::edits`]).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{ConversationRef, ErrorKind, OutboundMessage, ThreadId};

use super::problem::Problem;
use super::{ApiState, Caller, json_body};
use crate::store::{OutboxState, OutboxStatus};

/// The longest `Idempotency-Key`.
const MAX_KEY: usize = 255;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendBody {
    channel: String,
    conversation: String,
    #[serde(default)]
    thread: Option<String>,
    message: OutboundMessage,
}

/// The API's id of an outbox key.
pub(crate) fn message_id(key: &str) -> String {
    format!("msg_{}", URL_SAFE_NO_PAD.encode(key))
}

pub(crate) fn outbox_key(id: &str) -> Option<String> {
    let b64 = id.strip_prefix("msg_")?;
    String::from_utf8(URL_SAFE_NO_PAD.decode(b64).ok()?).ok()
}

/// `queued`, `sent`, `delivered`, `read` or `failed`.
fn status_name(s: &OutboxStatus) -> String {
    match s.state {
        OutboxState::Pending => "queued".to_owned(),
        OutboxState::Dead => "failed".to_owned(),
        _ => match s.delivery {
            Some(d) => serde_json::to_value(d)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "sent".to_owned()),
            None => "sent".to_owned(),
        },
    }
}

pub(crate) fn describe(id: &str, channel: &str, s: &OutboxStatus) -> serde_json::Value {
    let mut v = json!({
        "id": id,
        "channel": channel,
        "status": status_name(s),
        "attempts": s.attempts,
        "provider_message_ids": s.message_ids.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
    });
    if let Some(e) = &s.error
        && (s.state == OutboxState::Dead || s.state == OutboxState::Pending)
    {
        v["error"] = json!(e);
    }
    v
}

pub(crate) async fn send(
    State(api): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<SendBody>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let body = json_body(body)?;
    if !api.engine.channels.contains_key(&body.channel) {
        return Err(Problem::not_found(format!("no channel '{}'", body.channel)));
    }
    caller.may_use(&body.channel)?;
    let mut to = ConversationRef::parse(&body.channel, &body.conversation)
        .map_err(|e| Problem::invalid(format!("conversation: {}", e.message())))?;
    if let Some(t) = &body.thread {
        to = to.in_thread(
            ThreadId::new(t).map_err(|e| Problem::invalid(format!("thread: {}", e.message())))?,
        );
    }
    let mut message = body.message;
    let key = match headers.get("idempotency-key") {
        Some(v) => {
            let k = v
                .to_str()
                .ok()
                .filter(|k| {
                    !k.is_empty() && k.len() <= MAX_KEY && k.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_message",
                        format!("Idempotency-Key: 1 to {MAX_KEY} visible ASCII characters"),
                    )
                })?;
            Some(k.to_owned())
        }
        None => None,
    };
    if key.is_some() {
        message.idempotency_key = key.clone();
    }
    message
        .validate()
        .map_err(|e| Problem::invalid(e.message().to_owned()))?;
    let outbox_key = match crate::outbox::enqueue(&api.engine, to, message).await {
        Ok(k) => k,
        Err(e) if e.kind() == ErrorKind::InvalidMessage && key.is_some() => {
            return Err(Problem::conflict(format!(
                "Idempotency-Key {:?} was used with another request on channel '{}'",
                key.unwrap_or_default(),
                body.channel
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let id = message_id(&outbox_key);
    let status = api.engine.store.outbox_status(&outbox_key).await?;
    let value = match &status {
        Some(s) => describe(&id, &body.channel, s),
        None => json!({"id": id, "channel": body.channel, "status": "queued"}),
    };
    Ok((StatusCode::ACCEPTED, Json(value)))
}

/// The message `id` as the caller may see it: its outbox key, channel and status. Another
/// channel's message is as unknown as a missing one; so is an edit's or deletion's own row.
pub(crate) async fn lookup(
    api: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<(String, String, OutboxStatus), Problem> {
    let missing = || Problem::not_found(format!("no message '{id}'"));
    let key = outbox_key(id).ok_or_else(missing)?;
    let channel = key.split(['/', ':']).next().unwrap_or_default().to_owned();
    if !caller.0.allows(&channel) || crate::sender::ops::op_of(&channel, &key).is_some() {
        return Err(missing());
    }
    let status = api
        .engine
        .store
        .outbox_status(&key)
        .await?
        .ok_or_else(missing)?;
    Ok((key, channel, status))
}

pub(crate) async fn status(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    let (key, channel, status) = lookup(&api, &caller, &id).await?;
    Ok(Json(
        super::edits::describe_all(&api, &channel, &key, &status).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let id = message_id("sms/app/order-42");
        assert!(id.starts_with("msg_") && !id.contains('/'));
        assert_eq!(outbox_key(&id).as_deref(), Some("sms/app/order-42"));
        assert_eq!(outbox_key("nope"), None);
    }
}
