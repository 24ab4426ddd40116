//! The keys of a multi-workspace ("Add to Slack") channel: `client_id`, `client_secret`,
//! `scopes`, `redirect_url`, and optionally `oauth_base_url` and `refresh_before`.

use std::fmt;
use std::time::Duration;

use switchboard_core::{ChannelTable, Result, Secret};

/// Where Slack's authorize page lives unless `oauth_base_url` says otherwise.
pub const DEFAULT_OAUTH_BASE_URL: &str = "https://slack.com";

/// How long before a rotating token expires it is refreshed unless `refresh_before` says
/// otherwise.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// The OAuth v2 settings of a multi-workspace channel. `Debug` prints `***` for the secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct SlackOAuthConfig {
    /// The app's client id (`123.456`).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: Secret,
    /// The bot scopes asked for (`chat:write`, …).
    pub scopes: Vec<String>,
    /// The callback URL registered with the app: `https://HOST/oauth/slack/{channel}/callback`.
    pub redirect_url: String,
    /// Where `/oauth/v2/authorize` lives (default `https://slack.com`; the code exchange goes
    /// through `api_base_url`).
    pub oauth_base_url: String,
    /// How long before expiry a rotating token is refreshed.
    pub refresh_before: Duration,
}

impl fmt::Debug for SlackOAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackOAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("scopes", &self.scopes)
            .field("redirect_url", &self.redirect_url)
            .field("oauth_base_url", &self.oauth_base_url)
            .field("refresh_before", &self.refresh_before)
            .finish()
    }
}

impl SlackOAuthConfig {
    /// Settings with these credentials, scopes and callback, and the defaults.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Secret,
        scopes: Vec<String>,
        redirect_url: impl Into<String>,
    ) -> Self {
        SlackOAuthConfig {
            client_id: client_id.into(),
            client_secret,
            scopes,
            redirect_url: redirect_url.into(),
            oauth_base_url: DEFAULT_OAUTH_BASE_URL.to_owned(),
            refresh_before: DEFAULT_REFRESH_BEFORE,
        }
    }

    /// Another authorize host (an emulator); a trailing slash is dropped.
    pub fn with_oauth_base_url(mut self, url: impl Into<String>) -> Self {
        self.oauth_base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Another refresh margin.
    pub fn with_refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// Reads the keys when `client_id` is present (`None` otherwise: a single-workspace
    /// channel, and none of the other keys may be given).
    pub(crate) fn from_table(table: &mut ChannelTable) -> Result<Option<Self>> {
        let client_id = table.optional_str("client_id")?.filter(|s| !s.is_empty());
        let Some(client_id) = client_id else {
            for key in [
                "client_secret",
                "scopes",
                "redirect_url",
                "oauth_base_url",
                "refresh_before",
            ] {
                // Read (so `known keys` lists them) and refused.
                if table.optional::<serde_json::Value>(key)?.is_some() {
                    return Err(table.error(format_args!(
                        "key '{key}' needs 'client_id' (a multi-workspace channel)"
                    )));
                }
            }
            return Ok(None);
        };
        let client_secret = table.secret("client_secret")?;
        let scopes: Vec<String> = match table.optional::<Vec<String>>("scopes")? {
            Some(s) if !s.is_empty() => s,
            _ => {
                return Err(table
                    .error("key 'scopes': give the bot scopes to ask for, e.g. [\"chat:write\"]"));
            }
        };
        let redirect_url = table.required_str("redirect_url")?;
        let oauth_base_url = table
            .optional_str("oauth_base_url")?
            .unwrap_or_else(|| DEFAULT_OAUTH_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        for (key, url) in [
            ("redirect_url", &redirect_url),
            ("oauth_base_url", &oauth_base_url),
        ] {
            if !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                return Err(table.error(format_args!(
                    "key '{key}': {url:?} is not an absolute http(s) URL"
                )));
            }
        }
        let refresh_before = table
            .optional_duration("refresh_before")?
            .unwrap_or(DEFAULT_REFRESH_BEFORE);
        Ok(Some(SlackOAuthConfig {
            client_id,
            client_secret,
            scopes,
            redirect_url,
            oauth_base_url,
            refresh_before,
        }))
    }
}
