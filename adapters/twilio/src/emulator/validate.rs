//! Create Message validation as the API documents it, and the Message resource it answers.

use std::time::SystemTime;

use switchboard_core::render::sms;

use super::state::ApiFailure;
use crate::adapter::{MAX_BODY_CHARS, MAX_MEDIA_SMS};
use crate::address::is_recipient_address;
use crate::address::is_whatsapp;
use crate::date::format_rfc2822;
use crate::smart_encoding::smart_encode;
use crate::wire::MessageResource;

/// A validated Create Message request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreateRequest {
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) body: Option<String>,
    pub(crate) media: Vec<String>,
    pub(crate) content_sid: Option<String>,
    pub(crate) status_callback: Option<String>,
    pub(crate) smart_encoded: bool,
}

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Validates the form of a Create Message request against what the account owns.
pub(crate) fn validate_create(
    params: &[(String, String)],
    numbers: &[String],
    services: &[String],
) -> Result<CreateRequest, ApiFailure> {
    let Some(to) = first(params, "To") else {
        return Err(ApiFailure::new(
            400,
            21604,
            "A 'To' phone number is required.",
        ));
    };
    if !is_recipient_address(to) {
        return Err(ApiFailure::new(
            400,
            21211,
            format!("Invalid 'To' Phone Number: {to}"),
        ));
    }
    let from = first(params, "From");
    let service = first(params, "MessagingServiceSid");
    if from.is_none() && service.is_none() {
        return Err(ApiFailure::new(
            400,
            21603,
            "A 'From' phone number is required.",
        ));
    }
    if let Some(f) = from {
        if !numbers.iter().any(|n| n == f) {
            return Err(ApiFailure::new(
                400,
                21606,
                format!(
                    "The From phone number {f} is not a valid, SMS-capable inbound phone number \
                     or short code for your account."
                ),
            ));
        }
        if is_whatsapp(f) != is_whatsapp(to) {
            return Err(ApiFailure::new(
                400,
                21910,
                "Invalid From and To pair. From and To should be of the same channel",
            ));
        }
    }
    if let Some(s) = service
        && !services.iter().any(|n| n == s)
    {
        return Err(ApiFailure::new(
            404,
            20404,
            format!("The requested resource /Services/{s} was not found"),
        ));
    }
    let body = first(params, "Body");
    let media: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.clone())
        .collect();
    let content_sid = first(params, "ContentSid");
    if body.is_none() && media.is_empty() && content_sid.is_none() {
        return Err(ApiFailure::new(
            400,
            21619,
            "A Message Body, Media URL or Content SID is required",
        ));
    }
    if let Some(b) = body
        && b.encode_utf16().count() > MAX_BODY_CHARS
    {
        return Err(ApiFailure::new(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit",
        ));
    }
    let max_media = if is_whatsapp(to) { 1 } else { MAX_MEDIA_SMS };
    if media.len() > max_media {
        return Err(ApiFailure::new(
            400,
            21623,
            format!("Too many media: at most {max_media} MediaUrl per message"),
        ));
    }
    for m in &media {
        let ok = url::Url::parse(m)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(ApiFailure::new(
                400,
                21620,
                format!("Invalid media URL(s): {m}"),
            ));
        }
    }
    Ok(CreateRequest {
        to: to.to_owned(),
        from: from.map(str::to_owned),
        service: service.map(str::to_owned),
        body: body.map(str::to_owned),
        media,
        content_sid: content_sid.map(str::to_owned),
        status_callback: first(params, "StatusCallback").map(str::to_owned),
        smart_encoded: first(params, "SmartEncoded") == Some("true"),
    })
}

/// Segments Twilio bills for a request (`"1"` for WhatsApp, media-only and template messages).
pub(crate) fn segments(req: &CreateRequest) -> u32 {
    match &req.body {
        Some(b) if !is_whatsapp(&req.to) => {
            let text = if req.smart_encoded {
                smart_encode(b)
            } else {
                b.clone()
            };
            sms::analyze(&text).segments.max(1)
        }
        _ => 1,
    }
}

/// The 201 resource of a created message.
pub(crate) fn resource(
    account_sid: &str,
    sid: &str,
    req: &CreateRequest,
    now: SystemTime,
) -> MessageResource {
    let date = format_rfc2822(now);
    let uri = format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json");
    MessageResource {
        sid: sid.to_owned(),
        account_sid: account_sid.to_owned(),
        api_version: Some("2010-04-01".to_owned()),
        body: Some(req.body.clone().unwrap_or_default()),
        status: if req.from.is_some() {
            "queued"
        } else {
            "accepted"
        }
        .to_owned(),
        num_segments: Some(if req.from.is_some() {
            segments(req).to_string()
        } else {
            "0".to_owned()
        }),
        num_media: Some(req.media.len().to_string()),
        direction: Some("outbound-api".to_owned()),
        from: req.from.clone(),
        to: Some(req.to.clone()),
        messaging_service_sid: req.service.clone(),
        date_created: Some(date.clone()),
        // As in the spec's 201 examples: set at once unless the message is scheduled.
        date_sent: Some(date.clone()),
        date_updated: Some(date),
        error_code: None,
        error_message: None,
        price: None,
        price_unit: Some("USD".to_owned()),
        subresource_uris: Some(serde_json::json!({
            "media": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json")
        })),
        uri: Some(uri),
    }
}

#[cfg(test)]
mod tests;
