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
            tracing::warn!(channel = %config.channel, entries = foreign, "messenger: webhook for a Page this channel does not serve refused");
            WebhookOutcome::reject(
                RejectReason::ForeignTenant,
                format!(
                    "entries for a Page this channel does not serve (it serves {})",
                    config.page_ids().collect::<Vec<_>>().join(", ")
                ),
            )
        }
        Ok(Decoded { events, foreign }) => {
            tracing::warn!(channel = %config.channel, entries = foreign, "messenger: entries for a Page this channel does not serve dropped; the rest kept");
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

/// The Page an item without `entry.id` belongs to: its recipient (a user's item) or its
/// sender (an echo), whichever is a Page of the channel.
fn item_page<'a>(config: &'a MessengerConfig, item: &serde_json::Value) -> Option<&'a str> {
    ["recipient", "sender"].iter().find_map(|party| {
        let id = item.get(*party)?.get("id")?.as_str()?;
        config.page_ids().find(|p| *p == id)
    })
}

/// One item of an entry before it is decoded.
enum Pending {
    /// A `messaging[]`, `standby[]` or dashboard `changes[].value` item.
    Item(serde_json::Value, Origin),
    /// A change without a sender: an `Other` event named after its field.
    Other(String, serde_json::Value),
}

/// The events of a body, and how many entries (or items) were for a Page the channel does
/// not serve (dropped).
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
    let mut events = Vec::with_capacity(envelope.entry.len());
    let mut foreign = 0;
    for (i, mut raw_entry) in take_array(&mut value, "entry").into_iter().enumerate() {
        let entry = Entry::<IgnoredAny>::deserialize(&raw_entry)
            .map_err(|e| format!("entry[{i}] is not a Page entry: {e}"))?;
        // Tenant routing: an entry goes to the Page it names (`entry.id`); an entry of a Page
        // this channel does not serve is never decoded as one of its Pages' (replies would go
        // out with another Page's token). Without `entry.id` (dashboard samples), each item
        // goes to the Page among its recipient and sender.
        let entry_page = match entry.id.as_deref() {
            Some(id) => match config.page_ids().find(|p| *p == id) {
                Some(p) => Some(p),
                None => {
                    foreign += 1;
                    continue;
                }
            },
            None if !config.is_multi_page() => Some(config.page_id.as_str()),
            None => None,
        };
        let mut items =
            Vec::with_capacity(entry.messaging.len() + entry.standby.len() + entry.changes.len());
        for item in take_array(&mut raw_entry, "messaging") {
            items.push(Pending::Item(item, Origin::Messaging));
        }
        for item in take_array(&mut raw_entry, "standby") {
            items.push(Pending::Item(item, Origin::Standby));
        }
        for raw in take_array(&mut raw_entry, "changes") {
            items.push(match serde_json::from_value::<Change>(raw.clone()) {
                Ok(change) if change.value.get("sender").is_some() => {
                    Pending::Item(change.value, Origin::Change(change.field))
                }
                Ok(change) => Pending::Other(change.field, raw),
                Err(_) => Pending::Other("change".to_owned(), raw),
            });
        }
        events.reserve(items.len());
        for pending in items {
            let raw = match &pending {
                Pending::Item(raw, _) | Pending::Other(_, raw) => raw,
            };
            let Some(page) = entry_page.or_else(|| item_page(config, raw)) else {
                foreign += 1;
                continue;
            };
            let decoder = Decoder {
                config,
                channel,
                page,
                received_at: request.received_at,
            };
            match pending {
                Pending::Item(item, origin) => events.extend(decoder.item(item, origin)),
                Pending::Other(name, raw) => events.push(decoder.other(&name, raw)),
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

    /// Issue 16: on a channel of several Pages an item without `entry.id` goes to the Page
    /// among its recipient and sender; one naming no Page of the channel is refused.
    #[test]
    fn items_without_an_entry_id_go_to_the_page_they_name() {
        let config = MessengerConfig::builder(
            ChannelName::new("fb").unwrap(),
            "111",
            Secret::new("a"),
            Secret::new("APP_SECRET"),
            Secret::new("v"),
        )
        .page("222", Secret::new("b"))
        .build()
        .unwrap();
        let item = |page: &str, mid: &str| {
            format!(
                r#"{{"sender":{{"id":"7000"}},"recipient":{{"id":"{page}"}},"timestamp":1,"message":{{"mid":"{mid}","text":"hi"}}}}"#
            )
        };
        let body = format!(
            r#"{{"object":"page","entry":[{{"time":1,"messaging":[{},{}]}}]}}"#,
            item("222", "m.1"),
            item("999", "m.2")
        );
        let out = handle(&config, &signed(&body));
        let events = out.accepted_events().expect("accepted");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].conversation.conversation.as_str(), "222/7000");
        let foreign = format!(
            r#"{{"object":"page","entry":[{{"time":1,"messaging":[{}]}}]}}"#,
            item("999", "m.3")
        );
        let out = handle(&config, &signed(&foreign));
        assert_eq!(
            out.rejection().map(|r| r.reason),
            Some(RejectReason::ForeignTenant)
        );
    }
}
