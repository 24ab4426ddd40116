//! Provider policies checked before a send: messaging windows and opt-outs.
//!
//! Some channels only accept a message while the customer's last message is recent (Messenger:
//! 24 hours, or 7 days for a human agent's reply tagged `HUMAN_AGENT`; WhatsApp: 24 hours unless
//! the message is an approved template), and SMS recipients opt out by texting `STOP`. The
//! provider refuses such a send, but only after the request (and sometimes after it was
//! billed); Switchboard refuses it first, with an error that says why.
//!
//! The split of the work:
//! - **The adapter declares** the policy of one send with [`Adapter::send_policy`]: the
//!   [`Window`] it must fall in (which depends on the message: a tag, a template) and the
//!   consent scope its opt-outs are kept under (SMS: our sending number). The default reads
//!   [`Capabilities::messaging_window`]. Inbound, it marks keyword messages with a
//!   [`ConsentChange`] ([`InboundEvent::consent`]).
//! - **The store keeps the facts**: each conversation's last inbound time (updated in the
//!   same transaction as the inbound insert, see [`counts_as_inbound`]) and the latest opt-out
//!   or opt-in per (conversation, scope).
//! - **The engine checks** [`SendPolicy::check`] with those facts before any request, through
//!   [`Adapter::check_send`], so a wrapper (the support bridge) can tell a person why. A
//!   refusal is [`ErrorKind::PolicyViolation`] (closed window) or [`ErrorKind::OptedOut`], with
//!   retry class [`Retry::Never`](crate::Retry::Never): the message is not sent and not retried.
//!
//! A conversation with no inbound message on record (it predates the store's tracking, or the
//! store does not track) is not refused here: the provider, which knows, decides, and its
//! refusal maps to the same error kinds.
//!
//! [`Adapter::send_policy`]: crate::Adapter::send_policy
//! [`Adapter::check_send`]: crate::Adapter::check_send
//! [`Capabilities::messaging_window`]: crate::Capabilities::messaging_window
//! [`InboundEvent::consent`]: crate::InboundEvent::consent

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EventKind, Extension, InboundEvent};

/// A messaging window: a message may be sent only `limit` after the customer's last message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// How long after the customer's last inbound message sending stays allowed.
    pub limit: Duration,
    /// What the window is called in errors and notices (`"24-hour window"`).
    pub name: Cow<'static, str>,
}

impl Window {
    /// A window of `limit` named `name`.
    pub fn new(limit: Duration, name: impl Into<Cow<'static, str>>) -> Self {
        Window {
            limit,
            name: name.into(),
        }
    }

    /// A window of `limit` named after its length: `"24-hour window"`, `"7-day window"`.
    pub fn of(limit: Duration) -> Self {
        let secs = limit.as_secs();
        let name = if secs >= 2 * 86_400 && secs.is_multiple_of(86_400) {
            format!("{}-day window", secs / 86_400)
        } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
            format!("{}-hour window", secs / 3_600)
        } else {
            format!("{secs}-second window")
        };
        Window::new(limit, name)
    }
}

/// The policy one send is under (see the [module docs](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendPolicy {
    /// The window the send must fall in (`None`: any time).
    pub window: Option<Window>,
    /// The scope recipients' opt-outs are kept under for this send (our sending number), or
    /// `None` when the channel has no opt-out keywords.
    pub consent_scope: Option<String>,
}

impl SendPolicy {
    /// No window and no opt-outs: anything may be sent at any time.
    pub fn open() -> Self {
        SendPolicy::default()
    }

    /// The policy the capabilities declare: their `messaging_window`, no opt-outs.
    pub fn from_capabilities(caps: &Capabilities) -> Self {
        SendPolicy {
            window: caps.messaging_window.map(Window::of),
            consent_scope: None,
        }
    }

    /// Sets (or clears) the window.
    pub fn with_window(mut self, window: Option<Window>) -> Self {
        self.window = window;
        self
    }

    /// Keeps opt-outs under `scope` (our sending number).
    pub fn with_consent_scope(mut self, scope: impl Into<String>) -> Self {
        self.consent_scope = Some(scope.into());
        self
    }

    /// Whether no check applies (the engine then reads nothing from the store).
    pub fn is_open(&self) -> bool {
        self.window.is_none() && self.consent_scope.is_none()
    }

