//! Inbound webhooks: verify `X-Twilio-Signature`, then decode incoming messages (`message.rs`) and
//! status callbacks (`status.rs`) into neutral events. Pure: no I/O.

mod message;
mod status;

use std::borrow::Cow;
use std::time::SystemTime;

use http::Method;
use switchboard_core::model::{EventId, EventKind, InboundEvent, OtherEvent, Sender, UserId};
use switchboard_core::webhook::{form_too_large, unsupported_media_type};
use switchboard_core::{
    ChannelName, ConversationId, ConversationRef, RejectReason, Rejection, WebhookOutcome,
    WebhookRequest, WebhookResponse,
};

use self::message::inbound_message;
use self::status::{status_callback, with_outbox_key};
use crate::signature::{self, SignedContent};

/// The empty TwiML answer: "received, send nothing".
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// What can be refused before the body is read: another method (405), no
/// `X-Twilio-Signature` (401), a body that is neither a form nor JSON (415).
pub(crate) fn precheck(method: &Method, headers: &http::HeaderMap) -> Option<Rejection> {
    if !matches!(*method, Method::POST | Method::GET) {
        return Some(Rejection::new(
            RejectReason::MethodNotAllowed,
            "use POST or GET",
        ));
    }
    if !headers.contains_key(signature::SIGNATURE_HEADER) {
        return Some(Rejection::new(
            RejectReason::MissingSignature,
            "missing X-Twilio-Signature",
        ));
    }
    if *method != Method::POST {
        return None;
    }
    unsupported_media_type(
        headers,
        &["application/x-www-form-urlencoded", "application/json"],
    )
}

/// Verifies and decodes one webhook request for `channel`, whose accounts are
/// `(sid, auth_token)`, the default first; with the outcome, the index of the account the
/// request was verified for.
///
/// Tenant routing: the request's `AccountSid` (form or query) picks the account *before* the
/// signature is checked, with that account's token only; an `AccountSid` the channel does not
/// serve is refused (403) without being verified against any token. A request without
/// `AccountSid` (a JSON webhook) is verified with the default account's token.
pub(crate) fn handle(
    channel: &ChannelName,
    accounts: &[(&str, &str)],
    request: &WebhookRequest,
) -> (WebhookOutcome, usize) {
    if !matches!(request.method, Method::POST | Method::GET) {
        return (
            WebhookOutcome::reject(RejectReason::MethodNotAllowed, "use POST or GET"),
            0,
        );
    }
    // The cheapest rejection first: no signature, no parsing.
    let Some(sig) = request.header(signature::SIGNATURE_HEADER) else {
        return (
            WebhookOutcome::reject(RejectReason::MissingSignature, "missing X-Twilio-Signature"),
            0,
        );
    };
    let params: Vec<(String, String)>;
    let content = match request.method {
        Method::POST => {
            let content_type = request.header("content-type").unwrap_or("");
            if content_type.starts_with("application/json") {
                // JSON webhooks carry no message parameters we decode; the signature covers the
                // URL and its bodySHA256.
                params = Vec::new();
                SignedContent::Json(&request.body)
            } else {
                // Counted before parsing: sorting and hashing grow with the pairs.
                if let Some(r) = form_too_large(&request.body) {
                    return (WebhookOutcome::Rejected(r), 0);
                }
                params = url::form_urlencoded::parse(&request.body)
                    .into_owned()
                    .collect();
                SignedContent::Form(&params)
            }
        }
        _ => {
            params = request.query_pairs();
            SignedContent::UrlOnly
        }
    };
    let account = match Params(&params).get("AccountSid") {
        None => 0,
        Some(theirs) => match accounts.iter().position(|(sid, _)| *sid == theirs) {
            Some(i) => i,
            None => {
                tracing::warn!(channel = %channel, account_sid = theirs, "twilio: webhook for an account this channel does not serve refused");
                return (
                    WebhookOutcome::reject(
                        RejectReason::Forbidden,
                        format!("AccountSid {theirs} is not an account of this channel"),
                    ),
                    0,
                );
            }
        },
    };
    let Some((_, auth_token)) = accounts.get(account) else {
        return (
            WebhookOutcome::reject(RejectReason::Forbidden, "the channel has no account"),
            0,
        );
    };
    if !signature::validate(auth_token, &request.url, content, sig) {
        return (
            WebhookOutcome::reject(
                RejectReason::BadSignature,
                "X-Twilio-Signature does not match",
            ),
            account,
        );
    }
    let outcome = if matches!(content, SignedContent::Json(_)) {
        match serde_json::from_slice::<serde_json::Value>(&request.body) {
            Ok(raw) => accepted(other_event(channel, request, raw, "json")),
            Err(_) => WebhookOutcome::reject(RejectReason::Malformed, "body is not JSON"),
        }
    } else {
        match decode(channel, params, request.received_at) {
            Ok(event) => accepted(with_outbox_key(event, request)),
            Err(detail) => WebhookOutcome::reject(RejectReason::Malformed, detail),
        }
    };
    (outcome, account)
}

