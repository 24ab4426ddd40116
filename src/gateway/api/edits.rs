//! `PATCH` and `DELETE /v1/messages/{id}`: an edit or a deletion of a sent message, where the
//! channel can (its capabilities' `edit` and `delete`; otherwise `422` naming the capability).
//! Each is written to the outbox like a send (`crate::sender::ops` has the keys), into the
//! message's conversation, so it survives a crash and happens after the send. `GET` reports
//! the latest edit (`edit`) and the deletion (`delete`); a message deleted is `deleted`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{ConversationRef, ErrorKind, OutboundMessage};

use super::messages::{describe, lookup, message_id};
use super::problem::Problem;
use super::{ApiState, Caller, json_body};
use crate::sender::ops::{delete_key, delete_placeholder, edit_key};
use crate::store::{NewOutbound, OutboxState, OutboxStatus};

/// The most edits of one message.
const MAX_EDITS: u32 = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditBody {
    message: OutboundMessage,
}

/// `queued`, `done` or `failed`.
fn op_status(s: &OutboxStatus) -> serde_json::Value {
    let mut v = json!({"status": match s.state {
        OutboxState::Pending => "queued",
        OutboxState::Sent => "done",
        _ => "failed",
    }});
    if let Some(e) = &s.error
        && s.state != OutboxState::Sent
    {
        v["error"] = json!(e);
    }
    v
}

/// The edits of `key` so far: how many, and the last one's status.
async fn edits(
    api: &ApiState,
    channel: &str,
    key: &str,
) -> Result<(u32, Option<OutboxStatus>), Problem> {
    let mut last = None;
    for n in 1..=MAX_EDITS {
        match api
            .engine
            .store
            .outbox_status(&edit_key(channel, n, key))
            .await?
        {
            Some(s) => last = Some(s),
            None => return Ok((n - 1, last)),
        }
    }
    Ok((MAX_EDITS, last))
}

/// The message's description (as [`describe`]) with its latest edit and its deletion.
pub(crate) async fn describe_all(
    api: &ApiState,
    channel: &str,
    key: &str,
    status: &OutboxStatus,
) -> Result<serde_json::Value, Problem> {
    let mut v = describe(&message_id(key), channel, status);
    if let (n, Some(last)) = edits(api, channel, key).await? {
        v["edit"] = op_status(&last);
        v["edit"]["edits"] = json!(n);
    }
    if let Some(d) = api
        .engine
        .store
        .outbox_status(&delete_key(channel, key))
        .await?
    {
        if d.state == OutboxState::Sent {
            v["status"] = json!("deleted");
        }
        v["delete"] = op_status(&d);
    }
    Ok(v)
}

/// The message `id` the caller may change with `capability`: its outbox key, channel, status
/// and conversation.
async fn target(
    api: &ApiState,
    caller: &Caller,
    id: &str,
    capability: &str,
) -> Result<(String, String, OutboxStatus, ConversationRef), Problem> {
    let missing = || Problem::not_found(format!("no message '{id}'"));
    let (key, channel, status) = lookup(api, caller, id).await?;
    let to = status.to.clone().ok_or_else(missing)?;
    let entry = api.engine.channels.get(&channel).ok_or_else(missing)?;
    let caps = entry.adapter.capabilities_for(&to.conversation);
    let able = match capability {
        "edit" => caps.edit,
        _ => caps.delete,
    };
    if !able {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Unsupported.as_str(),
            format!(
                "channel '{channel}' cannot {capability} sent messages (its capability '{capability}' is false)"
            ),
        ));
    }
    if status.state == OutboxState::Dead {
        return Err(Problem::conflict(format!(
            "message '{id}' was never sent (failed); there is nothing to {capability}"
        )));
    }
    // Deleting again is the same deletion (idempotent); editing a deleted message is not.
    if capability == "edit"
        && let Some(d) = api
            .engine
            .store
            .outbox_status(&delete_key(&channel, &key))
            .await?
        && d.state != OutboxState::Dead
    {
        return Err(Problem::conflict(format!(
            "message '{id}' is deleted; there is nothing to {capability}"
        )));
    }
    Ok((key, channel, status, to))
}

/// Writes one operation row and wakes the sender; `false` when the key was taken by another
/// row (a concurrent edit took the number).
async fn enqueue(api: &ApiState, row: NewOutbound) -> Result<bool, Problem> {
    match api.engine.store.enqueue_outbound(&[row]).await {
        Ok(_) => {
            api.engine.outbox_ready.notify_one();
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::InvalidMessage => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn edit(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<EditBody>, JsonRejection>,
) -> Result<impl IntoResponse, Problem> {
    let body = json_body(body)?;
    let (key, channel, status, to) = target(&api, &caller, &id, "edit").await?;
    body.message
        .validate()
        .map_err(|e| Problem::invalid(e.message().to_owned()))?;
    loop {
        let (n, _) = edits(&api, &channel, &key).await?;
        if n >= MAX_EDITS {
            return Err(Problem::conflict(format!(
                "message '{id}' was edited {MAX_EDITS} times, the most"
            )));
        }
        let op = edit_key(&channel, n + 1, &key);
        let mut message = body.message.clone();
        message.idempotency_key = Some(op.clone());
        if enqueue(&api, NewOutbound::new(op, to.clone(), message)).await? {
            break;
        }
    }
    let value = describe_all(&api, &channel, &key, &status).await?;
    Ok((StatusCode::ACCEPTED, Json(value)))
}

pub(crate) async fn delete(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    let (key, channel, status, to) = target(&api, &caller, &id, "delete").await?;
    let op = delete_key(&channel, &key);
    let mut message = delete_placeholder()?;
    message.idempotency_key = Some(op.clone());
    enqueue(&api, NewOutbound::new(op, to, message)).await?;
    let value = describe_all(&api, &channel, &key, &status).await?;
    Ok((StatusCode::ACCEPTED, Json(value)))
}