    /// Checks a send at `now` against what the store knows of the customer.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::OptedOut`] when the consent scope is set and the recipient opted out
    ///   under it: `the customer texted STOP on 2026-12-03 20:15 UTC`.
    /// - [`ErrorKind::PolicyViolation`] when the window is set and the customer's last message
    ///   is older than it: `the customer's 24-hour window closed on … (last message …)`.
    ///
    /// Both have the retry class `Never`.
    pub fn check(&self, contact: &Contact, now: SystemTime) -> Result<()> {
        if self.consent_scope.is_some()
            && let Some(out) = &contact.opted_out
        {
            return Err(Error::new(
                ErrorKind::OptedOut,
                format!(
                    "the customer texted {} on {}; nothing may be sent until they text START",
                    out.keyword,
                    format_utc(out.at)
                ),
            ));
        }
        if let (Some(window), Some(last)) = (&self.window, contact.last_inbound) {
            let closes = last + window.limit;
            if closes < now {
                return Err(Error::new(
                    ErrorKind::PolicyViolation,
                    format!(
                        "the customer's {} closed on {} (last message {})",
                        window.name,
                        format_utc(closes),
                        format_utc(last)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What the store knows about a conversation's customer, for [`SendPolicy::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Contact {
    /// When the customer last wrote (the latest `at` of an event that
    /// [`counts_as_inbound`]), if any is on record.
    pub last_inbound: Option<SystemTime>,
    /// The opt-out in force under the asked scope, if the customer's latest keyword was one.
    pub opted_out: Option<OptOut>,
}

impl Contact {
    /// Facts: the last inbound time and the opt-out in force.
    pub fn new(last_inbound: Option<SystemTime>, opted_out: Option<OptOut>) -> Self {
        Contact {
            last_inbound,
            opted_out,
        }
    }
}

/// An opt-out in force: the keyword the customer sent and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    /// The keyword as the customer sent it, upper-cased (`STOP`, `UNSUBSCRIBE`).
    pub keyword: String,
    /// When.
    #[serde(with = "crate::model::time")]
    pub at: SystemTime,
}

/// What a keyword message does to the customer's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Stop sending (`STOP`, `UNSUBSCRIBE`, …): later sends fail with `OptedOut`.
    OptOut,
    /// Sending is allowed again (`START`, `UNSTOP`, `YES`).
    OptIn,
    /// A request for help (`HELP`, `INFO`): marked on the event for the application, no
    /// change of consent.
    Help,
}

/// A keyword message, as an adapter decoded it: what it does, the keyword, and the scope
/// (our number) it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// What it does.
    pub action: ConsentAction,
    /// The keyword, upper-cased.
    pub keyword: String,
    /// The scope it applies to: the same string the adapter's
    /// [`SendPolicy::consent_scope`] names for sends from that number.
    pub scope: String,
}

impl ConsentChange {
    /// A change `action` by `keyword` under `scope`.
    pub fn new(
        action: ConsentAction,
        keyword: impl Into<String>,
        scope: impl Into<String>,
    ) -> Self {
        ConsentChange {
            action,
            keyword: keyword.into(),
            scope: scope.into(),
        }
    }
}

/// Whether `event` is the customer's own message or action, which (re)opens messaging windows:
/// a message not sent by the business side or a bot, or a button, postback or quick reply.
/// Receipts, reactions, typing, edits and the engine's own events do not.
pub fn counts_as_inbound(event: &InboundEvent) -> bool {
    if event.sender.is_bot {
        return false;
    }
    match &event.kind {
        EventKind::Message(m) => !m.from_business,
        EventKind::Action(_) => true,
        _ => false,
    }
}

/// Marks a message as written by a person on the business side (an agent answering a
/// customer), not by automation. Adapters whose provider gives human agents a longer window
/// read it (Messenger sends it with the `HUMAN_AGENT` tag, allowed for 7 days); others
/// ignore it. The support bridge marks every agent's reply with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanAgent {}

impl Extension for HumanAgent {
    const KEY: &'static str = "switchboard.human_agent";
}

/// `2026-12-03 20:15 UTC`: how times read in policy errors.
pub fn format_utc(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::model::time::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests;
