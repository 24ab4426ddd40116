//! The contract every provider implements.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::capabilities::{Capabilities, RateHint};
use crate::error::{Error, Result};
use crate::install::{Installations, OAuthFlow};
use crate::model::{
    ChannelName, ConversationId, ConversationRef, InboundAttachment, MessageRef, OutboundMessage,
    OutboxKey, SendReceipt, SentMessage,
};
use crate::policy::{Contact, SendPolicy};
use crate::reconcile::{PendingSend, Reconciled};
use crate::webhook::{Rejection, WebhookOutcome, WebhookRequest};

/// Who an adapter is: its provider, the channel it serves and what it can do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdapterInfo {
    /// The provider's registry name (`"slack"`, `"messenger"`, `"twilio"`, `"memory"`).
    pub provider: &'static str,
    /// The configured channel this adapter serves.
    pub channel: ChannelName,
    /// What it can do (conversations may differ: see [`Adapter::capabilities_for`]).
    pub capabilities: Capabilities,
}

impl AdapterInfo {
    /// Info for `provider` serving `channel` with `capabilities`.
    pub fn new(provider: &'static str, channel: ChannelName, capabilities: Capabilities) -> Self {
        AdapterInfo {
            provider,
            channel,
            capabilities,
        }
    }
}

/// Downloaded inbound media.
#[derive(Clone, PartialEq, Eq)]
pub struct FetchedAttachment {
    /// The bytes.
    pub bytes: Bytes,
    /// The mime type the server gave, if any.
    pub mime_type: Option<String>,
}

impl fmt::Debug for FetchedAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedAttachment")
            .field("bytes", &self.bytes.len())
            .field("mime_type", &self.mime_type)
            .finish()
    }
}

/// A provider adapter: outbound operations and inbound webhook handling for one channel.
///
/// Object safe; used as `Arc<dyn Adapter>`. An operation the provider lacks returns
/// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) without any request, and its
/// capability flag is false. `Debug` must not print secrets.
#[async_trait]
pub trait Adapter: Send + Sync + fmt::Debug {
    /// Provider, channel and capabilities.
    fn info(&self) -> &AdapterInfo;

    /// The capabilities of one conversation (WhatsApp and SMS differ on one Twilio channel).
    fn capabilities_for(&self, conversation: &ConversationId) -> Capabilities {
        let _ = conversation;
        self.info().capabilities.clone()
    }

    /// The policy a send of `message` to `to` is under: the messaging window it must fall in
    /// and the scope opt-outs are kept under (see [`crate::policy`]). Pure, no I/O. The
    /// default is the conversation's [`Capabilities::messaging_window`] for every message and
    /// no opt-outs; adapters whose windows depend on the message (a tag, a template) or whose
    /// recipients opt out by keyword override it.
    fn send_policy(&self, to: &ConversationRef, message: &OutboundMessage) -> SendPolicy {
        let _ = message;
        SendPolicy::from_capabilities(&self.capabilities_for(&to.conversation))
    }

    /// Checks a send against its [`send_policy`](Self::send_policy) with what the store knows
    /// of the customer, before any request. The engine calls it right before
    /// [`send`](Self::send); a wrapper may override it to observe refusals (the support bridge
    /// tells the agent). The default is [`SendPolicy::check`].
    ///
    /// # Errors
    ///
    /// `PolicyViolation` for a closed window, `OptedOut` for an opted-out recipient; both
    /// `Retry::Never`.
    async fn check_send(
        &self,
        to: &ConversationRef,
        message: &OutboundMessage,
        contact: &Contact,
        now: SystemTime,
    ) -> Result<()> {
        self.send_policy(to, message).check(contact, now)
    }

    /// The outbound pacing this provider wants (the engine's default for the channel).
    fn rate_hint(&self) -> RateHint {
        RateHint::default()
    }

    /// Renders `message` for the conversation and sends it: one or more provider messages.
    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt>;

    /// Replaces the content of a sent message.
    async fn edit(&self, target: &MessageRef, message: &OutboundMessage) -> Result<SentMessage> {
        let _ = (target, message);
        Err(unsupported(self.info(), "edit"))
    }

    /// Deletes a sent message.
    async fn delete(&self, target: &MessageRef) -> Result<()> {
        let _ = target;
        Err(unsupported(self.info(), "delete"))
    }

    /// Adds (`add = true`) or removes a reaction, named as the provider names it.
    async fn react(&self, target: &MessageRef, reaction: &str, add: bool) -> Result<()> {
        let _ = (target, reaction, add);
        Err(unsupported(self.info(), "react"))
    }

    /// Shows a typing indicator in the conversation.
    async fn typing(&self, to: &ConversationRef) -> Result<()> {
        let _ = to;
        Err(unsupported(self.info(), "typing"))
    }

