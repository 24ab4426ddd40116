//! The HTTP side of the emulator: `POST /{version}/{page_id|me}/messages` and
//! `POST /{version}/{page_id|me}/message_attachments`, with Graph auth, faults and logging.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::EmulatorOptions;
use super::deliver::echo_value;
use super::listener::{ConnId, Doomed};
use super::state::{Call, Fault, SentRecord, State, Upload};
use super::validate::{self, GraphErr, Request};
use crate::signature::{appsecret_proof, verify_token_matches};

/// Shared between the emulator handle and the server task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: EmulatorOptions,
    pub(crate) state: Mutex<State>,
    /// Connections whose answer is to be lost.
    pub(crate) doomed: Arc<Doomed>,
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
        .with_state(shared)
}

type Answer = Result<Value, (GraphErr, Option<Duration>)>;

/// How long after the user's last message the `HUMAN_AGENT` tag may be used.
const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn query_map(q: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Token, proof, node and fault checks shared by both endpoints; `Ok(true)` when the answer is
/// to be lost after the call is processed.
async fn admit(
    shared: &Shared,
    node: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<bool, (GraphErr, Option<Duration>)> {
    let fault = shared.state().faults.pop_front();
    if !shared.options.latency.is_zero() {
        tokio::time::sleep(shared.options.latency).await;
    }
    if let Some(Fault::Slow(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let o = &shared.options;
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token = query.get("access_token").map(String::as_str).or(bearer);
    let Some(token) = token else {
        return Err((
            GraphErr::new(
                104,
                None,
                "An access token is required to request this resource.",
            ),
            None,
        ));
    };
    if !verify_token_matches(&o.page_access_token, token) {
        return Err((
            GraphErr::new(
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            ),
            None,
        ));
    }
    if o.require_appsecret_proof {
        match query.get("appsecret_proof") {
            None => {
                return Err((
                    GraphErr::param(
                        "API calls from the server require an appsecret_proof argument",
                    ),
                    None,
                ));
            }
            Some(p) if !verify_token_matches(&appsecret_proof(&o.app_secret, token), p) => {
                return Err((
                    GraphErr::param("Invalid appsecret_proof provided in the API argument"),
                    None,
                ));
            }
            Some(_) => {}
        }
    }
    if node != "me" && node != o.page_id {
        return Err((
            GraphErr::new(
                100,
                Some(33),
                format!(
                    "Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation"
                ),
            ),
            None,
        ));
    }
    let lose_answer = fault == Some(Fault::LostAnswer);
    match fault {
        None | Some(Fault::Slow(_) | Fault::LostAnswer) => {}
        Some(Fault::Graph {
            status,
            code,
            subcode,
            message,
        }) => {
            let mut e = GraphErr::new(code, subcode, message);
            e.status = status;
            return Err((e, None));
        }
        Some(Fault::RateLimited { retry_after }) => {
            return Err((rate_limited(), Some(retry_after)));
        }
        Some(Fault::ServerError) => {
            return Err((
                GraphErr::new(
                    2,
                    None,
                    "An unexpected error has occurred. Please retry your request later.",
                ),
                None,
            ));
        }
        Some(Fault::AuthFailure) => {
            return Err((
                GraphErr::new(
                    190,
                    Some(460),
                    "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
                ),
                None,
            ));
        }
        Some(Fault::UnknownRecipient) => {
            return Err((
                GraphErr::new(100, Some(2_018_001), "(#100) No matching user found"),
                None,
            ));
        }
    }
    if !shared.state().admit(o.rate_limit_per_second) {
        return Err((rate_limited(), Some(Duration::from_secs(1))));
    }
    Ok(lose_answer)
}

fn rate_limited() -> GraphErr {
    GraphErr::new(
        613,
        None,
        "(#613) Calls to this api have exceeded the rate limit.",
    )
}

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
    ConnectInfo(conn): ConnectInfo<ConnId>,
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
    let mut lose = false;
    let answer: Answer = match admit(&shared, &node, &query, &headers).await {
        Err(e) => Err(e),
        Ok(l) => {
            lose = l;
            match &decoded {
                Err(e) => Err((e.clone(), None)),
                Ok(b) => accept_send(&shared, b).map_err(|e| (e, None)),
            }
        }
    };
    let path = format!("/{version}/{node}/messages");
    let response = finish(&shared, path, query, decoded.unwrap_or(Value::Null), answer);
    if lose {
        shared.doomed.doom(conn);
    }
    response
}

fn accept_send(shared: &Shared, body: &Value) -> Result<Value, GraphErr> {
    let request = validate::send_body(body)?;
    let mut st = shared.state();
    let now = st.now();
    let recipient = match &request {
        Request::Message { recipient, .. } | Request::SenderAction { recipient } => {
            recipient.clone()
        }
    };
    let known = st.users.get(&recipient).copied();
    let Some(last) = known else {
        return Err(GraphErr::new(
            100,
            Some(2_018_001),
            "(#100) No matching user found",
        ));
    };
    let Request::Message {
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
        && !st.uploads.iter().any(|u| u.attachment_id == id)
    {
        return Err(GraphErr::param(format!("Invalid attachment_id {id}")));
    }
    let message_id = format!("m_emu{:08}{}", st.next(), shared.options.page_id);
    let record = SentRecord {
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
    ConnectInfo(conn): ConnectInfo<ConnId>,
    Path((version, node)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = query_map(q.as_deref());
    let parsed = super::upload::parse(&headers, &body);
    let logged = parsed
        .as_ref()
        .map(|u| u.message.clone())
        .unwrap_or(Value::Null);
    let mut lose = false;
    let answer: Answer = match admit(&shared, &node, &query, &headers).await {
        Err(e) => Err(e),
        Ok(l) => match parsed {
            Err(e) => Err((e, None)),
            Ok(u) => {
                lose = l;
                let mut st = shared.state();
                let id = format!("{}", 1_601_472_827_243_000_u64 + st.next());
                st.uploads.push(Upload {
                    attachment_id: id.clone(),
                    kind: u.kind,
                    mime_type: u.mime_type,
                    size: u.size,
                    url: u.url,
                });
                Ok(json!({ "attachment_id": id }))
            }
        },
    };
    let response = finish(
        &shared,
        format!("/{version}/{node}/message_attachments"),
        query,
        logged,
        answer,
    );
    if lose {
        shared.doomed.doom(conn);
    }
    response
}

fn finish(
    shared: &Shared,
    path: String,
    query: BTreeMap<String, String>,
    body: Value,
    answer: Answer,
) -> Response {
    let mut st = shared.state();
    let trace = format!("Emu{:08}", st.next());
    let (status, response, retry_after) = match answer {
        Ok(v) => (200, v, None),
        Err((e, after)) => (e.status, e.body(&trace), after),
    };
    let at = st.now();
    st.calls.push(Call {
        method: "POST".into(),
        path,
        query,
        body,
        status,
        response: response.clone(),
        at,
    });
    drop(st);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (code, axum::Json(response)).into_response();
    if let Some(after) = retry_after {
        let secs = after.as_secs().max(1);
        let usage = json!({ shared.options.page_id.clone(): [{
            "type": "messenger", "call_count": 100, "total_cputime": 100, "total_time": 100,
            "estimated_time_to_regain_access": secs.div_ceil(60),
        }]});
        if let Ok(v) = secs.to_string().parse() {
            resp.headers_mut().insert("retry-after", v);
        }
        if let Ok(v) = usage.to_string().parse() {
            resp.headers_mut().insert("x-business-use-case-usage", v);
        }
    }
    resp
}
