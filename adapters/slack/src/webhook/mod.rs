//! Inbound requests: `ssl_check`, signature verification, `url_verification`, and routing to the
//! Events API and interactivity decoders. Pure: no I/O, the clock is the request's receive time.

mod events;
mod interactivity;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use serde::Deserialize as _;
use serde_json::Value;
use switchboard_core::model::{EventId, UserId};
use switchboard_core::webhook::{form_too_large, unsupported_media_type};
use switchboard_core::{
    ChannelName, ConversationId, ConversationRef, InboundEvent, RejectReason, Rejection, ThreadId,
    WebhookOutcome, WebhookRequest, WebhookResponse,
};

use crate::signature::{self, SIGNATURE_HEADER, SigningKey, TIMESTAMP_HEADER};
use crate::wire::Head as Envelope;

/// `X-Slack-Retry-Num`: present on Slack's redeliveries (1–3).
pub const RETRY_NUM_HEADER: &str = "x-slack-retry-num";
/// `X-Slack-Retry-Reason`: why Slack redelivered (`http_timeout`, `http_error`, …).
pub const RETRY_REASON_HEADER: &str = "x-slack-retry-reason";

/// What the loop guard knows about this app's own bot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoopGuard {
    pub(crate) bot_user_id: Option<String>,
    pub(crate) bot_id: Option<String>,
    pub(crate) ignore_other_bots: bool,
}

/// Everything decoding needs from the adapter.
pub(crate) struct Inbound<'a> {
    pub(crate) channel: &'a ChannelName,
    pub(crate) signing_key: &'a SigningKey,
    pub(crate) guard: LoopGuard,
    /// The configured workspace and app: events of others are refused (issue 15, item 11).
    pub(crate) team_id: Option<&'a str>,
    pub(crate) app_id: Option<&'a str>,
}

/// Decoding state shared by the event decoders: the channel and the request's metadata.
pub(crate) struct Ctx<'a> {
    pub(crate) channel: &'a ChannelName,
    pub(crate) request: &'a WebhookRequest,
}

impl Ctx<'_> {
    /// A conversation reference on this channel.
    pub(crate) fn conversation(
        &self,
        id: &str,
        thread: Option<&str>,
    ) -> Result<ConversationRef, String> {
        let c = ConversationId::new(id).map_err(|e| e.to_string())?;
        let r = ConversationRef::new(self.channel.clone(), c);
        match thread.filter(|t| !t.is_empty()) {
            Some(t) => Ok(r.in_thread(ThreadId::new(t).map_err(|e| e.to_string())?)),
            None => Ok(r),
        }
    }

    /// An event with the retry headers copied into its attributes.
    pub(crate) fn event(
        &self,
        id: &str,
        conversation: ConversationRef,
        sender: switchboard_core::model::Sender,
        at: SystemTime,
        kind: switchboard_core::EventKind,
        raw: Value,
    ) -> Result<InboundEvent, String> {
        let id = EventId::new(id).map_err(|e| e.to_string())?;
        let mut ev = InboundEvent::new(id, conversation, sender, at, kind, raw);
        // Inserted in place: the builder would move the whole event for each attribute.
        if let Some(n) = self.request.header(RETRY_NUM_HEADER) {
            ev.attributes.insert("slack.retry_num".into(), n.into());
        }
        if let Some(r) = self.request.header(RETRY_REASON_HEADER) {
            ev.attributes.insert("slack.retry_reason".into(), r.into());
        }
        Ok(ev)
    }
}

/// A sender id, checked.
pub(crate) fn user_id(id: &str) -> Result<UserId, String> {
    UserId::new(id).map_err(|e| e.to_string())
}

