//! The gateway through the `switchboard` binary: the `gateway` commands on a store
//! ([`commands`]), and `switchboard serve` SIGKILLed while it forwards events to a misbehaving
//! receiver ([`forward_crash`]) and while applications send with `Idempotency-Key`
//! ([`idempotent_sends`]).
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod commands;
mod forward_crash;
mod idempotent_sends;
mod world;
