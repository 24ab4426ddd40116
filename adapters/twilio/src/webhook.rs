//! Inbound webhooks: verify `X-Twilio-Signature`, then decode incoming messages and status
//! callbacks into neutral events. Pure: no I/O.

use std::time::SystemTime;

use http::Method;
use switchboard_core::model::{
    ActionEvent, ActionSource, AttachmentKind, DeliveryEvent, DeliveryStatus, EventId, EventKind,
    InboundAttachment, InboundEvent, InboundMessage, MessageId, OtherEvent, OutboxKey, Sender,
    UserId,
};
use switchboard_core::reconcile::{
    OUTBOX_KEY_ATTRIBUTE, OUTBOX_PART_ATTRIBUTE, OUTBOX_PARTS_ATTRIBUTE,
};
use switchboard_core::{
    ChannelName, ConversationId, ConversationRef, RejectReason, WebhookOutcome, WebhookRequest,
    WebhookResponse,
};

use crate::error_map::delivery_error;
use crate::reconcile::{OUTBOX_KEY_QUERY, OUTBOX_PART_QUERY, OUTBOX_PARTS_QUERY};
use crate::signature::{self, SignedContent};

/// The empty TwiML answer: "received, send nothing".
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// Verifies and decodes one webhook request for `channel`, signed with `auth_token`.
pub(crate) fn handle(
    channel: &ChannelName,
    auth_token: &str,
    request: &WebhookRequest,
) -> WebhookOutcome {
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
                params = url::form_urlencoded::parse(&request.body)
                    .into_owned()
                    .collect();
                SignedContent::Form(&params)
            }
        }
        Method::GET => {
            params = request.query_pairs();
            SignedContent::UrlOnly
        }
        _ => return WebhookOutcome::reject(RejectReason::MethodNotAllowed, "use POST or GET"),
    };
    let Some(sig) = request.header(signature::SIGNATURE_HEADER) else {
        return WebhookOutcome::reject(
            RejectReason::MissingSignature,
            "missing X-Twilio-Signature",
        );
    };
    if !signature::validate(auth_token, &request.url, content, sig) {
        return WebhookOutcome::reject(
            RejectReason::BadSignature,
            "X-Twilio-Signature does not match",
        );
    }
    if matches!(content, SignedContent::Json(_)) {
        return match serde_json::from_slice::<serde_json::Value>(&request.body) {
            Ok(raw) => accepted(other_event(channel, request, raw, "json")),
            Err(_) => WebhookOutcome::reject(RejectReason::Malformed, "body is not JSON"),
        };
    }
    match decode(channel, &params, request.received_at) {
        Ok(event) => accepted(with_outbox_key(event, request)),
        Err(detail) => WebhookOutcome::reject(RejectReason::Malformed, detail),
    }
}

/// A status callback to a `StatusCallback` URL that carries an outbox key proves the send of that
/// key's part: the key goes in [`OUTBOX_KEY_ATTRIBUTE`], the part's index (from 0) and count in
/// [`OUTBOX_PART_ATTRIBUTE`] and [`OUTBOX_PARTS_ATTRIBUTE`]. The query is covered by the signature, so the key cannot be forged.
fn with_outbox_key(mut event: InboundEvent, request: &WebhookRequest) -> InboundEvent {
    if !event.attributes.contains_key("twilio.status") {
        return event;
    }
    let query = request.query_pairs();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(key) = get(OUTBOX_KEY_QUERY).and_then(|k| OutboxKey::new(k).ok()) else {
        return event;
    };
    event = event.with_attribute(OUTBOX_KEY_ATTRIBUTE, key.as_str());
    for (param, attribute) in [
        (OUTBOX_PART_QUERY, OUTBOX_PART_ATTRIBUTE),
        (OUTBOX_PARTS_QUERY, OUTBOX_PARTS_ATTRIBUTE),
    ] {
        if let Some(n) = get(param).filter(|n| n.parse::<usize>().is_ok()) {
            event = event.with_attribute(attribute, n);
        }
    }
    event
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

    fn raw(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in self.0 {
            map.entry(k.clone())
                .or_insert_with(|| serde_json::Value::String(v.clone()));
        }
        serde_json::Value::Object(map)
    }
}

