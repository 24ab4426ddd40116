//! Shared setup of the tests that run the adapter against the emulator.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use switchboard_core::{ChannelTable, ConversationRef};
use switchboard_slack::SlackAdapter;
use switchboard_slack::emulator::{Emulator, EmulatorOptions, RateLimit};

/// An emulator (posting limit `burst` per channel) and an adapter pointed at it, with the
/// bot's ids configured when `identity`.
pub(crate) async fn setup(identity: bool, burst: u32) -> (Emulator, SlackAdapter) {
    let em = Emulator::start(EmulatorOptions {
        rate_limit: Some(RateLimit {
            per_second: 1.0,
            burst,
        }),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let ids = if identity {
        "bot_user_id = 'U0EMUBOT'\nbot_id = 'B0EMUBOT'\n"
    } else {
        ""
    };
    let t = ChannelTable::from_toml_str(
        "team",
        &format!(
            "provider = 'slack'\nbot_token = 'xoxb-emulator-token'\nsigning_secret = 'emulator-signing-secret'\n{ids}api_base_url = '{}'",
            em.base_url()
        ),
    )
    .unwrap();
    (em, SlackAdapter::from_table(t).unwrap())
}

/// A conversation on the test channel.
pub(crate) fn to(conv: &str) -> ConversationRef {
    ConversationRef::parse("team", conv).unwrap()
}
