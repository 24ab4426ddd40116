//! Twilio's sending policies, declared to the engine so that a send they forbid fails before
//! any request:
//!
//! - **WhatsApp** (`whatsapp:` conversations): a free-form message only within 24 hours of the
//!   customer's last message; outside it only an approved template ([`TwilioContent`],
//!   `ContentSid`) may be sent (Twilio answers 63016 otherwise).
//! - **SMS opt-out keywords**: a customer who texts `STOP` (or `STOPALL`, `UNSUBSCRIBE`,
//!   `CANCEL`, `END`, `QUIT`) is opted out of messages from that number (Twilio refuses them
//!   with 21610); `START`, `UNSTOP` or `YES` opt back in; `HELP` and `INFO` are marked on the
//!   event for the application and change nothing. A keyword counts when it is the whole
//!   message (trimmed, any case), as Twilio matches it; where Twilio's Advanced Opt-Out names
//!   the keyword's type (`OptOutType`), that wins. Opt-outs are kept per (channel, our number,
//!   customer number): the consent scope is our number, the `To` of the customer's message
//!   (the Messaging Service SID for a channel that sends through a service without a `From`).
//!
//! [`TwilioContent`]: crate::TwilioContent

use std::time::Duration;

use switchboard_core::model::{EventKind, Extension as _};
use switchboard_core::policy::{ConsentAction, ConsentChange, SendPolicy, Window};
use switchboard_core::{InboundEvent, OutboundMessage};

use crate::address::is_whatsapp;
use crate::config::TwilioConfig;
use crate::extension::TwilioContent;

/// WhatsApp's customer service window: 24 hours after the customer's last message.
pub const WHATSAPP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Keywords that opt the sender out (Twilio's defaults).
pub const OPT_OUT_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// Keywords that opt back in.
pub const OPT_IN_KEYWORDS: &[&str] = &["START", "UNSTOP", "YES"];

/// Keywords that ask for help.
pub const HELP_KEYWORDS: &[&str] = &["HELP", "INFO"];

/// What a message's text does as a keyword, and the keyword upper-cased: only a message that is
/// one keyword alone (surrounding whitespace aside, any case).
pub fn keyword(body: &str) -> Option<(ConsentAction, String)> {
    let word = body.trim().to_ascii_uppercase();
    let action = if OPT_OUT_KEYWORDS.contains(&word.as_str()) {
        ConsentAction::OptOut
    } else if OPT_IN_KEYWORDS.contains(&word.as_str()) {
        ConsentAction::OptIn
    } else if HELP_KEYWORDS.contains(&word.as_str()) {
        ConsentAction::Help
    } else {
        return None;
    };
    Some((action, word))
}

/// The scope our sends' opt-outs are kept under: the `From` number, else the Messaging
/// Service.
pub(crate) fn send_scope(config: &TwilioConfig) -> Option<&str> {
    config
        .sender
        .from()
        .or_else(|| config.sender.messaging_service_sid())
}

/// The policy of a send to `conversation` (see the module docs).
pub(crate) fn send_policy(
    config: &TwilioConfig,
    conversation: &str,
    message: &OutboundMessage,
) -> SendPolicy {
    if is_whatsapp(conversation) {
        let template = message.extensions.contains_key(TwilioContent::KEY);
        let window = (!template).then(|| Window::new(WHATSAPP_WINDOW, "24-hour window"));
        return SendPolicy::open().with_window(window);
    }
    match send_scope(config) {
        Some(scope) => SendPolicy::open().with_consent_scope(scope),
        None => SendPolicy::open(),
    }
}

/// The consent change an inbound SMS makes, if it is a keyword message.
pub(crate) fn consent_of(config: &TwilioConfig, event: &InboundEvent) -> Option<ConsentChange> {
    if is_whatsapp(event.conversation.conversation.as_str()) {
        return None;
    }
    let EventKind::Message(m) = &event.kind else {
        return None;
    };
    let text = m.text.as_deref()?;
    // Advanced Opt-Out names the type of its own (possibly custom) keywords.
    let (action, word) = match event
        .attributes
        .get("twilio.opt_out_type")
        .map(String::as_str)
    {
        Some("STOP") => (ConsentAction::OptOut, text.trim().to_uppercase()),
        Some("START") => (ConsentAction::OptIn, text.trim().to_uppercase()),
        Some("HELP") => (ConsentAction::Help, text.trim().to_uppercase()),
        _ => keyword(text)?,
    };
    let scope = match config.sender.from() {
        Some(_) => event.attributes.get("twilio.to")?.clone(),
        None => send_scope(config)?.to_owned(),
    };
    Some(ConsentChange::new(action, word, scope))
}

#[cfg(test)]
mod tests;