/// Decodes the parameters of a signed form webhook into one event.
pub(crate) fn decode(
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
            event = event.with_attribute(*attr, v);
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
];

fn conversation(channel: &ChannelName, their: &str) -> Result<ConversationRef, String> {
    let id = ConversationId::new(their).map_err(|e| e.message().to_owned())?;
    Ok(ConversationRef::new(channel.clone(), id))
}

fn inbound_message(
    channel: &ChannelName,
    p: &Params<'_>,
    sid: &str,
    from: &str,
    to: &str,
    at: SystemTime,
) -> Result<InboundEvent, String> {
    let conv = conversation(channel, from)?;
    let mut sender = Sender::user(UserId::new(from).map_err(|e| e.message().to_owned())?);
    if let Some(name) = p.get("ProfileName") {
        sender = sender.with_name(name);
    }
    let message_id = MessageId::new(sid).map_err(|e| e.message().to_owned())?;
    let kind = if let Some(payload) = p.get("ButtonPayload") {
        let mut action = ActionEvent::new(payload, ActionSource::QuickReply);
        if let Some(label) = p.get("ButtonText") {
            action = action.with_label(label);
        }
        if let Some(orig) = p.get("OriginalRepliedMessageSid") {
            action = action.with_message(MessageId::new(orig).map_err(|e| e.message().to_owned())?);
        }
        EventKind::Action(action)
    } else {
        let count: usize = match p.get("NumMedia") {
            Some(n) => n
                .parse()
                .map_err(|_| format!("NumMedia {n:?} is not a number"))?,
            None => 0,
        };
        let mut msg = InboundMessage::default();
        msg.id = Some(message_id);
        msg.text = p.get("Body").map(str::to_owned);
        for i in 0..count.min(50) {
            let Some(url) = p.get(&format!("MediaUrl{i}")) else {
                return Err(format!("NumMedia is {count} but MediaUrl{i} is missing"));
            };
            let mime = p.get(&format!("MediaContentType{i}"));
            let kind = mime.map_or(AttachmentKind::File, AttachmentKind::from_mime);
            let mut a = InboundAttachment::new(kind, Some(url.to_owned()));
            if let Some(m) = mime {
                a = a.with_mime_type(m);
            }
            if let Some(media_sid) = url.rsplit('/').next().filter(|s| s.starts_with("ME")) {
                a = a.with_provider_id(media_sid);
            }
            msg.attachments.push(a);
        }
        if let Some(orig) = p.get("OriginalRepliedMessageSid") {
            msg.reply_to = Some(MessageId::new(orig).map_err(|e| e.message().to_owned())?);
        }
        EventKind::Message(msg)
    };
    let id = EventId::new(sid).map_err(|e| e.message().to_owned())?;
    Ok(InboundEvent::new(id, conv, sender, at, kind, p.raw()).with_attribute("twilio.to", to))
}

/// Twilio's status values mapped to the neutral ones; `None` for values with no neutral form.
pub(crate) fn map_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" | "partially_delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" | "undelivered" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

