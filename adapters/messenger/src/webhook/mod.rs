//! Inbound webhooks: the `GET` verification handshake, the signature check, and the envelope.
//!
//! Order of a `POST`: the `X-Hub-Signature-256` is checked over the raw bytes first (missing or
//! wrong: 401), then the JSON is parsed (malformed, or `object` other than `page`: 400), then every
//! `entry[].messaging[]`, `entry[].standby[]` and `entry[].changes[]` item becomes one event, in
//! order (see `messaging.rs` and `message.rs`).

mod message;
mod messaging;

use http::Method;
use serde::Deserialize as _;
use serde::de::IgnoredAny;
use switchboard_core::webhook::unsupported_media_type;
use switchboard_core::{
    ChannelName, InboundEvent, RejectReason, Rejection, WebhookOutcome, WebhookRequest,
    WebhookResponse,
};

use self::messaging::{Decoder, Origin};
use crate::config::MessengerConfig;
use crate::signature;
use crate::wire::{Change, Entry, Envelope, take_array};

/// What can be refused before the body is read: a method other than GET and POST (405), a POST
/// without `X-Hub-Signature-256` (401) or whose body is not JSON (415).
pub(crate) fn precheck(method: &Method, headers: &http::HeaderMap) -> Option<Rejection> {
    if *method == Method::GET {
        return None;
    }
    if *method != Method::POST {
        return Some(Rejection::new(
            RejectReason::MethodNotAllowed,
            "use GET or POST",
        ));
    }
    if !headers.contains_key(signature::SIGNATURE_HEADER) {
        return Some(Rejection::new(
            RejectReason::MissingSignature,
            "missing X-Hub-Signature-256",
        ));
    }
    unsupported_media_type(headers, &["application/json"])
}

/// Handles one webhook request for the channel configured by `config`.
pub(crate) fn handle(config: &MessengerConfig, request: &WebhookRequest) -> WebhookOutcome {
    if request.method == Method::GET {
        return handshake(config, request);
    }
    if request.method != Method::POST {
        return WebhookOutcome::reject(RejectReason::MethodNotAllowed, "use GET or POST");
    }
    if let Err(reason) = signature::verify(
        config.app_secret.expose(),
        &request.body,
        request.header(signature::SIGNATURE_HEADER),
    ) {
        let detail = match reason {
            RejectReason::MissingSignature => "missing X-Hub-Signature-256",
            _ => "X-Hub-Signature-256 does not match the body",
        };
        return WebhookOutcome::reject(reason, detail);
    }
    match decode_body(config, &config.channel, request) {
        Ok(Decoded { events, foreign: 0 }) => WebhookOutcome::events(events),
        Ok(Decoded { events, foreign }) if events.is_empty() => {
            tracing::warn!(channel = %config.channel, entries = foreign, "messenger: webhook for another Page refused");
            WebhookOutcome::reject(
                RejectReason::ForeignTenant,
                format!("entries for another Page than {}", config.page_id),
            )
        }
        Ok(Decoded { events, foreign }) => {
            tracing::warn!(channel = %config.channel, entries = foreign, "messenger: entries for another Page dropped; the rest kept");
            WebhookOutcome::events(events)
        }
        Err(detail) => WebhookOutcome::reject(RejectReason::Malformed, detail),
    }
}

/// `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → 200 with the raw challenge.
fn handshake(config: &MessengerConfig, request: &WebhookRequest) -> WebhookOutcome {
    let mode = request.query_param("hub.mode");
    let token = request.query_param("hub.verify_token");
    let challenge = request.query_param("hub.challenge");
    match (mode.as_deref(), token, challenge) {
        (Some("subscribe"), Some(token), Some(challenge))
            if signature::verify_token_matches(config.verify_token.expose(), &token) =>
        {
            WebhookOutcome::handshake(WebhookResponse::text(challenge))
        }
        (Some("subscribe"), Some(_), Some(_)) => {
            WebhookOutcome::reject(RejectReason::Forbidden, "hub.verify_token does not match")
        }
        _ => WebhookOutcome::reject(
            RejectReason::Forbidden,
            "expected hub.mode=subscribe, hub.verify_token and hub.challenge",
        ),
    }
}

/// The events of a body, and how many entries were for another Page (dropped).
struct Decoded {
    events: Vec<InboundEvent>,
    foreign: usize,
}

