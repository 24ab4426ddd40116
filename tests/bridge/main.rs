//! The support bridge's integration tests, one test binary with a module per topic, over the
//! Slack, Messenger and Twilio emulators ([`world`]).
//! `cargo test -p switchboard --all-features --test bridge`.
#![cfg(all(
    feature = "emulators",
    feature = "slack",
    feature = "messenger",
    feature = "twilio"
))]
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod world;

mod e2e;
mod failures;
mod hostile_text;
mod plugins;
mod policy;
