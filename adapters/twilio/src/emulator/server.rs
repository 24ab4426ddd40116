//! The emulator's HTTP routes: Create, List and Fetch Message, media, and Fetch Account (in
//! `account.rs`), with Basic auth.

use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode, header};

use switchboard_core::emulator::{Connection, set_retry_after};

use super::deliver::{Progression, spawn_progression};
use super::list::list_page;
use super::state::{ApiFailure, Call, Fault};
use super::validate::{resource, segments, validate_create};
use super::{EmulatedAccount, Inner};

use crate::address::is_whatsapp;

pub(crate) fn router(inner: Inner) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(create).get(list),
        )
        .route(
            "/2010-04-01/Accounts/{file}",
            get(super::account::fetch_account),
        )
        .route("/2010-04-01/Accounts/{account}/Messages/{file}", get(fetch))
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}",
            get(media),
        )
        .with_state(inner)
}

pub(super) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub(super) fn failure(f: &ApiFailure) -> Response {
    let mut r = json(f.status, f.body());
    if let Some(after) = f.retry_after {
        set_retry_after(&mut r, after.as_secs());
    }
    r
}

/// What the next call does instead of answering normally.
pub(super) enum Next {
    Answer,
    Fail(ApiFailure),
    /// Carry the request out, then drop the connection.
    Drop,
}

/// Who a request authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Principal {
    /// The account SID and auth token.
    AuthToken,
    /// An API key of [`EmulatorOptions::api_keys`](super::EmulatorOptions::api_keys).
    ApiKey,
}

/// Checks Basic auth against each account's token and API keys, and that the path's account
/// is the one the credentials belong to; that account, with how it authenticated.
pub(super) fn authorize(
    inner: &Inner,
    headers: &HeaderMap,
    account: &str,
) -> Result<(Principal, EmulatedAccount), ApiFailure> {
    let denied = || ApiFailure::new(401, 20003, "Authenticate");
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(denied)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(denied)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| denied())?;
    let decoded = String::from_utf8(decoded).map_err(|_| denied())?;
    let (user, pass) = decoded.split_once(':').ok_or_else(denied)?;
    let found = inner.options.accounts().into_iter().find_map(|a| {
        if user == a.account_sid && pass == a.auth_token {
            Some((Principal::AuthToken, a))
        } else if a
            .api_keys
            .iter()
            .any(|(sid, secret)| user == sid && pass == secret)
        {
            Some((Principal::ApiKey, a))
        } else {
            None
        }
    });
    let (principal, owner) = found.ok_or_else(denied)?;
    if account != owner.account_sid {
        return Err(ApiFailure::new(
            404,
            20404,
            format!("The requested resource /2010-04-01/Accounts/{account} was not found"),
        ));
    }
    Ok((principal, owner))
}

/// The account whose credentials an answered call used, for the log.
pub(super) fn account_of(
    auth: &Result<(Principal, EmulatedAccount), ApiFailure>,
) -> Option<String> {
    auth.as_ref().ok().map(|(_, a)| a.account_sid.clone())
}

/// The next staged fault: a delay is slept here; an error or a drop is returned.
pub(super) async fn take_fault(inner: &Inner) -> Next {
    let Some(fault) = inner.state.lock().faults.pop_front() else {
        return Next::Answer;
    };
    match fault {
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            Next::Answer
        }
        Fault::LostAnswer => Next::Drop,
        other => ApiFailure::from_fault(&other).map_or(Next::Answer, Next::Fail),
    }
}

/// One call as the emulator saw it, before it is recorded.
pub(super) struct Incoming {
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) params: Vec<(String, String)>,
    pub(super) authorized: bool,
    /// The account whose credentials were accepted.
    pub(super) account: Option<String>,
}

/// Records `call` answered with `status`, and dooms the connection when the answer is dropped.
pub(super) fn record(inner: &Inner, call: Incoming, status: u16, next: &Next, doom: &Connection) {
    let dropped = matches!(next, Next::Drop);
    if dropped {
        doom.lose_answer();
    }
    inner.state.lock().calls.push(Call {
        method: call.method.to_owned(),
        path: call.path,
        params: call.params,
        status,
        authorized: call.authorized,
        account: call.account,
        dropped,
    });
}

/// Records a read `call` and answers it: `200` with the JSON `body`, or the failure.
pub(super) fn answer_get(
    inner: &Inner,
    call: Incoming,
    body: Result<String, ApiFailure>,
    next: &Next,
    doom: &Connection,
) -> Response {
    let status = body.as_ref().map_or_else(|f| f.status.as_u16(), |_| 200);
    record(inner, call, status, next, doom);
    match body {
        Ok(body) => json(StatusCode::OK, body),
        Err(f) => failure(&f),
    }
}

async fn create(
    State(inner): State<Inner>,
    ConnectInfo(doom): ConnectInfo<Connection>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/Messages.json");
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let auth = authorize(&inner, &headers, &account);
    let next = take_fault(&inner).await;
    let outcome = match (&next, &auth) {
        (Next::Fail(f), _) => Err(f.clone()),
        (_, Err(f)) => Err(f.clone()),
        (_, Ok((_, owner))) => create_message(&inner, owner, &params),
    };
    let call = Incoming {
        method: "POST",
        path,
        params,
        authorized: auth.is_ok(),
        account: account_of(&auth),
    };
    match outcome {
        Ok(resource) => {
            let body = serde_json::to_string(&resource).unwrap_or_default();
            record(&inner, call, 201, &next, &doom);
            json(StatusCode::CREATED, body)
        }
        Err(f) => {
            record(&inner, call, f.status.as_u16(), &next, &doom);
            failure(&f)
        }
    }
}

