//! The one error type of Switchboard: a kind, a retry class, the provider's own code and a
//! source chain.

use std::fmt;
use std::time::Duration;

use crate::model::SentMessage;

/// The longest `retry_after` an [`Error`] carries (24 hours): longer ones are cut to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A `Result` whose error is Switchboard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is wrong (unknown key, missing secret, bad value).
    InvalidConfig,
    /// The message cannot be sent as built (empty, too long, bad URL, rejected by the provider).
    InvalidMessage,
    /// The operation or content is not supported by this adapter or channel.
    Unsupported,
    /// The credentials were refused.
    Unauthenticated,
    /// The credentials are valid but not allowed to do this.
    PermissionDenied,
    /// The recipient, conversation or message does not exist.
    NotFound,
    /// The provider asked us to slow down.
    RateLimited,
    /// A provider policy forbids this now: a closed messaging window, an opted-out recipient.
    PolicyViolation,
    /// The network failed.
    Transport,
    /// The provider did not answer in time.
    Timeout,
    /// The provider failed or answered something we do not understand.
    Provider,
    /// An inbound webhook was rejected.
    Webhook,
    /// A URL was refused before any request: an internal address (loopback, private,
    /// link-local…), a scheme other than `https`, or too many redirects (see `fetch`).
    UnsafeUrl,
    /// Content larger than the channel's cap: an attachment download over the adapter's
    /// media limit (see `fetch::FetchPolicy::max_bytes`). The message names the cap.
    TooLarge,
    /// The recipient opted out of messages from this sender (an SMS `STOP`): nothing may be
    /// sent until they opt in again (`START`). Checked before any request (see
    /// [`crate::policy`]); a provider's own refusal for the same reason (Twilio 21610) maps
    /// here too. Distinct from `PolicyViolation` because only the customer can lift it: no
    /// template or tag gets a message through.
    OptedOut,
    /// The tenant a send or a webhook names (a Slack workspace, a Page) has no installation on
    /// this channel: never installed, uninstalled or its token revoked. Permanent until the
    /// tenant installs the app again (see [`crate::install`]).
    NotInstalled,
}

impl ErrorKind {
    /// A short, stable, snake_case name (used in logs, metrics and notices).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidMessage => "invalid_message",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::PolicyViolation => "policy_violation",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Provider => "provider",
            ErrorKind::Webhook => "webhook",
            ErrorKind::UnsafeUrl => "unsafe_url",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::OptedOut => "opted_out",
            ErrorKind::NotInstalled => "not_installed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an operation that failed may be tried again, and what that would risk.
///
/// Chat messages are not idempotent: a send that *may* have reached the provider is
/// [`Retry::Ambiguous`], and retrying it blindly may deliver it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Retry {
    /// Trying again cannot succeed without a change (bad input, bad credentials, policy).
    Never,
    /// Certainly not delivered; trying again (after `retry_after`, if any) is safe.
    Safe,
    /// May have been delivered; a retry may duplicate it unless it is reconciled first.
    Ambiguous,
}

