//! `GET /v1/channels` and `GET`/`PUT /v1/conversations/{channel}/{id}/state`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::json;
use switchboard_core::ConversationRef;

use super::problem::Problem;
use super::{ApiState, Caller, json_body};
use crate::store::conversation_key;

pub(crate) async fn channels(
    State(api): State<ApiState>,
    caller: Caller,
) -> Json<serde_json::Value> {
    let mut names: Vec<&String> = api
        .engine
        .channels
        .keys()
        .filter(|n| caller.0.allows(n))
        .collect();
    names.sort();
    let list: Vec<serde_json::Value> = names
        .into_iter()
        .filter_map(|n| {
            let info = api.engine.channels.get(n)?.adapter.info();
            Some(json!({
                "name": n,
                "provider": info.provider,
                "capabilities": info.capabilities,
            }))
        })
        .collect();
    Json(json!({ "channels": list }))
}

/// The conversation key of `channel`/`id`, checked.
fn conversation(
    api: &ApiState,
    caller: &Caller,
    channel: &str,
    id: &str,
) -> Result<String, Problem> {
    if !api.engine.channels.contains_key(channel) {
        return Err(Problem::not_found(format!("no channel '{channel}'")));
    }
    caller.may_use(channel)?;
    let to = ConversationRef::parse(channel, id)
        .map_err(|e| Problem::invalid(format!("conversation: {}", e.message())))?;
    Ok(conversation_key(&to))
}

pub(crate) async fn get_state(
    State(api): State<ApiState>,
    caller: Caller,
    Path((channel, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, Problem> {
    let key = conversation(&api, &caller, &channel, &id)?;
    let state = api.engine.store.get_state(&key).await?;
    Ok(Json(json!({ "state": state })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateBody {
    state: serde_json::Value,
}

pub(crate) async fn put_state(
    State(api): State<ApiState>,
    caller: Caller,
    Path((channel, id)): Path<(String, String)>,
    body: Result<Json<StateBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, Problem> {
    let key = conversation(&api, &caller, &channel, &id)?;
    let body = json_body(body)?;
    let value = (!body.state.is_null()).then_some(body.state);
    api.engine.store.set_state(&key, value.clone()).await?;
    Ok(Json(json!({ "state": value })))
}
