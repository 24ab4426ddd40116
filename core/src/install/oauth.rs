//! [`OAuthFlow`]: a provider's "Add to …" OAuth 2.0 flow, as an adapter offers it.

use async_trait::async_trait;

use super::Installation;
use crate::error::Result;

/// A provider's OAuth 2.0 authorization-code flow for one channel.
///
/// The engine serves it at `GET /oauth/{provider}/{channel}/install` (a redirect to
/// [`authorize_url`](Self::authorize_url)) and `GET /oauth/{provider}/{channel}/callback`
/// (which checks the `state` and calls [`exchange`](Self::exchange)). The engine makes,
/// signs, expires and spends the `state`; the flow only carries it.
#[async_trait]
pub trait OAuthFlow: Send + Sync {
    /// The provider's authorization URL for this channel, carrying `state`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the channel lacks what the flow needs (a client id, a redirect URL).
    fn authorize_url(&self, state: &str) -> Result<String>;

    /// Exchanges an authorization `code` for the tenant's installation.
    ///
    /// # Errors
    ///
    /// The provider's refusal (`Unauthenticated` for a bad or spent code, `Provider`), or
    /// `Transport`/`Timeout` when the provider cannot be reached. Errors never carry a token.
    async fn exchange(&self, code: &str) -> Result<Installation>;
}