/// The error of every Switchboard operation.
///
/// `Display` is one line and never contains a secret: adapters put provider messages in it, never
/// credentials or request bodies.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    retry: Retry,
    message: String,
    provider: Option<&'static str>,
    provider_code: Option<String>,
    retry_after: Option<Duration>,
    partial: Vec<SentMessage>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a one-line message. The retry class defaults to what the kind
    /// implies: `Safe` for `RateLimited`, `Ambiguous` for `Timeout` and `Provider`, `Never` otherwise.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let retry = match kind {
            ErrorKind::RateLimited => Retry::Safe,
            ErrorKind::Timeout | ErrorKind::Provider => Retry::Ambiguous,
            _ => Retry::Never,
        };
        Error(Box::new(Inner {
            kind,
            retry,
            message: message.into(),
            provider: None,
            provider_code: None,
            retry_after: None,
            partial: Vec::new(),
            source: None,
        }))
    }

    /// `InvalidConfig` naming the channel and the key: `channels.sms: missing key 'from'`.
    pub fn config(channel: &str, message: impl fmt::Display) -> Self {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("channels.{channel}: {message}"),
        )
    }

    /// `InvalidMessage` naming the field that is wrong.
    pub fn invalid_message(field: &str, message: impl fmt::Display) -> Self {
        Error::new(ErrorKind::InvalidMessage, format!("{field}: {message}"))
    }

    /// `Unsupported`: `what` cannot be done by this adapter or channel.
    pub fn unsupported(what: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Unsupported, format!("unsupported: {what}"))
    }

    /// Sets the retry class.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.0.retry = retry;
        self
    }

    /// Sets the provider that produced the error (its registry name, e.g. `"slack"`).
    pub fn with_provider(mut self, provider: &'static str) -> Self {
        self.0.provider = Some(provider);
        self
    }

    /// Sets the provider's own error code (`"channel_not_found"`, `"21610"`, `"100/2018001"`).
    pub fn with_provider_code(mut self, code: impl Into<String>) -> Self {
        self.0.provider_code = Some(code.into());
        self
    }

    /// Sets how long the provider asked us to wait, at most [`MAX_RETRY_AFTER`] (a provider, or
    /// anything between it and us, may send any number; no wait is longer than a day).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after.min(MAX_RETRY_AFTER));
        self
    }

    /// Records the parts of a multi-part send that were delivered before this error.
    ///
    /// A send that failed after some parts went out is no longer safe to repeat whole, so a
    /// `Safe` retry class becomes `Ambiguous` unless the caller resumes from
    /// [`partial`](Self::partial).
    pub fn with_partial(mut self, sent: Vec<SentMessage>) -> Self {
        if !sent.is_empty() && self.0.retry == Retry::Safe {
            self.0.retry = Retry::Ambiguous;
        }
        self.0.partial = sent;
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Whether trying again is safe, useless, or may duplicate.
    pub fn retry(&self) -> Retry {
        self.0.retry
    }

    /// How long the provider asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The provider's own error code, if it gave one.
    pub fn provider_code(&self) -> Option<&str> {
        self.0.provider_code.as_deref()
    }

    /// The provider that produced this error, if any.
    pub fn provider(&self) -> Option<&'static str> {
        self.0.provider
    }

    /// The one-line message, without kind or provider.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Parts of a multi-part send that were delivered before the failure.
    pub fn partial(&self) -> &[SentMessage] {
        &self.0.partial
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(provider) = self.0.provider {
            write!(f, "{provider}: ")?;
        }
        write!(
            f,
            "{}: {}",
            self.0.kind,
            self.0.message.replace(['\n', '\r'], " ")
        )?;
        if let Some(code) = &self.0.provider_code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("retry", &self.0.retry)
            .field("message", &self.0.message);
        if let Some(p) = self.0.provider {
            d.field("provider", &p);
        }
        if let Some(c) = &self.0.provider_code {
            d.field("provider_code", c);
        }
        if let Some(r) = self.0.retry_after {
            d.field("retry_after", &r);
        }
        if !self.0.partial.is_empty() {
            d.field("partial", &self.0.partial.len());
        }
        if let Some(s) = &self.0.source {
            d.field("source", &s.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, item 13: no provider can make an error carry a wait beyond a day.
    #[test]
    fn retry_after_is_capped() {
        let e = Error::new(ErrorKind::RateLimited, "slow down").with_retry_after(Duration::MAX);
        assert_eq!(e.retry_after(), Some(MAX_RETRY_AFTER));
        let e = Error::new(ErrorKind::RateLimited, "slow down")
            .with_retry_after(Duration::from_secs(3));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn display_is_one_line_with_provider_and_code() {
        let e = Error::new(ErrorKind::NotFound, "no such\nchannel")
            .with_provider("slack")
            .with_provider_code("channel_not_found");
        assert_eq!(
            e.to_string(),
            "slack: not_found: no such channel (code channel_not_found)"
        );
    }

    #[test]
    fn default_retry_follows_kind() {
        assert_eq!(Error::new(ErrorKind::RateLimited, "x").retry(), Retry::Safe);
        assert_eq!(
            Error::new(ErrorKind::Timeout, "x").retry(),
            Retry::Ambiguous
        );
        assert_eq!(Error::new(ErrorKind::NotFound, "x").retry(), Retry::Never);
    }

    #[test]
    fn source_chain_is_kept() {
        let io = std::io::Error::other("socket closed");
        let e = Error::new(ErrorKind::Transport, "send failed").with_source(io);
        let src = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(src.as_deref(), Some("socket closed"));
    }
}