async fn list(
    State(inner): State<Inner>,
    ConnectInfo(doom): ConnectInfo<Connection>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/Messages.json");
    let query = query.unwrap_or_default();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let auth = authorize(&inner, &headers, &account);
    let next = take_fault(&inner).await;
    let outcome = match (&next, &auth) {
        (Next::Fail(f), _) => Err(f.clone()),
        (_, Err(f)) => Err(f.clone()),
        (_, Ok(_)) => list_page(&inner.state.lock(), &account, &path, &params),
    };
    let call = Incoming {
        method: "GET",
        path,
        params,
        authorized: auth.is_ok(),
        account: account_of(&auth),
    };
    answer_get(
        &inner,
        call,
        outcome.map(|page| page.to_string()),
        &next,
        &doom,
    )
}

/// Creates a message in account `owner` (its numbers, its Messaging Services).
fn create_message(
    inner: &Inner,
    owner: &EmulatedAccount,
    params: &[(String, String)],
) -> Result<crate::wire::MessageResource, ApiFailure> {
    let cfg = &inner.options;
    let req = validate_create(params, &owner.numbers, &owner.messaging_services)?;
    let mut state = inner.state.lock();
    if let Some((limit, window)) = cfg.rate_limit {
        let sender = req
            .from
            .clone()
            .or_else(|| req.service.clone())
            .unwrap_or_default();
        if let Some(wait) = state.rate_check(&sender, limit, window) {
            return Err(ApiFailure {
                retry_after: Some(wait.max(std::time::Duration::from_secs(1))),
                ..ApiFailure::new(429, 20429, "Too Many Requests")
            });
        }
    }
    // Twilio's default opt-out handling: an opted-out recipient gets nothing from that number.
    let sender = req.from.clone().or_else(|| {
        owner
            .numbers
            .iter()
            .find(|n| is_whatsapp(n) == is_whatsapp(&req.to))
            .cloned()
    });
    if let Some(sender) = sender
        && state.opted_out.contains(&(sender, req.to.clone()))
    {
        return Err(ApiFailure::new(
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
        ));
    }
    let prefix = if req.media.is_empty() { "SM" } else { "MM" };
    let sid = state.sid(prefix);
    let res = resource(&owner.account_sid, &sid, &req, SystemTime::now());
    state.messages.insert(sid.clone(), res.clone());
    state.order.push(sid.clone());
    let fail_code = state.failing_recipients.get(&req.to).copied();
    drop(state);
    // A Messaging Service picks a sender of the recipient's channel from its pool.
    let assign = match req.from {
        Some(_) => None,
        None => owner
            .numbers
            .iter()
            .find(|n| is_whatsapp(n) == is_whatsapp(&req.to))
            .map(|n| (n.clone(), segments(&req))),
    };
    spawn_progression(
        inner.clone(),
        Progression {
            sid,
            callback: req.status_callback,
            fail_code,
            assign,
        },
    );
    Ok(res)
}

async fn fetch(
    State(inner): State<Inner>,
    ConnectInfo(doom): ConnectInfo<Connection>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/Messages/{file}");
    let auth = authorize(&inner, &headers, &account);
    let next = take_fault(&inner).await;
    let outcome = match (&next, &auth) {
        (Next::Fail(f), _) => Err(f.clone()),
        (_, Err(f)) => Err(f.clone()),
        (_, Ok(_)) => {
            let sid = file.strip_suffix(".json").unwrap_or(&file);
            inner
                .state
                .lock()
                .messages
                .get(sid)
                .filter(|m| m.account_sid == account)
                .cloned()
                .ok_or_else(|| {
                    ApiFailure::new(
                        404,
                        20404,
                        format!("The requested resource {path} was not found"),
                    )
                })
        }
    };
    let call = Incoming {
        method: "GET",
        path,
        params: Vec::new(),
        authorized: auth.is_ok(),
        account: account_of(&auth),
    };
    let body = outcome.map(|r| serde_json::to_string(&r).unwrap_or_default());
    answer_get(&inner, call, body, &next, &doom)
}

async fn media(
    State(inner): State<Inner>,
    Path((account, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/Messages/{_message}/Media/{media}");
    let auth = authorize(&inner, &headers, &account);
    let found = inner
        .state
        .lock()
        .media
        .get(&media)
        .filter(|(owner, _, _)| *owner == account)
        .cloned();
    let (status, response) = match (auth.as_ref(), found) {
        (Err(f), _) => (f.status, failure(f)),
        (Ok(_), None) => {
            let f = ApiFailure::new(
                404,
                20404,
                format!("The requested resource {path} was not found"),
            );
            (f.status, failure(&f))
        }
        (Ok(_), Some((_, bytes, mime))) => (
            StatusCode::OK,
            (StatusCode::OK, [(header::CONTENT_TYPE, mime)], bytes).into_response(),
        ),
    };
    inner.state.lock().calls.push(Call {
        method: "GET".to_owned(),
        path,
        params: Vec::new(),
        status: status.as_u16(),
        authorized: auth.is_ok(),
        account: account_of(&auth),
        dropped: false,
    });
    response
}
