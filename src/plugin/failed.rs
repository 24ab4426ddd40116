//! [`FailedSend`]: what [`on_dead_letter`](super::Plugin::on_dead_letter) is told.

use switchboard_core::{ConversationRef, Error, ErrorKind, OutboundMessage};

/// An outbound message the sender gave up on (its dead letter is committed): what
/// [`Plugin::on_dead_letter`](super::Plugin::on_dead_letter) gets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailedSend {
    /// The outbox key: `{channel}:{event id}:{index}` for a handler's reply,
    /// `{channel}/plugin/{name}/{event id}/{index}` for a plugin's, `{channel}/app/{key}` for
    /// [`Switchboard::send`](crate::Switchboard::send); the dead letter's
    /// [`key`](crate::DeadLetter::key).
    pub key: String,
    /// Where it was going: the channel, the conversation and the thread.
    pub to: ConversationRef,
    /// The message as it was queued (extensions included).
    pub message: OutboundMessage,
    /// Send attempts made (0 when it was given up before any).
    pub attempts: u32,
    /// What went wrong. For a send given up because its outcome stayed unknown (a send that may
    /// have reached the provider and is not resent), the last attempt's kind, or `Timeout` when
    /// the engine decided without one (the attempts ran out while settling it).
    pub kind: ErrorKind,
    /// The error as the dead letter records it (one line: kind, message, provider code, and
    /// the engine's note on why it stopped).
    pub error: String,
    /// The error's message alone, in words (no kind or provider prefix): for a policy refusal,
    /// `the customer's 24-hour window closed on …`.
    pub reason: String,
    /// The provider's own error code, when it gave one.
    pub provider_code: Option<String>,
    /// No request was made: the channel's policy refused the send (a closed messaging window,
    /// an opted-out recipient), or the channel is gone.
    pub before_request: bool,
    /// The provider may have it (or some of its parts): an ambiguous failure, or one after some
    /// parts were sent, that the engine does not resend to avoid a duplicate.
    pub maybe_delivered: bool,
}

impl FailedSend {
    /// A failed send of `message` under `key` to `to`, for `error` (for tests of a plugin's
    /// hook; the engine builds its own).
    pub fn new(
        key: impl Into<String>,
        to: ConversationRef,
        message: OutboundMessage,
        error: &Error,
    ) -> Self {
        FailedSend {
            key: key.into(),
            to,
            message,
            attempts: 1,
            kind: error.kind(),
            error: error.to_string(),
            reason: error.message().to_owned(),
            provider_code: error.provider_code().map(str::to_owned),
            before_request: false,
            maybe_delivered: false,
        }
    }
}