fn status_callback(
    channel: &ChannelName,
    p: &Params<'_>,
    sid: &str,
    from: &str,
    to: &str,
    status: &str,
    at: SystemTime,
) -> Result<InboundEvent, String> {
    let conv = conversation(channel, to)?;
    let mut sender = Sender::user(UserId::new(from).map_err(|e| e.message().to_owned())?);
    sender.is_bot = true;
    let id = EventId::new(format!("{sid}:{status}")).map_err(|e| e.message().to_owned())?;
    let kind = match map_status(status) {
        Some(s) => {
            let message = MessageId::new(sid).map_err(|e| e.message().to_owned())?;
            let mut d = DeliveryEvent::new(s, vec![message]);
            if s == DeliveryStatus::Failed || p.get("ErrorCode").is_some() {
                d = d.with_error(delivery_error(p.get("ErrorCode"), p.get("ErrorMessage")));
            }
            EventKind::Delivery(d)
        }
        None => EventKind::Other(OtherEvent {
            event_type: format!("status.{status}"),
        }),
    };
    Ok(InboundEvent::new(id, conv, sender, at, kind, p.raw())
        .with_attribute("twilio.status", status))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_keyed_status_callback_carries_the_outbox_key() {
        let channel = ChannelName::new("sms").unwrap();
        let params = pairs(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("MessageStatus", "sent"),
            ("From", "+15005550006"),
            ("To", "+15558675310"),
        ]);
        let url = "https://bot.test/webhooks/sms?switchboard_outbox_key=sms%3AEv1%3A0\
                   &switchboard_part=1&switchboard_parts=2";
        let signed = |url: &str, params: &[(String, String)]| {
            WebhookRequest::post(url, serde_urlencoded::to_string(params).unwrap())
                .with_header("content-type", "application/x-www-form-urlencoded")
                .with_header("x-twilio-signature", &signature::sign("tok", url, params))
        };
        let outcome = handle(&channel, "tok", &signed(url, &params));
        let a = &outcome.accepted_events().unwrap()[0].attributes;
        assert_eq!(
            a.get(OUTBOX_KEY_ATTRIBUTE).map(String::as_str),
            Some("sms:Ev1:0")
        );
        assert_eq!(a.get(OUTBOX_PART_ATTRIBUTE).map(String::as_str), Some("1"));
        assert_eq!(a.get(OUTBOX_PARTS_ATTRIBUTE).map(String::as_str), Some("2"));
        // Unkeyed callbacks and inbound messages carry no key, even with the parameter.
        let plain = handle(
            &channel,
            "tok",
            &signed("https://bot.test/webhooks/sms", &params),
        );
        assert!(
            !plain.accepted_events().unwrap()[0]
                .attributes
                .contains_key(OUTBOX_KEY_ATTRIBUTE)
        );
        let inbound = pairs(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("From", "+15558675310"),
            ("To", "+15005550006"),
            ("Body", "hi"),
        ]);
        let ev = handle(&channel, "tok", &signed(url, &inbound));
        assert!(
            !ev.accepted_events().unwrap()[0]
                .attributes
                .contains_key(OUTBOX_KEY_ATTRIBUTE)
        );
        // The key is signed: changing it breaks the signature.
        let mut forged = signed(url, &params);
        forged.url = url.replace("Ev1", "Ev2");
        assert!(handle(&channel, "tok", &forged).accepted_events().is_none());
    }

    #[test]
    fn a_status_callback_before_a_sender_was_picked_still_decodes() {
        let channel = ChannelName::new("sms").unwrap();
        let failed = pairs(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("MessageStatus", "failed"),
            ("ErrorCode", "30001"),
            ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
            ("To", "+15558675310"),
        ]);
        let ev = decode(&channel, &failed, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(ev.sender.id.as_str(), "MG0123456789abcdef0123456789abcdef");
        assert_eq!(ev.conversation.conversation.as_str(), "+15558675310");
        let EventKind::Delivery(d) = &ev.kind else {
            panic!("{:?}", ev.kind)
        };
        assert_eq!(d.status, DeliveryStatus::Failed);
        // An inbound message still needs its sender.
        let inbound = pairs(&[
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
            ("To", "+15558675310"),
            ("Body", "hi"),
        ]);
        assert_eq!(
            decode(&channel, &inbound, SystemTime::UNIX_EPOCH).unwrap_err(),
            "missing From"
        );
    }
}
