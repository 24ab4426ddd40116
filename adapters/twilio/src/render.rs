//! From a neutral message to Create Message requests for the conversation's capabilities (SMS/MMS
//! or WhatsApp, see [`crate::capabilities_for`]): content templates, smart
//! encoding and segment counts.

use switchboard_core::model::{AttachmentSource, OutboundMessage};
use switchboard_core::render::{self, Degradation, RenderPlan, RenderPolicy, TextPart, sms};
use switchboard_core::{Capabilities, Error, Result};

use crate::adapter::capabilities_for;
use crate::address::is_whatsapp;
use crate::config::TwilioConfig;
use crate::extension::TwilioContent;
use crate::reconcile::keyed_callback;
use crate::smart_encoding::smart_encode;
use crate::wire::CreateMessage;

/// A rendered message: the requests to make, in order, and the plan they came from.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) requests: Vec<CreateMessage>,
    pub(crate) plan: RenderPlan,
}

/// Renders `message` for conversation `to` under the channel's configuration.
pub(crate) fn render_message(
    config: &TwilioConfig,
    to: &str,
    message: &OutboundMessage,
) -> Result<Rendered> {
    let caps = capabilities_for(to);
    let has_bytes = message
        .attachments
        .iter()
        .any(|a| matches!(a.source, AttachmentSource::Bytes(_)));
    if has_bytes && config.render != RenderPolicy::Drop {
        return Err(Error::unsupported(
            "attachments given as bytes: Twilio fetches media from a public URL and the engine \
             cannot host media yet; give the attachment as an http(s) URL",
        )
        .with_provider(crate::PROVIDER));
    }
    let whatsapp = is_whatsapp(to);
    let smart = config.smart_encoding && !whatsapp;
    let mut plan = render::render(message, &caps, config.render)?;
    if smart {
        smart_encode_parts(&mut plan, &caps);
    }
    let base = CreateMessage {
        to: to.to_owned(),
        from: config.sender.from().map(str::to_owned),
        messaging_service_sid: config.sender.messaging_service_sid().map(str::to_owned),
        status_callback: config.status_callback.clone(),
        smart_encoded: smart,
        ..CreateMessage::default()
    };
    if let Some(content) = message.extensions.get::<TwilioContent>() {
        let content = content?;
        let variables =
            if content.variables.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&content.variables).map_err(|e| {
                    Error::invalid_message("extensions.twilio.content.variables", e)
                })?)
            };
        let request = CreateMessage {
            content_sid: Some(content.content_sid),
            content_variables: variables,
            smart_encoded: false,
            ..base
        };
        let mut requests = vec![request];
        carry_outbox_key(&mut requests, message);
        return Ok(Rendered { requests, plan });
    }
    let media: Vec<String> = plan
        .attachments
        .iter()
        .filter_map(|a| a.as_url().map(str::to_owned))
        .collect();
    let mut requests: Vec<CreateMessage> = plan
        .parts
        .iter()
        .map(|part| CreateMessage {
            body: Some(part.text.clone()),
            segments: (!whatsapp).then(|| sms::analyze(&part.text).segments),
            ..base.clone()
        })
        .collect();
    if requests.is_empty() && !media.is_empty() {
        requests.push(CreateMessage {
            segments: None,
            ..base.clone()
        });
    }
    if let Some(first) = requests.first_mut() {
        first.media_urls = media;
    }
    carry_outbox_key(&mut requests, message);
    Ok(Rendered { requests, plan })
}

/// Puts the message's outbox key (and each part's index) in the query of every request's
/// `StatusCallback` URL, so that Twilio's status callbacks prove which send a message belongs to.
/// Without a `StatusCallback` the key has nowhere to go at Twilio.
fn carry_outbox_key(requests: &mut [CreateMessage], message: &OutboundMessage) {
    let Some(key) = message.idempotency_key.as_deref() else {
        return;
    };
    let parts = requests.len();
    for (i, request) in requests.iter_mut().enumerate() {
        if let Some(base) = &request.status_callback {
            request.status_callback = Some(keyed_callback(base, key, i, parts));
        }
    }
}

/// Applies smart encoding to every text part of an SMS plan, so that its segment counts are
/// those of the text sent. A replacement can be longer than what it replaces (`…` → `...`,
/// `½` → `1/2`), so a part that grows past the body limit is split again.
fn smart_encode_parts(plan: &mut RenderPlan, caps: &Capabilities) {
    let before = plan.parts.len();
    plan.parts = plan
        .parts
        .iter()
        .flat_map(|part| render::split(&smart_encode(&part.text), caps.text.max, caps.text.unit))
        .map(|text| TextPart {
            length: caps.text.unit.measure(&text),
            sms: Some(sms::analyze(&text)),
            text,
        })
        .collect();
    let after = plan.parts.len();
    if after != before {
        plan.degradations
            .retain(|d| !matches!(d, Degradation::Split { .. }));
        if after > 1 {
            plan.degradations.push(Degradation::Split { parts: after });
        }
    }
}

#[cfg(test)]
mod tests;
