//! The configuration of one Slack channel: keys of a `[channels.NAME]` table (the builder for
//! code is in `builder.rs`).

use std::fmt;
use std::time::Duration;

use switchboard_core::{ChannelTable, RenderPolicy, Result, Secret};

mod builder;
mod oauth;

pub use builder::SlackConfigBuilder;
pub use oauth::{DEFAULT_OAUTH_BASE_URL, DEFAULT_REFRESH_BEFORE, SlackOAuthConfig};

/// Where the Web API lives unless `api_base_url` says otherwise.
pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";

/// How long one Web API request may take before it is abandoned.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest file `fetch_attachment` downloads unless `max_media_bytes` says otherwise:
/// 25 MiB (Slack itself takes files up to 1 GB; what the bridge relays elsewhere rarely exceeds
/// Messenger's 25 MB).
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 25 * 1024 * 1024;

/// The settings of a Slack channel.
///
/// TOML keys: `bot_token` (secret, `xoxb-…`), `signing_secret` (secret), optional `bot_user_id`
/// and `bot_id` (for the loop guard; learned with `auth.test` when absent), optional `team_id`
/// (`T…`, or an Enterprise Grid `E…`) and `app_id` (`A…`): events of another workspace or app
/// are refused (200, nothing stored); absent, they are not checked, `api_base_url`
/// (default `https://slack.com/api`; a method URL is `{api_base_url}/{method}`),
/// `ignore_other_bots` (default `true`), `render` (`fallback`, `strict` or `drop`) and
/// `timeout` (one Web API request, default `"30s"`; also how long reconciliation treats a send
/// as possibly still in flight) and `max_media_bytes` (the largest file `fetch_attachment`
/// downloads, default 25 MiB; larger ones are a `TooLarge` error, found while streaming).
///
/// **Multi-workspace ("Add to Slack").** With `client_id`, `client_secret` (secret), `scopes`
/// and `redirect_url` (and optionally `oauth_base_url`, default `https://slack.com`, and
/// `refresh_before`, default `"5m"`), the channel serves every workspace that installs the
/// app through `GET /oauth/slack/{channel}/install` (see [`SlackOAuthConfig`] and the crate
/// docs); `bot_token` is then optional and, when given, serves the channel's default
/// workspace (conversation ids without a `T…/` prefix).
///
/// `Debug` prints `***` for every secret.
#[derive(Clone)]
pub struct SlackConfig {
    /// The bot token (`xoxb-…`), sent as `Authorization: Bearer`: the single workspace's, or
    /// a multi-workspace channel's default one. `None` only with [`oauth`](Self::oauth).
    pub bot_token: Option<Secret>,
    /// The OAuth v2 settings of a multi-workspace channel.
    pub oauth: Option<SlackOAuthConfig>,
    /// The app's signing secret, which verifies inbound requests.
    pub signing_secret: Secret,
    /// The bot's user id (`U…`), if known in advance.
    pub bot_user_id: Option<String>,
    /// The bot's id (`B…`), if known in advance.
    pub bot_id: Option<String>,
    /// The workspace (`T…`) whose events this channel takes; events of another are refused.
    /// Absent: not checked (set it whenever the app is installed in more than one workspace).
    pub team_id: Option<String>,
    /// The Slack app (`A…`) whose events this channel takes; events for another app are
    /// refused. Absent: not checked.
    pub app_id: Option<String>,
    /// The Web API base URL, without a trailing slash.
    pub api_base_url: String,
    /// Drop messages posted by other bots and apps.
    pub ignore_other_bots: bool,
    /// What to do with content Slack cannot show natively.
    pub render: RenderPolicy,
    /// The timeout of one Web API request.
    pub timeout: Duration,
    /// The largest file `fetch_attachment` downloads, in bytes.
    pub max_media_bytes: u64,
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("bot_token", &self.bot_token)
            .field("signing_secret", &self.signing_secret)
            .field("oauth", &self.oauth)
            .field("bot_user_id", &self.bot_user_id)
            .field("bot_id", &self.bot_id)
            .field("team_id", &self.team_id)
            .field("app_id", &self.app_id)
            .field("api_base_url", &self.api_base_url)
            .field("ignore_other_bots", &self.ignore_other_bots)
            .field("render", &self.render)
            .field("timeout", &self.timeout)
            .field("max_media_bytes", &self.max_media_bytes)
            .finish()
    }
}