fn decode_body(
    config: &MessengerConfig,
    channel: &ChannelName,
    request: &WebhookRequest,
) -> Result<Decoded, String> {
    let mut value: serde_json::Value =
        serde_json::from_slice(&request.body).map_err(|e| format!("invalid JSON: {e}"))?;
    // The shape is checked on the tree; the entries and items are then moved out of it.
    let envelope = Envelope::<IgnoredAny>::deserialize(&value)
        .map_err(|e| format!("expected {{\"object\":\"page\",\"entry\":[…]}}: {e}"))?;
    if envelope.object != "page" {
        return Err(format!(
            "object {:?} is not \"page\" (this is a Messenger channel)",
            envelope.object
        ));
    }
    let decoder = Decoder {
        config,
        channel,
        received_at: request.received_at,
    };
    let mut events = Vec::with_capacity(envelope.entry.len());
    let mut foreign = 0;
    for (i, mut raw_entry) in take_array(&mut value, "entry").into_iter().enumerate() {
        let entry = Entry::<IgnoredAny>::deserialize(&raw_entry)
            .map_err(|e| format!("entry[{i}] is not a Page entry: {e}"))?;
        let page = entry.id.as_deref();
        // Tenant routing (issue 15, item 11): an entry of another Page is never decoded as
        // this channel's (replies would go out with this Page's token).
        if page.is_some_and(|p| p != config.page_id) {
            foreign += 1;
            continue;
        }
        events.reserve(entry.messaging.len() + entry.standby.len() + entry.changes.len());
        for item in take_array(&mut raw_entry, "messaging") {
            events.extend(decoder.item(item, page, Origin::Messaging));
        }
        for item in take_array(&mut raw_entry, "standby") {
            events.extend(decoder.item(item, page, Origin::Standby));
        }
        for raw in take_array(&mut raw_entry, "changes") {
            match serde_json::from_value::<Change>(raw.clone()) {
                Ok(change) if change.value.get("sender").is_some() => {
                    events.extend(decoder.item(change.value, page, Origin::Change(change.field)));
                }
                Ok(change) => events.push(decoder.other(&change.field, raw, page)),
                Err(_) => events.push(decoder.other("change", raw, page)),
            }
        }
    }
    Ok(Decoded { events, foreign })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::Secret;

    fn config() -> MessengerConfig {
        MessengerConfig::builder(
            ChannelName::new("fb").unwrap(),
            "1895382890692545",
            Secret::new("token"),
            Secret::new("APP_SECRET"),
            Secret::new("1qaz2wsx"),
        )
        .build()
        .unwrap()
    }

    fn signed(body: &str) -> WebhookRequest {
        WebhookRequest::post("https://bot.example/webhooks/fb", body.to_owned()).with_header(
            "X-Hub-Signature-256",
            &signature::sign("APP_SECRET", body.as_bytes()),
        )
    }

    #[test]
    fn other_methods_are_refused() {
        let mut r = WebhookRequest::get("https://bot.example/webhooks/fb");
        r.method = Method::PUT;
        let out = handle(&config(), &r);
        assert_eq!(
            out.rejection().map(|r| r.reason),
            Some(RejectReason::MethodNotAllowed)
        );
    }

    #[test]
    fn malformed_bodies_are_400_after_the_signature() {
        for (body, needle) in [
            ("{not json", "invalid JSON"),
            (
                r#"{"object":"instagram","entry":[]}"#,
                "\"instagram\" is not \"page\"",
            ),
            (r#"{"object":"page"}"#, "expected"),
            (r#"{"object":"page","entry":[5]}"#, "entry[0]"),
        ] {
            let out = handle(&config(), &signed(body));
            let r = out.rejection().expect("rejected");
            assert_eq!(r.reason, RejectReason::Malformed, "{body}");
            assert!(r.detail.contains(needle), "{}: {needle}", r.detail);
            assert_eq!(out.response().status, http::StatusCode::BAD_REQUEST);
        }
        // Unsigned malformed bodies fail the signature first.
        let out = handle(&config(), &WebhookRequest::post("https://x/", "{not json"));
        assert_eq!(
            out.rejection().map(|r| r.reason),
            Some(RejectReason::MissingSignature)
        );
    }

    #[test]
    fn empty_entry_list_is_accepted_with_no_events() {
        let out = handle(&config(), &signed(r#"{"object":"page","entry":[]}"#));
        assert_eq!(out.accepted_events().map(<[_]>::len), Some(0));
    }

    /// Issue 15, item 11: an entry of another Page is never decoded as this channel's; a body
    /// of only foreign entries is acknowledged (200) with nothing stored, a mixed one keeps
    /// this Page's entries.
    #[test]
    fn entries_of_another_page_are_refused() {
        let entry = |page: &str, mid: &str| {
            format!(
                r#"{{"id":"{page}","time":1,"messaging":[{{"sender":{{"id":"7000"}},"recipient":{{"id":"{page}"}},"timestamp":1,"message":{{"mid":"{mid}","text":"hi"}}}}]}}"#
            )
        };
        let foreign = format!(r#"{{"object":"page","entry":[{}]}}"#, entry("999", "m.1"));
        let out = handle(&config(), &signed(&foreign));
        assert_eq!(
            out.rejection().map(|r| r.reason),
            Some(RejectReason::ForeignTenant)
        );
        assert_eq!(out.response().status, http::StatusCode::OK);
        let mixed = format!(
            r#"{{"object":"page","entry":[{},{}]}}"#,
            entry("999", "m.2"),
            entry("1895382890692545", "m.3")
        );
        let out = handle(&config(), &signed(&mixed));
        let events = out.accepted_events().expect("accepted");
        assert_eq!(events.len(), 1);
        assert!(events[0].id.as_str().contains("m.3"), "{:?}", events[0].id);
    }
}
