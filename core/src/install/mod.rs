//! Installations: one app serving several tenants of a provider on one channel.
//!
//! A *tenant* is the provider's unit of installation: a Slack workspace (`T…`) or Enterprise
//! Grid organization (`E…`), a Facebook Page, a Twilio subaccount. An [`Installation`] is what
//! the provider handed out when the tenant installed the app (OAuth 2.0): its access token,
//! the refresh token and expiry when tokens rotate, the granted scopes and the bot's own ids.
//!
//! The engine keeps installations in its store, tokens encrypted at rest, behind the
//! [`Installations`] trait; an adapter that serves several tenants receives it through
//! [`Adapter::attach_installations`](crate::Adapter::attach_installations) and looks the
//! tenant of every event and every send up there. A provider's "Add to …" flow is an
//! [`OAuthFlow`] the adapter offers ([`Adapter::oauth`](crate::Adapter::oauth)); the engine
//! serves its routes, signs and checks the `state`, and stores what the flow returns.
//!
//! # Conversation ids
//!
//! A multi-tenant channel prefixes the provider's tenant id and `/` to the native conversation
//! id (`T0123/C0456`); an unprefixed id means the channel's default tenant (see
//! [`ConversationId`](crate::ConversationId) and [`tenant_of`]).
//!
//! # Secrets
//!
//! Tokens are [`SecretString`]s: `Debug` prints `***`, and nothing in this module puts them in
//! a `Display`, an error or a log line. Only the code that sends the `Authorization` header
//! calls [`ExposeSecret::expose_secret`].

mod installation;
mod installations;
mod oauth;

pub use installation::Installation;
pub use installations::{Installations, MemoryInstallations};
pub use oauth::OAuthFlow;
pub use secrecy::{ExposeSecret, SecretString};

/// Splits a conversation id of a multi-tenant channel into its tenant and the native id:
/// `"T0123/C0456"` → `(Some("T0123"), "C0456")`; an id without `/` → `(None, id)` (the
/// channel's default tenant).
pub fn tenant_of(conversation: &str) -> (Option<&str>, &str) {
    match conversation.split_once('/') {
        Some((tenant, native)) if !tenant.is_empty() && !native.is_empty() => {
            (Some(tenant), native)
        }
        _ => (None, conversation),
    }
}

/// The conversation id of native id `native` in `tenant` (`None`: the default tenant):
/// the inverse of [`tenant_of`].
pub fn tenant_conversation(tenant: Option<&str>, native: &str) -> String {
    match tenant {
        Some(t) => format!("{t}/{native}"),
        None => native.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_ids_name_their_tenant() {
        assert_eq!(tenant_of("T1/C2"), (Some("T1"), "C2"));
        assert_eq!(tenant_of("C2"), (None, "C2"));
        assert_eq!(tenant_of("/C2"), (None, "/C2"));
        assert_eq!(tenant_of("T1/"), (None, "T1/"));
        assert_eq!(tenant_conversation(Some("T1"), "C2"), "T1/C2");
        assert_eq!(tenant_conversation(None, "C2"), "C2");
        let (t, n) = tenant_of("E1/D3");
        assert_eq!(tenant_conversation(t, n), "E1/D3");
    }
}
