//! The HTTP side of the emulator: `POST /api/{method}`, `POST /upload/v1/{file_id}` (the upload
//! URLs it hands out) and `GET /files/{file_id}/{name}` (private file downloads).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use switchboard_core::emulator::{Connection, set_retry_after};

use super::Inner;
use super::handlers::{self, Reply};
use super::methods::{self, check_args};
use super::state::{Call, Fault};

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/api/{method}", post(api))
        .route("/upload/v1/{id}", post(upload))
        .route("/files/{id}/{name}", get(download))
        .with_state(inner)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
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
    let authorized = token.as_deref() == Some(inner.options.bot_token.as_str());
    let mut call = Call {
        method: method.clone(),
        args: args.clone(),
        content_type: content_type.clone(),
        authorized,
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
        if token.is_none() {
            return Reply::error("not_authed");
        }
        if !authorized {
            return Reply::error("invalid_auth");
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
        handlers::run(&mut state, &inner.identity, &inner.base_url, &method, &args)
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
    if bearer(&headers).as_deref() != Some(inner.options.bot_token.as_str()) {
        return (StatusCode::FORBIDDEN, "not authorized").into_response();
    }
    let state = inner.lock();
    match state
        .files
        .iter()
        .find(|f| f.id == id)
        .and_then(|f| f.bytes.clone())
    {
        Some(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "file not found").into_response(),
    }
}
