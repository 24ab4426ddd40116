//! Synchronous replies: an endpoint may answer `2xx` with `{"messages": [ … ]}`, neutral
//! outbound messages (the same JSON as `POST /v1/messages`' `message`) for the event's
//! conversation (and thread). They are queued in the transaction that marks the event
//! delivered, keyed `{channel}/gw/{endpoint}/{webhook-id}/{index}`, so a crash never doubles
//! them.
//!
//! A body that is empty, not JSON, or JSON without `messages` carries no replies. A `messages`
//! that is not an array of at most [`MAX_REPLIES`] valid messages fails the attempt (retried,
//! then a dead letter whose error says what was wrong): replies are never dropped silently.

use serde::Deserialize;
use switchboard_core::{ConversationRef, OutboundMessage};

use crate::store::NewOutbound;

/// The most replies one answer may carry.
pub const MAX_REPLIES: usize = 10;

#[derive(Deserialize)]
struct Forwarded {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    conversation: ConversationRef,
}

/// The replies in an endpoint's answer to the event `id` (whose forwarded `body` names the
/// conversation), as the outbox rows they become (public for the fuzz targets and other
/// gateways).
///
/// # Errors
///
/// Why the replies are refused: `messages` is not an array, holds more than [`MAX_REPLIES`]
/// or an invalid message, or `body` names no conversation.
pub fn parse(
    answer: &[u8],
    endpoint: &str,
    id: &str,
    body: &str,
) -> std::result::Result<Vec<NewOutbound>, String> {
    let Ok(serde_json::Value::Object(mut answer)) = serde_json::from_slice(answer) else {
        return Ok(Vec::new());
    };
    let messages = match answer.remove("messages") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(m) => m,
    };
    let serde_json::Value::Array(items) = messages else {
        return Err("\"messages\" must be an array".to_owned());
    };
    if items.len() > MAX_REPLIES {
        return Err(format!(
            "{} messages; at most {MAX_REPLIES} per answer (send more with POST /v1/messages)",
            items.len()
        ));
    }
    let to = serde_json::from_str::<Forwarded>(body)
        .map_err(|e| format!("the forwarded event names no conversation: {e}"))?
        .data
        .conversation;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut message: OutboundMessage =
                serde_json::from_value(item).map_err(|e| format!("messages[{i}]: {e}"))?;
            message
                .validate()
                .map_err(|e| format!("messages[{i}]: {}", e.message()))?;
            let key = format!("{}/gw/{endpoint}/{id}/{i}", to.channel);
            message.idempotency_key = Some(key.clone());
            Ok(NewOutbound::new(key, to.clone(), message))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"type":"message.received","data":{"conversation":{"channel":"sms","conversation":"+15558675310"}}}"#;

    #[test]
    fn replies_go_to_the_events_conversation_with_stable_keys() {
        let answer = br#"{"messages": [{"text": "Hi **there**"}, {"text": "Second"}]}"#;
        let replies = parse(answer, "app", "sms:SM1", BODY).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].key, "sms/gw/app/sms:SM1/0");
        assert_eq!(replies[1].to.conversation.as_str(), "+15558675310");
        assert_eq!(
            replies[0].message.idempotency_key.as_deref(),
            Some("sms/gw/app/sms:SM1/0")
        );
    }

    #[test]
    fn no_replies_unless_asked_and_bad_ones_say_why() {
        for none in [&b""[..], b"ok", b"{}", b"{\"messages\": null}", b"[1]"] {
            assert_eq!(parse(none, "app", "e", BODY).map(|r| r.len()), Ok(0));
        }
        let bad = |a: &[u8]| parse(a, "app", "e", BODY).err().unwrap_or_default();
        assert!(bad(br#"{"messages": {"text": "x"}}"#).contains("must be an array"));
        assert!(bad(br#"{"messages": [{"txt": "x"}]}"#).contains("messages[0]"));
        assert!(bad(br#"{"messages": [{}]}"#).contains("messages[0]"));
        let many = format!("{{\"messages\": [{}]}}", ["{\"text\":\"x\"}"; 11].join(","));
        assert!(bad(many.as_bytes()).contains("at most 10"));
    }
}
