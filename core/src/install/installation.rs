//! [`Installation`]: what a tenant's install handed out.

use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::model::ChannelName;

/// One tenant's installation of the app on a channel: its tokens, scopes and the bot's ids.
///
/// `Debug` prints `***` for the tokens. Built with [`Installation::new`] and the `with_*`
/// setters; `#[non_exhaustive]` so providers' needs can grow.
#[derive(Clone)]
#[non_exhaustive]
pub struct Installation {
    /// The channel the app is installed on.
    pub channel: ChannelName,
    /// The provider's tenant id: a Slack team (`T…`) or, for an org-wide install, the
    /// enterprise (`E…`); a Page id; an Account SID.
    pub tenant: String,
    /// The enterprise the tenant belongs to, when the provider has one (Slack Enterprise Grid).
    pub enterprise_id: Option<String>,
    /// The access token the channel sends with (Slack: the bot token).
    pub access_token: SecretString,
    /// The refresh token, when the provider rotates tokens.
    pub refresh_token: Option<SecretString>,
    /// When [`access_token`](Self::access_token) expires (`None`: it does not).
    pub expires_at: Option<SystemTime>,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The bot's user id in the tenant (Slack `U…`).
    pub bot_user_id: Option<String>,
    /// The bot's id (Slack `B…`).
    pub bot_id: Option<String>,
    /// The provider's id of the app installed (Slack `A…`).
    pub app_id: Option<String>,
    /// When the tenant installed (or last re-installed) the app.
    pub installed_at: SystemTime,
}

impl Installation {
    /// An installation of `channel` for `tenant` with `access_token`, installed now, with no
    /// refresh token, expiry, scopes or ids.
    pub fn new(
        channel: ChannelName,
        tenant: impl Into<String>,
        access_token: SecretString,
    ) -> Self {
        Installation {
            channel,
            tenant: tenant.into(),
            enterprise_id: None,
            access_token,
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
            bot_user_id: None,
            bot_id: None,
            app_id: None,
            installed_at: SystemTime::now(),
        }
    }

    /// Sets the enterprise.
    pub fn with_enterprise(mut self, id: Option<String>) -> Self {
        self.enterprise_id = id;
        self
    }

    /// Sets the refresh token and the access token's expiry.
    pub fn with_refresh(mut self, token: SecretString, expires_at: SystemTime) -> Self {
        self.refresh_token = Some(token);
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the scopes granted.
    pub fn with_scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the bot's user id and bot id.
    pub fn with_bot(mut self, user_id: Option<String>, bot_id: Option<String>) -> Self {
        self.bot_user_id = user_id;
        self.bot_id = bot_id;
        self
    }

    /// Sets the app id.
    pub fn with_app(mut self, app_id: Option<String>) -> Self {
        self.app_id = app_id;
        self
    }

    /// Sets when it was installed.
    pub fn installed_at(mut self, at: SystemTime) -> Self {
        self.installed_at = at;
        self
    }

    /// Whether the access token expires within `margin` of `now` (or has expired). A token
    /// without expiry never does.
    pub fn expires_within(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now + margin)
    }
}

impl fmt::Debug for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installation")
            .field("channel", &self.channel)
            .field("tenant", &self.tenant)
            .field("enterprise_id", &self.enterprise_id)
            .field("access_token", &"***")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("bot_user_id", &self.bot_user_id)
            .field("bot_id", &self.bot_id)
            .field("app_id", &self.app_id)
            .field("installed_at", &self.installed_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_tokens() {
        let ch = ChannelName::new("team").unwrap();
        let i = Installation::new(ch, "T1", SecretString::from("xoxb-very-secret"))
            .with_refresh(
                SecretString::from("xoxe-1-refresh-secret"),
                SystemTime::now(),
            )
            .with_scopes(vec!["chat:write".into()]);
        let d = format!("{i:?}");
        assert!(
            !d.contains("very-secret") && !d.contains("refresh-secret"),
            "{d}"
        );
        assert!(d.contains("T1") && d.contains("chat:write"), "{d}");
    }

    #[test]
    fn expiry_is_checked_with_a_margin() {
        let ch = ChannelName::new("team").unwrap();
        let now = SystemTime::now();
        let i = Installation::new(ch, "T1", SecretString::from("x"));
        assert!(!i.expires_within(Duration::from_secs(3600), now));
        let soon = i.with_refresh(SecretString::from("r"), now + Duration::from_secs(60));
        assert!(soon.expires_within(Duration::from_secs(120), now));
        assert!(!soon.expires_within(Duration::from_secs(30), now));
    }
}
