//! Fetch Account (`GET /2010-04-01/Accounts/{Sid}.json`): the Account resource as the v2010
//! OpenAPI spec shows it, for the account SID and auth token. A Standard API key may not read
//! `/Accounts` (Twilio's API key docs), and Twilio answers it 401 / 20003, as for bad
//! credentials; the emulator's API keys are Standard keys.

use axum::extract::{ConnectInfo, Path, State};
use axum::response::Response;
use http::HeaderMap;
use serde_json::{Map, Value, json};

use switchboard_core::emulator::Connection;

use super::server::{Incoming, Next, Principal, account_of, answer_get, authorize, take_fault};
use super::state::ApiFailure;
use super::{EmulatedAccount, Inner};

use crate::date::format_rfc2822;

/// The account's `friendly_name` (Twilio's default is the owner's email address).
pub(crate) const FRIENDLY_NAME: &str = "Switchboard emulator";

/// The `subresource_uris` of an Account, in the spec example's order: name → path suffix.
const SUBRESOURCES: &[(&str, &str)] = &[
    ("available_phone_numbers", "AvailablePhoneNumbers"),
    ("calls", "Calls"),
    ("conferences", "Conferences"),
    ("incoming_phone_numbers", "IncomingPhoneNumbers"),
    ("notifications", "Notifications"),
    ("outgoing_caller_ids", "OutgoingCallerIds"),
    ("recordings", "Recordings"),
    ("transcriptions", "Transcriptions"),
    ("addresses", "Addresses"),
    ("signing_keys", "SigningKeys"),
    ("connect_apps", "ConnectApps"),
    ("sip", "SIP"),
    ("authorized_connect_apps", "AuthorizedConnectApps"),
    ("usage", "Usage"),
    ("keys", "Keys"),
    ("applications", "Applications"),
    ("short_codes", "SMS/ShortCodes"),
    ("queues", "Queues"),
    ("messages", "Messages"),
    ("balance", "Balance"),
];

/// The Account resource of emulated account `cfg` (a `Full`, `active` account).
fn account_resource(inner: &Inner, cfg: &EmulatedAccount) -> Value {
    let sid = cfg.account_sid.as_str();
    let created = format_rfc2822(inner.created);
    let uris: Map<String, Value> = SUBRESOURCES
        .iter()
        .map(|(name, suffix)| {
            let uri = format!("/2010-04-01/Accounts/{sid}/{suffix}.json");
            ((*name).to_owned(), Value::String(uri))
        })
        .collect();
    json!({
        "auth_token": cfg.auth_token,
        "date_created": created,
        "date_updated": created,
        "friendly_name": FRIENDLY_NAME,
        "owner_account_sid": sid,
        "sid": sid,
        "status": "active",
        "subresource_uris": uris,
        "type": "Full",
        "uri": format!("/2010-04-01/Accounts/{sid}.json"),
    })
}

pub(super) async fn fetch_account(
    State(inner): State<Inner>,
    ConnectInfo(doom): ConnectInfo<Connection>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{file}");
    let not_found = || {
        ApiFailure::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    };
    let sid = file.strip_suffix(".json");
    let auth = authorize(&inner, &headers, sid.unwrap_or(&file));
    let next = take_fault(&inner).await;
    let outcome = match (&next, &auth, sid) {
        (Next::Fail(f), _, _) | (_, Err(f), _) => Err(f.clone()),
        (_, Ok((Principal::ApiKey, _)), _) => Err(ApiFailure::new(401, 20003, "Authenticate")),
        (_, Ok((Principal::AuthToken, _)), None) => Err(not_found()),
        (_, Ok((Principal::AuthToken, owner)), Some(_)) => Ok(account_resource(&inner, owner)),
    };
    let call = Incoming {
        method: "GET",
        path,
        params: Vec::new(),
        authorized: auth.is_ok(),
        account: account_of(&auth),
    };
    let body = outcome.map(|account| account.to_string());
    answer_get(&inner, call, body, &next, &doom)
}
