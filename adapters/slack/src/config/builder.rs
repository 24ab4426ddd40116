//! [`SlackConfigBuilder`]: a [`SlackConfig`] built in code, with the checks of a channel table.

use std::time::Duration;

use switchboard_core::{Error, ErrorKind, RenderPolicy, Result};

use super::SlackConfig;

/// Builds a [`SlackConfig`] (from [`SlackConfig::builder`]); [`build`](Self::build) checks it.
/// The setters are named after the channel table's keys.
#[derive(Debug)]
pub struct SlackConfigBuilder {
    config: SlackConfig,
}

impl SlackConfigBuilder {
    pub(super) fn new(config: SlackConfig) -> Self {
        SlackConfigBuilder { config }
    }

    /// No default workspace (a multi-workspace channel only).
    pub(super) fn clear_bot_token(&mut self) {
        self.config.bot_token = None;
    }

    /// The bot's user id (`U…`), for the loop guard; learned with `auth.test` when not set.
    pub fn bot_user_id(mut self, id: impl Into<String>) -> Self {
        self.config.bot_user_id = Some(id.into());
        self
    }

    /// The bot's id (`B…`), for the loop guard; learned with `auth.test` when not set.
    pub fn bot_id(mut self, id: impl Into<String>) -> Self {
        self.config.bot_id = Some(id.into());
        self
    }

    /// The workspace (`T…`) whose events this channel takes.
    pub fn team_id(mut self, id: impl Into<String>) -> Self {
        self.config.team_id = Some(id.into());
        self
    }

    /// Makes the channel multi-workspace ("Add to Slack"): see [`SlackOAuthConfig`](super::SlackOAuthConfig).
    pub fn oauth(mut self, oauth: super::SlackOAuthConfig) -> Self {
        self.config.oauth = Some(oauth);
        self
    }

    /// The Slack app (`A…`) whose events this channel takes.
    pub fn app_id(mut self, id: impl Into<String>) -> Self {
        self.config.app_id = Some(id.into());
        self
    }

    /// Another Web API base URL (an emulator, a proxy); a trailing slash is dropped.
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.config.api_base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Keeps (`false`) or drops (`true`, the default) messages from other bots.
    pub fn ignore_other_bots(mut self, ignore: bool) -> Self {
        self.config.ignore_other_bots = ignore;
        self
    }

    /// The render policy (default `fallback`).
    pub fn render(mut self, policy: RenderPolicy) -> Self {
        self.config.render = policy;
        self
    }

    /// The timeout of one Web API request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The largest file `fetch_attachment` downloads (default
    /// [`DEFAULT_MAX_MEDIA_BYTES`](super::DEFAULT_MAX_MEDIA_BYTES)).
    pub fn max_media_bytes(mut self, bytes: u64) -> Self {
        self.config.max_media_bytes = bytes;
        self
    }

    /// Checks the values and returns the configuration.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the key: a bot token that is not a Slack token (`xox…`), an empty
    /// signing secret, or an `api_base_url` that is not an absolute http(s) URL.
    pub fn build(self) -> Result<SlackConfig> {
        let c = self.config;
        let invalid = |m: &str| Err(Error::new(ErrorKind::InvalidConfig, m.to_owned()));
        if c.bot_token
            .as_ref()
            .is_some_and(|t| !t.expose().starts_with("xox"))
        {
            return invalid("key 'bot_token': expected a Slack token (xoxb-…)");
        }
        if c.signing_secret.expose().is_empty() {
            return invalid("key 'signing_secret' must not be empty");
        }
        match url::Url::parse(&c.api_base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(c),
            _ => invalid("key 'api_base_url': not an absolute http(s) URL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::Secret;

    use super::*;

    fn builder(token: &str, secret: &str) -> SlackConfigBuilder {
        SlackConfig::builder(Secret::new(token), Secret::new(secret))
    }

    #[test]
    fn builds_with_defaults_and_setters() {
        let c = builder("xoxb-1", "shh")
            .bot_user_id("U1")
            .bot_id("B1")
            .api_base_url("http://127.0.0.1:9/api/")
            .ignore_other_bots(false)
            .render(RenderPolicy::Strict)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        assert_eq!(c.api_base_url, "http://127.0.0.1:9/api");
        assert_eq!(
            (c.bot_user_id.as_deref(), c.bot_id.as_deref()),
            (Some("U1"), Some("B1"))
        );
        assert!(!c.ignore_other_bots);
        assert_eq!(
            (c.render, c.timeout),
            (RenderPolicy::Strict, Duration::from_secs(5))
        );
        let d = builder("xoxb-1", "shh").build().unwrap();
        assert_eq!(d.api_base_url, super::super::DEFAULT_API_BASE_URL);
        assert!(d.ignore_other_bots);
    }

    #[test]
    fn bad_values_name_the_key_and_hide_the_secret() {
        for (b, key) in [
            (builder("nope", "shh"), "bot_token"),
            (builder("xoxb-1", ""), "signing_secret"),
            (
                builder("xoxb-1", "shh").api_base_url("ftp://x"),
                "api_base_url",
            ),
        ] {
            let e = b.build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.to_string().contains(key), "{e}");
            assert!(!e.to_string().contains("nope"), "{e}");
        }
    }
}
