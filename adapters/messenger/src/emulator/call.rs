//! One Graph call as the emulator serves it, whatever the endpoint: the token (query or
//! `Authorization: Bearer`), `appsecret_proof`, the node, staged faults, the rate limit, the
//! call log, Graph error bodies with their headers, and lost answers.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_core::emulator::{Connection, set_retry_after};

use super::EmulatedPage;
use super::server::Shared;
use super::state::{Call, Fault};
use super::validate::GraphErr;
use crate::signature::{appsecret_proof, verify_token_matches};

/// What an endpoint answers: a JSON body, or a Graph error (with a `Retry-After` for limits).
pub(crate) type Answer = Result<Value, (GraphErr, Option<Duration>)>;

/// A request as an endpoint received it.
pub(crate) struct Request<'a> {
    /// `GET` or `POST`.
    pub(crate) method: &'static str,
    /// The path, for the log.
    pub(crate) path: String,
    /// The node addressed (`me` or the Page id).
    pub(crate) node: &'a str,
    /// The query parameters (and token fields of a form body).
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) headers: &'a HeaderMap,
    /// What the log keeps of the body.
    pub(crate) logged: Value,
}

/// Admits `request`, lets `handle` answer it for the Page its token belongs to, logs the call
/// and, for a staged [`Fault::LostAnswer`], drops the connection after the call took effect.
pub(crate) async fn serve(
    shared: &Shared,
    conn: Connection,
    request: Request<'_>,
    handle: impl FnOnce(&Shared, &EmulatedPage) -> Result<Value, GraphErr>,
) -> Response {
    let token = token_of(&request).map(str::to_owned);
    let page = token.as_deref().and_then(|t| page_of_token(shared, t));
    let (answer, lose) = match (admit(shared, &request, page.as_ref()).await, &page) {
        (Err(e), _) => (Err(e), false),
        (Ok(lose), Some(page)) => (handle(shared, page).map_err(|e| (e, None)), lose),
        // `admit` refuses every call whose token is no Page's.
        (Ok(_), None) => (
            Err((GraphErr::new(190, None, "Invalid OAuth access token"), None)),
            false,
        ),
    };
    let response = finish(shared, request, answer, token, page.map(|p| p.id));
    if lose {
        conn.lose_answer();
    }
    response
}

pub(crate) fn query_map(q: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The token of a request: the `access_token` parameter, or `Authorization: Bearer`.
fn token_of<'a>(request: &'a Request<'_>) -> Option<&'a str> {
    let bearer = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    request
        .query
        .get("access_token")
        .map(String::as_str)
        .or(bearer)
}

/// The Page whose token `token` is (compared in constant time).
fn page_of_token(shared: &Shared, token: &str) -> Option<EmulatedPage> {
    shared
        .options
        .pages()
        .into_iter()
        .find(|p| verify_token_matches(&p.access_token, token))
}

/// Token, proof, node and fault checks; `Ok(true)` when the answer is to be lost after the call
/// is processed. `page` is the Page the token belongs to: a call may address only that Page
/// (or `me`), as a Page token reaches no other Page.
async fn admit(
    shared: &Shared,
    request: &Request<'_>,
    page: Option<&EmulatedPage>,
) -> Result<bool, (GraphErr, Option<Duration>)> {
    let (node, query) = (request.node, &request.query);
    let fault = shared.state().faults.pop_front();
    if !shared.options.latency.is_zero() {
        tokio::time::sleep(shared.options.latency).await;
    }
    if let Some(Fault::Delay(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let o = &shared.options;
    let Some(token) = token_of(request) else {
        return Err((
            GraphErr::new(
                104,
                None,
                "An access token is required to request this resource.",
            ),
            None,
        ));
    };
    let Some(page) = page else {
        return Err((
            GraphErr::new(
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            ),
            None,
        ));
    };
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
    if node != "me" && node != page.id {
        return Err((
            GraphErr::new(
                100,
                Some(33),
                format!(
                    "Unsupported {} request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation",
                    request.method.to_ascii_lowercase()
                ),
            ),
            None,
        ));
    }
    let lose_answer = fault == Some(Fault::LostAnswer);
    match fault {
        None | Some(Fault::Delay(_) | Fault::LostAnswer) => {}
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

pub(crate) fn finish(
    shared: &Shared,
    request: Request<'_>,
    answer: Answer,
    access_token: Option<String>,
    page: Option<String>,
) -> Response {
    let mut st = shared.state();
    let trace = format!("Emu{:08}", st.next());
    let (status, response, retry_after) = match answer {
        Ok(v) => (200, v, None),
        Err((e, after)) => (e.status, e.body(&trace), after),
    };
    let at = st.now();
    st.calls.push(Call {
        method: request.method.into(),
        path: request.path,
        query: request.query,
        access_token,
        page: page.clone(),
        body: request.logged,
        status,
        response: response.clone(),
        at,
    });
    drop(st);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (code, axum::Json(response)).into_response();
    if let Some(after) = retry_after {
        let secs = after.as_secs().max(1);
        let usage = json!({ page.unwrap_or_else(|| shared.options.page_id.clone()): [{
            "type": "messenger", "call_count": 100, "total_cputime": 100, "total_time": 100,
            "estimated_time_to_regain_access": secs.div_ceil(60),
        }]});
        set_retry_after(&mut resp, secs);
        if let Ok(v) = usage.to_string().parse() {
            resp.headers_mut().insert("x-business-use-case-usage", v);
        }
    }
    resp
}
