//! The HTTP side of the emulator: `POST /api/{method}`, `POST /upload/v1/{file_id}` (the upload
//! URLs it hands out) and `GET /files/{file_id}/{name}` (private file downloads).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use std::time::SystemTime;

use axum::extract::{ConnectInfo, Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use switchboard_core::emulator::{Connection, set_retry_after};

use super::Inner;
use super::handlers::{self, Reply};
use super::methods::{self, check_args};
use super::oauth::TokenCheck;
use super::state::{Call, Fault};

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/api/{method}", post(api))
        .route("/upload/v1/{id}", post(upload))
        .route("/files/{id}/{name}", get(download))
        .route("/oauth/v2/authorize", get(authorize))
        .with_state(inner)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// The workspace a token belongs to (the emulator's own bot token is its default workspace's),
/// or the Slack error code that refuses it.
fn workspace_of(inner: &Inner, token: Option<&str>) -> Result<String, &'static str> {
    match token {
        Some(t) if t == inner.options.bot_token => Ok(inner.options.team_id.clone()),
        Some(t) => match inner.oauth().check(t, SystemTime::now()) {
            TokenCheck::Valid(team) => Ok(team),
            TokenCheck::Refused(code) => Err(code),
            TokenCheck::Unknown => Err("invalid_auth"),
        },
        None => Err("not_authed"),
    }
}

/// Decodes the arguments; `Err` is the Slack error for an unreadable body.
fn parse_args(
    content_type: &str,
    json_ok: bool,
    body: &[u8],
) -> Result<Map<String, Value>, &'static str> {
    if content_type.starts_with("application/json") {
        if !json_ok {
            // Slack reads these methods' arguments from the form only.
            return Ok(Map::new());
        }
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err("json_not_object"),
            Err(_) => Err("invalid_json"),
        };
    }
    if content_type.starts_with("application/x-www-form-urlencoded") || content_type.is_empty() {
        return Ok(url::form_urlencoded::parse(body)
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect());
    }
    Err("invalid_form_data")
}

fn respond(reply: &Reply) -> Response {
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        reply.body.to_string(),
    )
        .into_response();
    if let Some(secs) = reply.retry_after {
        set_retry_after(&mut resp, secs);
    }
    resp
}

async fn api(
    AxumState(inner): AxumState<Arc<Inner>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let spec = methods::methods().get(&method);
    let parsed = parse_args(&content_type, spec.is_none_or(|s| s.json), &body);
    let mut args = parsed.clone().unwrap_or_default();
    let token = bearer(&headers).or_else(|| methods::str_arg(&args, "token"));
    if method == "oauth.v2.access" {
        return oauth_access(&inner, args, content_type).await;
    }
    let (team, refused) = match workspace_of(&inner, token.as_deref()) {
        Ok(team) => (Some(team), None),
        Err(code) => (None, Some(code)),
    };
    let authorized = team.is_some();
    let mut call = Call {
        method: method.clone(),
        args: args.clone(),
        content_type: content_type.clone(),
        authorized,
        team,
        status: 0,
        response: None,
    };
    let half = inner.options.latency / 2;
    if !half.is_zero() {
        tokio::time::sleep(half).await;
    }
    let fault = inner.lock().faults.pop_front();
    let lose_answer = fault == Some(Fault::LostAnswer);
    let reply = match fault {
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(Fault::Drop) => {
            conn.lose_answer();
            inner.lock().calls.push(call);
            return (StatusCode::OK, "dropped").into_response();
        }
        Some(Fault::Status(code)) => {
            call.status = code;
            inner.lock().calls.push(call);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return (status, "upstream service unavailable").into_response();
        }
        Some(Fault::SlackError(code)) => Some(Reply::error(&code)),
        Some(Fault::RateLimited { retry_after }) => {
            Some(Reply::rate_limited(retry_after.as_secs_f64().ceil() as u64))
        }
        Some(Fault::LostAnswer) | None => None,
    };
    let reply = reply.unwrap_or_else(|| {
        if let Some(code) = refused {
            return Reply::error(code);
        }
        let Some(spec) = spec else {
            return Reply::error("unknown_method");
        };
        if let Err(code) = parsed {
            return Reply::error(code);
        }
        args.remove("token");
        if let Err(e) = check_args(spec, &args) {
            let mut r = Reply::error(e.code);
            r.body["response_metadata"] = json!({"messages": [e.message]});
            return r;
        }
        let mut state = inner.lock();
        let reply = handlers::run(&mut state, &inner.identity, &inner.base_url, &method, &args);
        // A file belongs to the workspace whose token asked for its upload URL.
        if let (Some(id), Some(team)) = (reply.body["file_id"].as_str(), call.team.as_deref())
            && let Some(f) = state.files.iter_mut().find(|f| f.id == id)
        {
            f.team = team.to_owned();
        }
        reply
    });
    if !half.is_zero() {
        tokio::time::sleep(half).await;
    }
    if lose_answer {
        // The call took effect; its answer is never written (status 0: dropped).
        conn.lose_answer();
        inner.lock().calls.push(call);
        return respond(&reply);
    }
    call.status = reply.status;
    call.response = Some(reply.body.clone());
    inner.lock().calls.push(call);
    respond(&reply)
}