impl SlackConfig {
    /// A builder of a multi-workspace channel without a default workspace: installations
    /// only (see [`SlackOAuthConfig`]); every default otherwise.
    pub fn multi_workspace_builder(
        signing_secret: Secret,
        oauth: SlackOAuthConfig,
    ) -> SlackConfigBuilder {
        let mut b = SlackConfig::builder(Secret::new("xoxb-unused"), signing_secret).oauth(oauth);
        b.clear_bot_token();
        b
    }

    /// A builder with these credentials and every default (see [`SlackConfigBuilder`]).
    pub fn builder(bot_token: Secret, signing_secret: Secret) -> SlackConfigBuilder {
        SlackConfigBuilder::new(SlackConfig {
            bot_token: Some(bot_token),
            oauth: None,
            signing_secret,
            bot_user_id: None,
            bot_id: None,
            team_id: None,
            app_id: None,
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            ignore_other_bots: true,
            render: RenderPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            max_media_bytes: DEFAULT_MAX_MEDIA_BYTES,
        })
    }

    /// Reads the keys of a channel table and rejects unknown ones.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key: a missing or malformed key, an unset
    /// `${ENV}` variable, or a key the adapter does not know.
    pub fn from_table(table: &mut ChannelTable) -> Result<Self> {
        let oauth = SlackOAuthConfig::from_table(table)?;
        let bot_token = if oauth.is_some() {
            table.optional_secret("bot_token")?
        } else {
            Some(table.secret("bot_token")?)
        };
        let signing_secret = table.secret("signing_secret")?;
        let bot_user_id = table.optional_str("bot_user_id")?.filter(|s| !s.is_empty());
        let bot_id = table.optional_str("bot_id")?.filter(|s| !s.is_empty());
        let team_id = table.optional_str("team_id")?.filter(|s| !s.is_empty());
        let app_id = table.optional_str("app_id")?.filter(|s| !s.is_empty());
        for (key, value, prefix) in [
            ("team_id", &team_id, ['T', 'E']),
            ("app_id", &app_id, ['A', 'A']),
        ] {
            if let Some(v) = value
                && !(v.starts_with(prefix) && v.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return Err(table.error(format_args!(
                    "key '{key}': {v:?} is not a Slack id starting with {}",
                    prefix[0]
                )));
            }
        }
        let api_base_url = table.api_base_url(DEFAULT_API_BASE_URL)?;
        let ignore_other_bots = table.optional_bool("ignore_other_bots")?.unwrap_or(true);
        let render = table.render_policy()?;
        let timeout = table
            .optional_duration("timeout")?
            .unwrap_or(DEFAULT_TIMEOUT);
        let max_media_bytes = match table.optional::<i64>("max_media_bytes")? {
            None => DEFAULT_MAX_MEDIA_BYTES,
            Some(n) if n > 0 => n.unsigned_abs(),
            Some(n) => {
                return Err(table.error(format_args!(
                    "key 'max_media_bytes': {n} is not a positive number of bytes"
                )));
            }
        };
        if bot_token
            .as_ref()
            .is_some_and(|t| !t.expose().starts_with("xox"))
        {
            return Err(table.error("key 'bot_token': expected a Slack token (xoxb-…)"));
        }
        Ok(SlackConfig {
            bot_token,
            oauth,
            signing_secret,
            bot_user_id,
            bot_id,
            team_id,
            app_id,
            api_base_url,
            ignore_other_bots,
            render,
            timeout,
            max_media_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ErrorKind;

    fn table(text: &str) -> ChannelTable {
        ChannelTable::from_toml_str("team", text).unwrap()
    }

    #[test]
    fn reads_every_key() {
        let mut t = table(
            "provider = 'slack'\nbot_token = 'xoxb-1'\nsigning_secret = 'shh'\n\
             bot_user_id = 'U1'\nbot_id = 'B1'\napi_base_url = 'http://127.0.0.1:9/api/'\n\
             ignore_other_bots = false\nrender = 'strict'",
        );
        let c = SlackConfig::from_table(&mut t).unwrap();
        t.finish().unwrap();
        assert_eq!(c.bot_token.as_ref().map(Secret::expose), Some("xoxb-1"));
        assert_eq!(c.signing_secret.expose(), "shh");
        assert_eq!(c.bot_user_id.as_deref(), Some("U1"));
        assert_eq!(c.bot_id.as_deref(), Some("B1"));
        assert_eq!(c.api_base_url, "http://127.0.0.1:9/api");
        assert!(!c.ignore_other_bots);
        assert_eq!(c.render, RenderPolicy::Strict);
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("xoxb-1") && !debug.contains("shh"),
            "{debug}"
        );
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let mut t = table("provider = 'slack'\nbot_token = 'xoxb-1'\nsigning_secret = 's'");
        let c = SlackConfig::from_table(&mut t).unwrap();
        assert_eq!(c.api_base_url, DEFAULT_API_BASE_URL);
        assert!(c.ignore_other_bots);
        assert_eq!(c.bot_user_id, None);

        let mut t = table("provider = 'slack'\nbot_token = 'xoxb-1'");
        let e = SlackConfig::from_table(&mut t).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.to_string()
                .contains("channels.team: missing key 'signing_secret'"),
            "{e}"
        );

        let mut t = table("provider = 'slack'\nbot_token = 'nope'\nsigning_secret = 's'");
        let e = SlackConfig::from_table(&mut t).err().unwrap();
        assert!(e.to_string().contains("key 'bot_token'"), "{e}");
        assert!(!e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn multi_workspace_keys() {
        let mut t = table(
            "provider = 'slack'\nsigning_secret = 's'\nclient_id = '1.2'\n\
             client_secret = 'cs'\nscopes = ['chat:write', 'channels:history']\n\
             redirect_url = 'https://x.example/oauth/slack/team/callback'\n\
             refresh_before = '1s'",
        );
        let c = SlackConfig::from_table(&mut t).unwrap();
        t.finish().unwrap();
        assert!(c.bot_token.is_none());
        let o = c.oauth.as_ref().unwrap();
        assert_eq!((o.client_id.as_str(), o.scopes.len()), ("1.2", 2));
        assert_eq!(o.oauth_base_url, DEFAULT_OAUTH_BASE_URL);
        assert_eq!(o.refresh_before, Duration::from_secs(1));
        assert!(!format!("{c:?}").contains("cs\""), "{c:?}");
        for (text, says) in [
            (
                "signing_secret = 's'\nclient_id = '1'\nscopes = ['a']\nredirect_url = 'https://x'",
                "client_secret",
            ),
            (
                "signing_secret = 's'\nclient_id = '1'\nclient_secret = 'c'\nredirect_url = 'https://x'",
                "scopes",
            ),
            (
                "signing_secret = 's'\nclient_id = '1'\nclient_secret = 'c'\nscopes = ['a']\nredirect_url = 'x'",
                "redirect_url",
            ),
            (
                "signing_secret = 's'\nbot_token = 'xoxb-1'\nscopes = ['a']",
                "needs 'client_id'",
            ),
        ] {
            let mut t = table(&format!("provider = 'slack'\n{text}"));
            let e = SlackConfig::from_table(&mut t).err().unwrap();
            assert!(e.to_string().contains(says), "{says}: {e}");
        }
    }
}
