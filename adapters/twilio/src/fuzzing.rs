//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the crate-private renderer
//! and smart encoding, reachable without a network. Not a stable API.

use switchboard_core::{OutboundMessage, Result};

use crate::config::TwilioConfig;

/// One Create Message request of a rendered send, as the fuzz targets check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    /// `Body`, when the request carries text.
    pub body: Option<String>,
    /// The `MediaUrl`s.
    pub media_urls: Vec<String>,
    /// The segments computed locally (SMS only).
    pub segments: Option<u32>,
    /// Whether the body was smart-encoded.
    pub smart_encoded: bool,
}

/// The requests that sending `message` to conversation `to` under `config` makes, in order.
///
/// # Errors
///
/// As the adapter's send: byte attachments, invalid extensions, `Unsupported` under `strict`.
pub fn render_requests(
    config: &TwilioConfig,
    to: &str,
    message: &OutboundMessage,
) -> Result<Vec<RenderedRequest>> {
    let rendered = crate::render::render_message(config, to, message)?;
    Ok(rendered
        .requests
        .into_iter()
        .map(|r| RenderedRequest {
            body: r.body,
            media_urls: r.media_urls,
            segments: r.segments,
            smart_encoded: r.smart_encoded,
        })
        .collect())
}

/// `text` with every look-alike in Twilio's smart-encoding table replaced.
pub fn smart_encode(text: &str) -> String {
    crate::smart_encoding::smart_encode(text)
}