/// `oauth.v2.access`: the client's credentials in the form (or HTTP Basic, not emulated).
async fn oauth_access(inner: &Inner, args: Map<String, Value>, content_type: String) -> Response {
    let o = &inner.options;
    let reply = inner.oauth().access(
        &args,
        (&o.client_id, &o.client_secret),
        &o.scopes,
        &o.app_id,
        o.token_lifetime,
        SystemTime::now(),
    );
    let mut logged = args;
    for secret in ["client_secret", "code", "refresh_token"] {
        if logged.contains_key(secret) {
            logged.insert(secret.into(), json!("***"));
        }
    }
    inner.lock().calls.push(Call {
        method: "oauth.v2.access".to_owned(),
        args: logged,
        content_type,
        authorized: reply.status == 200 && reply.body["ok"] == json!(true),
        team: reply.body["team"]["id"].as_str().map(str::to_owned),
        status: reply.status,
        response: Some(reply.body.clone()),
    });
    respond(&reply)
}

/// `GET /oauth/v2/authorize`: approved at once for the workspace `approve_as` names (302 to
/// `redirect_uri?code=…&state=…`); 400 without `client_id`, `redirect_uri` or a workspace.
async fn authorize(
    AxumState(inner): AxumState<Arc<Inner>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if q.get("client_id") != Some(&inner.options.client_id) {
        return (StatusCode::BAD_REQUEST, "invalid_client_id").into_response();
    }
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, "missing redirect_uri or state").into_response();
    };
    let mut oauth = inner.oauth();
    let Some(ws) = oauth.approve_as.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            "no workspace approves (approve_as)",
        )
            .into_response();
    };
    let code = oauth.issue_code(ws);
    let Ok(mut url) = url::Url::parse(redirect) else {
        return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response();
    };
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

async fn upload(
    AxumState(inner): AxumState<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut state = inner.lock();
    match state.files.iter_mut().find(|f| f.id == id) {
        Some(f) => {
            let len = body.len();
            f.bytes = Some(body);
            (StatusCode::OK, format!("OK - {len}")).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such upload").into_response(),
    }
}

async fn download(
    AxumState(inner): AxumState<Arc<Inner>>,
    Path((id, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    // Like Slack: a token of the file's own workspace, or 403.
    let Ok(team) = workspace_of(&inner, bearer(&headers).as_deref()) else {
        return (StatusCode::FORBIDDEN, "not authorized").into_response();
    };
    let state = inner.lock();
    let Some(file) = state.files.iter().find(|f| f.id == id) else {
        return (StatusCode::NOT_FOUND, "file not found").into_response();
    };
    if file.team != team {
        return (StatusCode::FORBIDDEN, "file of another workspace").into_response();
    }
    match file.bytes.clone() {
        Some(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "file not found").into_response(),
    }
}