    /// Downloads inbound media, adding credentials only for the provider's own hosts.
    async fn fetch_attachment(&self, attachment: &InboundAttachment) -> Result<FetchedAttachment> {
        let _ = attachment;
        Err(unsupported(self.info(), "fetch_attachment"))
    }

    /// Proves the credentials with the provider's cheapest authenticated call (what
    /// `switchboard check --live` runs). The default is `Unsupported`.
    async fn verify_credentials(&self) -> Result<()> {
        Err(unsupported(self.info(), "verify_credentials"))
    }

    /// How long one send may be in progress at the provider: the adapter's request timeout
    /// (its longest, for sends of several requests). A process killed mid-send leaves its
    /// request running at the provider until then, so the engine holds a "not delivered"
    /// reconciliation of a send whose last attempt began less than this long ago and asks
    /// again later (see [`crate::reconcile::hold_in_flight`]). The default is
    /// [`DEFAULT_SEND_TIMEOUT`](crate::reconcile::DEFAULT_SEND_TIMEOUT); an in-process adapter
    /// whose send is over when `send` returns may answer zero.
    fn send_timeout(&self) -> Duration {
        crate::reconcile::DEFAULT_SEND_TIMEOUT
    }

    /// Looks up, at the provider, a send whose outcome is unknown (see [`crate::reconcile`]).
    ///
    /// Only adapters whose capabilities declare `reconcile` implement it; the default is
    /// `Unsupported`.
    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        let _ = (key, pending);
        Err(unsupported(self.info(), "reconcile"))
    }

    /// Answers a handshake, or verifies and decodes a webhook. Pure and synchronous: no I/O.
    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome;

    /// Hands a multi-tenant adapter the engine's installations (see [`crate::install`]): the
    /// engine calls it once, before serving, for every channel. The default ignores them (a
    /// single-tenant adapter).
    fn attach_installations(&self, installations: std::sync::Arc<dyn Installations>) {
        let _ = installations;
    }

    /// Admits what [`handle_webhook`](Self::handle_webhook) accepted, with I/O: a multi-tenant
    /// adapter checks here that every event's tenant is installed (refusing or dropping the
    /// others, never attributing them to another tenant) and acts on uninstalls. The engine
    /// calls it after `handle_webhook` and before storing anything. The default returns the
    /// outcome unchanged.
    async fn admit_webhook(&self, outcome: WebhookOutcome) -> WebhookOutcome {
        outcome
    }

    /// The provider's OAuth 2.0 install flow for this channel, when it offers one (see
    /// [`OAuthFlow`]). The default: none.
    fn oauth(&self) -> Option<&dyn OAuthFlow> {
        None
    }

    /// Refuses a webhook from its method and headers alone, before its body is read: a method
    /// the endpoint never takes (405), a content type it never parses (415), a signature header
    /// that every request must carry and this one lacks (401). The server calls it first, so
    /// an unauthenticated sender costs no body read, parse or HMAC. `None` (the default)
    /// means "read the body and call [`handle_webhook`](Self::handle_webhook)", which must
    /// still check everything itself.
    fn precheck_webhook(
        &self,
        method: &http::Method,
        headers: &http::HeaderMap,
    ) -> Option<Rejection> {
        let _ = (method, headers);
        None
    }
}

/// The `Unsupported` error for `operation` on this adapter.
pub fn unsupported(info: &AdapterInfo, operation: &str) -> Error {
    Error::unsupported(format!(
        "{operation} on {} channel '{}'",
        info.provider, info.channel
    ))
    .with_provider(info.provider)
}

/// Whether `url` is an `https` URL on one of the provider's own hosts: `host` equal to a suffix
/// or a subdomain of it (`files.slack.com` matches `slack.com`; `evilslack.com` does not).
///
/// Adapters call it before adding credentials to a download, so a crafted attachment URL cannot
/// make them send a token elsewhere.
pub fn is_provider_host(url: &str, suffixes: &[&str]) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    u.scheme() == "https"
        && suffixes.iter().any(|s| {
            let s = s.trim_start_matches('.').to_ascii_lowercase();
            host == s || host.ends_with(&format!(".{s}"))
        })
}

#[cfg(test)]
mod tests {
    use super::is_provider_host;

    #[test]
    fn provider_hosts_are_matched_exactly_or_as_subdomains() {
        let slack = ["slack.com", "slack-edge.com"];
        assert!(is_provider_host(
            "https://files.slack.com/files-pri/T1-F1/a.png",
            &slack
        ));
        assert!(is_provider_host("https://slack.com/x", &slack));
        assert!(!is_provider_host("https://evilslack.com/x", &slack));
        assert!(!is_provider_host("https://slack.com.evil.test/x", &slack));
        assert!(
            !is_provider_host("http://files.slack.com/x", &slack),
            "credentials only over https"
        );
        assert!(!is_provider_host("not a url", &slack));
    }
}
