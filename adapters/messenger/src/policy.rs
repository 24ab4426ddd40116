//! Messenger's messaging windows, declared to the engine ([`Adapter::send_policy`]) so that a
//! send outside them fails before any request:
//!
//! | the send | allowed until, after the user's last message |
//! |---|---|
//! | `RESPONSE` or `UPDATE` (the default) | 24 hours (the standard messaging window) |
//! | `MESSAGE_TAG` with `HUMAN_AGENT` | 7 days |
//! | `MESSAGE_TAG` with another tag (`ACCOUNT_UPDATE`, …) | not bound to the window |
//!
//! A message marked [`HumanAgent`](switchboard_core::policy::HumanAgent) (what the support
//! bridge puts on agents' replies) and without its own [`SendOptions`] is sent as
//! `MESSAGE_TAG` / `HUMAN_AGENT`: a person answering from another tool is what the tag is for.
//! The Page's app needs Meta's Human Agent permission for that tag.
//!
//! Not modelled: the longer window Meta gives a conversation opened by a Click-to-Messenger ad
//! (the adapter does not track ad referrals), so such conversations get the standard 24 hours.
//!
//! [`Adapter::send_policy`]: switchboard_core::Adapter::send_policy
//! [`SendOptions`]: crate::SendOptions

use std::time::Duration;

use switchboard_core::OutboundMessage;
use switchboard_core::policy::{SendPolicy, Window};

use crate::extension::MessagingType;
use crate::render::send_options;

/// The standard messaging window: 24 hours after the user's last message.
pub const STANDARD_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How long after the user's last message a `HUMAN_AGENT` tagged message may be sent: 7 days.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The tag for a human agent's reply.
pub const HUMAN_AGENT_TAG: &str = "HUMAN_AGENT";

/// The window a send of `message` falls under (see the module docs). A message whose options
/// are malformed gets the standard window; its send fails `InvalidMessage` anyway.
pub fn send_policy(message: &OutboundMessage) -> SendPolicy {
    let window = match send_options(message) {
        Ok(o) if o.messaging_type == MessagingType::MessageTag => match o.tag.as_deref() {
            Some(HUMAN_AGENT_TAG) => Some(Window::new(
                HUMAN_AGENT_WINDOW,
                "7-day window for a human agent's reply (HUMAN_AGENT)",
            )),
            _ => None,
        },
        _ => Some(Window::new(STANDARD_WINDOW, "24-hour window")),
    };
    SendPolicy::open().with_window(window)
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use switchboard_core::policy::{Contact, HumanAgent};
    use switchboard_core::{ErrorKind, OutboundMessage};

    use super::*;
    use crate::SendOptions;

    const HOUR: Duration = Duration::from_secs(3600);

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    fn check(message: &OutboundMessage, ago: Duration) -> switchboard_core::Result<()> {
        send_policy(message).check(&Contact::new(Some(now() - ago), None), now())
    }

    fn plain() -> OutboundMessage {
        OutboundMessage::text("hello").unwrap()
    }

    #[test]
    fn a_plain_reply_is_allowed_for_24_hours() {
        assert!(check(&plain(), HOUR * 23).is_ok());
        let e = check(&plain(), HOUR * 25).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PolicyViolation);
        assert!(e.message().contains("24-hour window closed on"), "{e}");
        let update = OutboundMessage::builder()
            .text("x")
            .extension(&SendOptions::update())
            .build()
            .unwrap();
        assert_eq!(
            check(&update, HOUR * 25).unwrap_err().kind(),
            ErrorKind::PolicyViolation
        );
    }

    #[test]
    fn human_agent_is_allowed_for_7_days_whether_tagged_or_marked() {
        let tagged = OutboundMessage::builder()
            .text("x")
            .extension(&SendOptions::tag(HUMAN_AGENT_TAG))
            .build()
            .unwrap();
        let marked = OutboundMessage::builder()
            .text("x")
            .extension(&HumanAgent {})
            .build()
            .unwrap();
        for m in [&tagged, &marked] {
            assert!(check(m, HOUR * 24 * 3).is_ok());
            assert!(check(m, HOUR * 24 * 7).is_ok());
            let e = check(m, HOUR * 24 * 8).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PolicyViolation);
            assert!(e.message().contains("HUMAN_AGENT"), "{e}");
        }
    }

    #[test]
    fn other_tags_are_not_bound_to_the_window() {
        let m = OutboundMessage::builder()
            .text("x")
            .extension(&SendOptions::tag("ACCOUNT_UPDATE"))
            .build()
            .unwrap();
        assert!(send_policy(&m).window.is_none());
        assert!(check(&m, HOUR * 24 * 30).is_ok());
    }
}
