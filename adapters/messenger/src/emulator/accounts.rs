//! `GET /{version}/me/accounts` with a *user* access token: the Pages that person manages, each
//! with its Page access token (what Facebook Login for Business hands an app; see
//! [`managed_pages`](crate::managed_pages)). The emulated user manages every Page of the
//! emulator. A Page token is refused as Graph refuses it (a Page node has no `accounts` edge),
//! any other token is error 190, and `appsecret_proof` is required as for every call.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use switchboard_core::emulator::Connection;

use super::call::{Request, finish, query_map};
use super::server::Shared;
use super::validate::GraphErr;
use crate::signature::{appsecret_proof, verify_token_matches};

/// What a Page's `tasks` are for a person with full control of it.
const TASKS: [&str; 6] = [
    "ANALYZE",
    "ADVERTISE",
    "MESSAGING",
    "MODERATE",
    "CREATE_CONTENT",
    "MANAGE",
];

pub(crate) async fn me_accounts(
    AxState(shared): AxState<Arc<Shared>>,
    ConnectInfo(_conn): ConnectInfo<Connection>,
    Path(version): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_map(q.as_deref());
    let token = query.get("access_token").cloned();
    let answer = answer(&shared, &query).map_err(|e| (e, None));
    let request = Request {
        method: "GET",
        path: format!("/{version}/me/accounts"),
        node: "me",
        query,
        headers: &headers,
        logged: Value::Null,
    };
    finish(&shared, request, answer, token, None)
}

fn answer(
    shared: &Shared,
    query: &std::collections::BTreeMap<String, String>,
) -> Result<Value, GraphErr> {
    let o = &shared.options;
    let Some(token) = query.get("access_token") else {
        return Err(GraphErr::new(
            104,
            None,
            "An access token is required to request this resource.",
        ));
    };
    let pages = o.pages();
    if pages
        .iter()
        .any(|p| verify_token_matches(&p.access_token, token))
    {
        return Err(GraphErr::param(
            "Tried accessing nonexisting field (accounts) on node type (Page)",
        ));
    }
    if !verify_token_matches(&o.user_access_token, token) {
        return Err(GraphErr::new(
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        ));
    }
    if o.require_appsecret_proof {
        let expected = appsecret_proof(&o.app_secret, token);
        match query.get("appsecret_proof") {
            Some(p) if verify_token_matches(&expected, p) => {}
            Some(_) => {
                return Err(GraphErr::param(
                    "Invalid appsecret_proof provided in the API argument",
                ));
            }
            None => {
                return Err(GraphErr::param(
                    "API calls from the server require an appsecret_proof argument",
                ));
            }
        }
    }
    let data: Vec<Value> = pages
        .iter()
        .map(|p| {
            json!({
                "access_token": p.access_token,
                "category": "Shopping & retail",
                "category_list": [{ "id": "200600219953504", "name": "Shopping & retail" }],
                "name": p.name,
                "id": p.id,
                "tasks": TASKS,
            })
        })
        .collect();
    Ok(
        json!({ "data": data, "paging": { "cursors": { "before": "QVFIUmVtdWxhdG9y", "after": "QVFIUmVtdWxhdG9y" } } }),
    )
}