fn accepted(event: InboundEvent) -> WebhookOutcome {
    WebhookOutcome::Accepted {
        response: WebhookResponse::with_body("text/xml", EMPTY_TWIML),
        events: vec![event],
    }
}

/// The form parameters, with lookups by name.
struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Decodes the parameters of a signed form webhook into one event. Owned parameters are moved
/// into the event's `raw` (borrowed ones are copied).
pub(crate) fn decode<'a>(
    channel: &ChannelName,
    params: impl Into<Cow<'a, [(String, String)]>>,
    received_at: SystemTime,
) -> Result<InboundEvent, String> {
    let params = params.into();
    let mut event = decode_without_raw(channel, &params, received_at)?;
    let mut map = serde_json::Map::new();
    for (k, v) in params.into_owned() {
        // The first value of a repeated name.
        map.entry(k).or_insert(serde_json::Value::String(v));
    }
    event.raw = serde_json::Value::Object(map);
    Ok(event)
}

/// The event of [`decode`] with a `null` raw payload (the caller sets it).
fn decode_without_raw(
    channel: &ChannelName,
    params: &[(String, String)],
    received_at: SystemTime,
) -> Result<InboundEvent, String> {
    let p = Params(params);
    let sid = p
        .get("MessageSid")
        .or_else(|| p.get("SmsMessageSid"))
        .or_else(|| p.get("SmsSid"))
        .ok_or("missing MessageSid")?;
    let to = p.get("To").ok_or("missing To")?;
    let from = p.get("From");
    let mut event = match p.get("MessageStatus") {
        Some(s) if s != "received" && s != "receiving" => {
            // Ours: a Messaging Service may not have picked the sending number yet.
            let from = from
                .or_else(|| p.get("MessagingServiceSid"))
                .ok_or("missing From")?;
            status_callback(channel, &p, sid, from, to, s, received_at)?
        }
        _ => inbound_message(
            channel,
            &p,
            sid,
            from.ok_or("missing From")?,
            to,
            received_at,
        )?,
    };
    for (param, attr) in ATTRIBUTES {
        if let Some(v) = p.get(param) {
            // In place: the builder would move the whole event for each attribute.
            event.attributes.insert((*attr).to_owned(), v.to_owned());
        }
    }
    Ok(event)
}

/// Parameters kept as `twilio.*` attributes when present.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("AccountSid", "twilio.account_sid"),
    ("MessagingServiceSid", "twilio.messaging_service_sid"),
    ("NumSegments", "twilio.num_segments"),
    ("WaId", "twilio.wa_id"),
    ("MessageType", "twilio.message_type"),
    ("Latitude", "twilio.latitude"),
    ("Longitude", "twilio.longitude"),
    ("Address", "twilio.address"),
    ("Label", "twilio.label"),
    ("Forwarded", "twilio.forwarded"),
    ("FrequentlyForwarded", "twilio.frequently_forwarded"),
    ("ChannelPrefix", "twilio.channel_prefix"),
    ("EventType", "twilio.event_type"),
    ("RawDlrDoneDate", "twilio.raw_dlr_done_date"),
    ("FromCountry", "twilio.from_country"),
    ("ReferralSourceUrl", "twilio.referral_source_url"),
    // Advanced Opt-Out: the type (STOP, START, HELP) of the keyword the message matched.
    ("OptOutType", "twilio.opt_out_type"),
];

fn conversation(channel: &ChannelName, their: &str) -> Result<ConversationRef, String> {
    let id = ConversationId::new(their).map_err(|e| e.message().to_owned())?;
    Ok(ConversationRef::new(channel.clone(), id))
}

fn other_event(
    channel: &ChannelName,
    request: &WebhookRequest,
    raw: serde_json::Value,
    what: &str,
) -> InboundEvent {
    let id = signature::body_sha256(&request.body);
    let fallback = || {
        ConversationRef::new(
            channel.clone(),
            ConversationId::new("unknown").expect("valid id"),
        )
    };
    InboundEvent::new(
        EventId::new(format!("json:{id}")).expect("hex is a valid id"),
        fallback(),
        Sender::user(UserId::new("twilio").expect("valid id")),
        request.received_at,
        EventKind::Other(OtherEvent {
            event_type: what.to_owned(),
        }),
        raw,
    )
}