/// A Slack `ts` (`"1515449522.000016"`) as a time.
pub(crate) fn ts_time(ts: Option<&str>) -> Option<SystemTime> {
    let ts = ts?;
    let (secs, frac) = ts.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    // The fraction's first six characters, padded with zeros on the right (`"0001"` → 100 µs).
    let frac = frac.get(..6).unwrap_or(frac);
    let mut padded = [b'0'; 6];
    padded
        .get_mut(..frac.len())?
        .copy_from_slice(frac.as_bytes());
    let micros: u64 = std::str::from_utf8(&padded).ok()?.parse().ok()?;
    // `checked_add`: a signed payload's ts may be any digits; past what `SystemTime` holds it
    // is no time (found by fuzzing: `UNIX_EPOCH + …` panicked).
    UNIX_EPOCH.checked_add(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// What can be refused before the body is read: another method than POST (405), a body that
/// is neither a form nor JSON (415). A missing signature is only known after the body: Slack's
/// `ssl_check` comes unsigned.
pub(crate) fn precheck(method: &Method, headers: &http::HeaderMap) -> Option<Rejection> {
    if *method != Method::POST {
        return Some(Rejection::new(
            RejectReason::MethodNotAllowed,
            "Slack sends POST",
        ));
    }
    unsupported_media_type(
        headers,
        &["application/x-www-form-urlencoded", "application/json"],
    )
}

/// Handles one request to a Slack channel's webhook endpoint.
pub(crate) fn handle(inbound: &Inbound<'_>, request: &WebhookRequest) -> WebhookOutcome {
    if request.method != Method::POST {
        return WebhookOutcome::reject(RejectReason::MethodNotAllowed, "Slack sends POST");
    }
    let body = request.body.as_ref();
    let is_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let form: Vec<(String, String)> = if is_json {
        Vec::new()
    } else if let Some(r) = form_too_large(body) {
        // Counted before parsing (the form is parsed before the signature is checked).
        return WebhookOutcome::Rejected(r);
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    };
    // Slack's certificate check carries no signature; it gets a bare 200 and no event.
    if form.iter().any(|(k, v)| k == "ssl_check" && v == "1") {
        return WebhookOutcome::events(Vec::new());
    }
    if let Err(e) = signature::verify_keyed(
        inbound.signing_key,
        request.header(TIMESTAMP_HEADER),
        body,
        request.header(SIGNATURE_HEADER),
        request.received_at,
    ) {
        return WebhookOutcome::reject(e.reject_reason(), e.detail());
    }
    let ctx = Ctx {
        channel: inbound.channel,
        request,
    };
    let decoded = if is_json {
        json_body(&ctx, inbound, body)
    } else if let Some((_, payload)) = form.iter().find(|(k, _)| k == "payload") {
        interactivity::decode_payload(&ctx, inbound, payload)
    } else if form.iter().any(|(k, _)| k == "command") {
        interactivity::decode_command(&ctx, inbound, &form)
    } else {
        Err("expected JSON, a payload field or a slash command form".to_owned())
    };
    match decoded {
        Ok(Decoded::Events(events)) => WebhookOutcome::events(events),
        Ok(Decoded::Challenge(c)) => WebhookOutcome::handshake(WebhookResponse::text(c)),
        Ok(Decoded::Foreign(detail)) => {
            tracing::warn!(channel = %inbound.channel, %detail, "slack: request of another workspace or app refused");
            WebhookOutcome::reject(RejectReason::ForeignTenant, detail)
        }
        Err(detail) => WebhookOutcome::reject(RejectReason::Malformed, detail),
    }
}

pub(crate) enum Decoded {
    Events(Vec<InboundEvent>),
    Challenge(String),
    Foreign(String),
}

/// Why a request of `team_id`/`api_app_id` (an Events API envelope, an interaction, a slash
/// command) is not this channel's, if it is not. Checked only where the channel configures the
/// key and the request names one (Enterprise Grid org-wide requests may carry no team).
pub(crate) fn foreign(
    inbound: &Inbound<'_>,
    team_id: Option<&str>,
    api_app_id: Option<&str>,
) -> Option<String> {
    for (what, ours, theirs) in [
        ("workspace", inbound.team_id, team_id),
        ("app", inbound.app_id, api_app_id),
    ] {
        if let (Some(ours), Some(theirs)) = (ours, theirs)
            && ours != theirs
        {
            return Some(format!("{what} {theirs} is not this channel's ({ours})"));
        }
    }
    None
}

fn json_body(ctx: &Ctx<'_>, inbound: &Inbound<'_>, body: &[u8]) -> Result<Decoded, String> {
    let guard = &inbound.guard;
    // Parsed once: the typed envelope is read from the tree, which becomes the event's `raw`.
    let raw: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let envelope = Envelope::deserialize(&raw).map_err(|e| format!("invalid envelope: {e}"))?;
    match envelope.kind.as_str() {
        "url_verification" => envelope
            .challenge
            .clone()
            .map(Decoded::Challenge)
            .ok_or_else(|| "url_verification without challenge".to_owned()),
        "event_callback"
            if let Some(why) = foreign(
                inbound,
                envelope.team_id.as_deref(),
                envelope.api_app_id.as_deref(),
            ) =>
        {
            Ok(Decoded::Foreign(why))
        }
        "event_callback" => events::decode(ctx, guard, &envelope, raw)
            .map(|e| Decoded::Events(e.into_iter().collect())),
        _ => events::envelope_other(ctx, &envelope, raw).map(|e| Decoded::Events(vec![e])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_parses_to_microseconds() {
        let t = ts_time(Some("1515449522.000016")).unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_secs(1_515_449_522) + Duration::from_micros(16)
        );
        assert_eq!(ts_time(Some("1515449522000016")), None);
        assert_eq!(ts_time(Some("x.1")), None);
    }

    /// Found by fuzzing `webhook_slack`: a ts past what `SystemTime` holds panicked.
    #[test]
    fn a_ts_beyond_any_time_is_no_time_not_a_panic() {
        assert_eq!(ts_time(Some("18446744073709551615.999999")), None);
    }
}
