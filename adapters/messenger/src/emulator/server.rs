//! The emulator's endpoints: `POST /{version}/{page_id|me}/messages`,
//! `POST /{version}/{page_id|me}/message_attachments` and `GET /{version}/{page_id|me}` (the
//! Page node); what every call shares (auth, faults, the log) is in `call.rs`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use switchboard_core::emulator::Connection;
use tokio::sync::Notify;

use super::EmulatorOptions;
use super::call::{Request, query_map, serve};
use super::deliver::echo_value;
use super::state::{EmulatedMessage, State, Upload};
use super::validate::{self, GraphErr};

/// Shared between the emulator handle and the server task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: EmulatorOptions,
    pub(crate) state: Mutex<State>,
    /// Wakes the webhook sender when an item is queued or the callback URL changes.
    pub(crate) outgoing: Notify,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{version}/{node}/messages", post(messages))
        .route("/{version}/{node}/message_attachments", post(attachments))
        .route("/{version}/{node}", get(node))
        .route("/{version}/me/accounts", get(super::accounts::me_accounts))
        .with_state(shared)
}

/// How long after the user's last message the `HUMAN_AGENT` tag may be used.
const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Decodes a JSON body, or form fields whose values are JSON (Meta's reference curl).
fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, GraphErr> {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let mut out = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            let value = serde_json::from_str(&v).unwrap_or(Value::String(v.into_owned()));
            out.insert(k.into_owned(), value);
        }
        return Ok(Value::Object(out));
    }
    serde_json::from_slice(body).map_err(|_| GraphErr::param("The request body is not valid JSON"))
}

async fn messages(
    AxState(shared): AxState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    Path((version, node)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut query = query_map(q.as_deref());
    let mut decoded = decode_body(&headers, &body);
    // Form requests may carry the token and proof as fields (Meta's reference curl).
    if let Ok(Value::Object(fields)) = &mut decoded {
        for key in ["access_token", "appsecret_proof"] {
            if let Some(Value::String(v)) = fields.remove(key) {
                query.entry(key.to_owned()).or_insert(v);
            }
        }
    }
    let request = Request {
        method: "POST",
        path: format!("/{version}/{node}/messages"),
        node: &node,
        query,
        headers: &headers,
        logged: decoded.clone().unwrap_or(Value::Null),
    };
    serve(&shared, conn, request, |shared, page| {
        accept_send(shared, &page.id, &decoded?)
    })
    .await
}

/// A send by Page `page`: its users, its window, its uploads.
fn accept_send(shared: &Shared, page: &str, body: &Value) -> Result<Value, GraphErr> {
    let request = validate::send_body(body)?;
    let mut st = shared.state();
    let now = st.now();
    let recipient = match &request {
        validate::Request::Message { recipient, .. }
        | validate::Request::SenderAction { recipient } => recipient.clone(),
    };
    let known = st.users.get(&(page.to_owned(), recipient.clone())).copied();
    let Some(last) = known else {
        return Err(GraphErr::new(
            100,
            Some(2_018_001),
            "(#100) No matching user found",
        ));
    };
    let validate::Request::Message {
        messaging_type,
        tag,
        message,
        ..
    } = request
    else {
        return Ok(json!({ "recipient_id": recipient }));
    };
    let age = now.duration_since(last).unwrap_or_default();
    let allowed = age <= shared.options.window
        || match tag.as_deref() {
            // A human agent may answer for 7 days after the user's last message.
            Some("HUMAN_AGENT") => age <= HUMAN_AGENT_WINDOW,
            Some(_) => true,
            None => false,
        };
    if !allowed {
        return Err(GraphErr::new(
            10,
            Some(2_018_278),
            "(#10) This message is sent outside of allowed window.",
        ));
    }
    if let Some(id) = message["attachment"]["payload"]["attachment_id"].as_str()
        && !st
            .uploads
            .iter()
            .any(|u| u.attachment_id == id && u.page_id == page)
    {
        return Err(GraphErr::param(format!("Invalid attachment_id {id}")));
    }
    let message_id = format!("m_emu{:08}{page}", st.next());
    let record = EmulatedMessage {
        page_id: page.to_owned(),
        message_id: message_id.clone(),
        recipient: recipient.clone(),
        messaging_type,
        tag,
        message,
        at: now,
    };
    // Meta echoes every message the Page sends to apps subscribed to `message_echoes`.
    if st.queue_webhook("message_echoes", echo_value(&shared.options, &record, now)) {
        shared.outgoing.notify_one();
    }
    st.sent.push(record);
    let mut answer = json!({ "message_id": message_id });
    if !recipient.starts_with("user_ref:") {
        answer["recipient_id"] = json!(recipient);
    }
    Ok(answer)
}

async fn attachments(
    AxState(shared): AxState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    Path((version, node)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = super::upload::parse(&headers, &body);
    let request = Request {
        method: "POST",
        path: format!("/{version}/{node}/message_attachments"),
        node: &node,
        query: query_map(q.as_deref()),
        headers: &headers,
        logged: parsed
            .as_ref()
            .map(|u| u.message.clone())
            .unwrap_or(Value::Null),
    };
    serve(&shared, conn, request, |shared, page| {
        let u = parsed?;
        let mut st = shared.state();
        let id = format!("{}", 1_601_472_827_243_000_u64 + st.next());
        st.uploads.push(Upload {
            page_id: page.id.clone(),
            attachment_id: id.clone(),
            kind: u.kind,
            mime_type: u.mime_type,
            size: u.size,
            url: u.url,
        });
        Ok(json!({ "attachment_id": id }))
    })
    .await
}

/// `GET /{version}/{page_id|me}?fields=…`: the token's Page node, with the fields asked for (`id`,
/// `name`; Graph's default without `fields` is both). Any other field is error 100, as Graph
/// answers for a field the node type lacks.
async fn node(
    AxState(shared): AxState<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    Path((version, node)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query_map(q.as_deref());
    let fields = query
        .get("fields")
        .cloned()
        .unwrap_or_else(|| "name,id".to_owned());
    let request = Request {
        method: "GET",
        path: format!("/{version}/{node}"),
        node: &node,
        query,
        headers: &headers,
        logged: Value::Null,
    };
    serve(&shared, conn, request, |_, page| {
        let mut out = serde_json::Map::new();
        for field in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let value = match field {
                "id" => page.id.clone(),
                "name" => page.name.clone(),
                other => {
                    return Err(GraphErr::param(format!(
                        "Tried accessing nonexisting field ({other}) on node type (Page)"
                    )));
                }
            };
            out.insert(field.to_owned(), Value::String(value));
        }
        Ok(Value::Object(out))
    })
    .await
}
