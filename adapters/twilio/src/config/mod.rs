//! The Twilio channel's configuration: keys, validation and a builder.

use std::fmt;
use std::time::Duration;

use switchboard_core::render::RenderPolicy;
use switchboard_core::{ChannelName, ChannelTable, Result, Secret};

mod builder;

pub use builder::TwilioConfigBuilder;

/// Twilio's production REST API.
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";

/// How long one API request may take before it is abandoned.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Who sends: a number (or sender id, or `whatsapp:` address), a Messaging Service, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderConfig {
    /// `From`: E.164, short code, alphanumeric sender id or `whatsapp:+…`.
    From(String),
    /// `MessagingServiceSid` (`MG…`): Twilio picks the sender from the service's pool.
    MessagingService(String),
    /// Both: `From` is used and the service's settings apply.
    Both {
        /// `From`.
        from: String,
        /// `MessagingServiceSid`.
        messaging_service_sid: String,
    },
}

impl SenderConfig {
    /// The `From` address, if configured.
    pub fn from(&self) -> Option<&str> {
        match self {
            SenderConfig::From(f) | SenderConfig::Both { from: f, .. } => Some(f),
            SenderConfig::MessagingService(_) => None,
        }
    }

    /// The Messaging Service SID, if configured.
    pub fn messaging_service_sid(&self) -> Option<&str> {
        match self {
            SenderConfig::MessagingService(s)
            | SenderConfig::Both {
                messaging_service_sid: s,
                ..
            } => Some(s),
            SenderConfig::From(_) => None,
        }
    }
}

/// Configuration of one Twilio channel (`[channels.NAME]` with `provider = "twilio"`).
///
/// Keys: `account_sid`, `auth_token` (secret; always needed: it validates webhooks),
/// `api_key_sid` + `api_key_secret` (secret; used for API calls instead of the auth token when
/// set), `from` and/or `messaging_service_sid`, `api_base_url` (default
/// `https://api.twilio.com`), `status_callback` (default: the channel's public webhook URL when
/// the engine knows it), `smart_encoding` (default false), `render` (`fallback`, `strict`, `drop`).
#[derive(Clone)]
pub struct TwilioConfig {
    /// The configured channel name.
    pub channel: ChannelName,
    /// `AC…`: the account, in every API path.
    pub account_sid: String,
    /// The account's auth token: signs webhooks, and authenticates API calls without an API key.
    pub auth_token: Secret,
    /// `(SK…, secret)`: authenticates API calls instead of the auth token.
    pub api_key: Option<(String, Secret)>,
    /// Who sends.
    pub sender: SenderConfig,
    /// The REST API base URL, without a trailing slash.
    pub api_base_url: String,
    /// Where Twilio posts status callbacks (`StatusCallback`), if anywhere.
    pub status_callback: Option<String>,
    /// SMS conversations: replace Unicode look-alikes with GSM-7 characters before counting
    /// segments (and send `SmartEncoded=true`). WhatsApp text is left as written.
    pub smart_encoding: bool,
    /// What to do with content the conversation cannot carry.
    pub render: RenderPolicy,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("channel", &self.channel)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &self.auth_token)
            .field("api_key", &self.api_key.as_ref().map(|(sid, s)| (sid, s)))
            .field("sender", &self.sender)
            .field("api_base_url", &self.api_base_url)
            .field("status_callback", &self.status_callback)
            .field("smart_encoding", &self.smart_encoding)
            .field("render", &self.render)
            .finish()
    }
}

impl TwilioConfig {
    /// A builder for channel `channel` of account `account_sid` with `auth_token`.
    pub fn builder(
        channel: ChannelName,
        account_sid: impl Into<String>,
        auth_token: Secret,
    ) -> TwilioConfigBuilder {
        TwilioConfigBuilder::new(channel, account_sid.into(), auth_token)
    }

    /// Reads and validates a channel table; unknown keys are errors naming channel and key.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key: a missing or malformed key, an unset
    /// `${ENV}` variable, or a key the adapter does not know.
    pub fn from_table(mut t: ChannelTable) -> Result<Self> {
        let channel = t.channel().clone();
        let account_sid = t.required_str("account_sid")?;
        let auth_token = t.secret("auth_token")?;
        let key_sid = t.optional_str("api_key_sid")?;
        let key_secret = t.optional_secret("api_key_secret")?;
        let from = t.optional_str("from")?;
        let service = t.optional_str("messaging_service_sid")?;
        let api_base_url = t.api_base_url(DEFAULT_API_BASE_URL)?;
        let status_callback = match t.optional_str("status_callback")? {
            Some(s) => Some(s),
            None => t.public_webhook_url().map(str::to_owned),
        };
        let smart_encoding = t.optional_bool("smart_encoding")?.unwrap_or(false);
        let render = t.render_policy()?;
        let timeout = t.optional_duration("timeout")?;
        let api_key = match (key_sid, key_secret) {
            (Some(sid), Some(secret)) => Some((sid, secret)),
            (None, None) => None,
            (Some(_), None) => return Err(t.error("key 'api_key_sid' needs 'api_key_secret'")),
            (None, Some(_)) => return Err(t.error("key 'api_key_secret' needs 'api_key_sid'")),
        };
        let mut b = TwilioConfig::builder(channel, account_sid, auth_token)
            .api_base_url(api_base_url)
            .smart_encoding(smart_encoding)
            .render(render);
        if let Some((sid, secret)) = api_key {
            b = b.api_key(sid, secret);
        }
        if let Some(f) = from {
            b = b.from(f);
        }
        if let Some(s) = service {
            b = b.messaging_service_sid(s);
        }
        if let Some(cb) = status_callback {
            b = b.status_callback(cb);
        }
        if let Some(timeout) = timeout {
            b = b.timeout(timeout);
        }
        let config = b.build()?;
        t.finish()?;
        Ok(config)
    }

    /// The Messages resource URL: `{api_base_url}/2010-04-01/Accounts/{sid}/Messages.json`.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_base_url, self.account_sid
        )
    }

    /// The user name and password of HTTP Basic auth for API calls.
    pub(crate) fn basic_auth(&self) -> (&str, &str) {
        match &self.api_key {
            Some((sid, secret)) => (sid, secret.expose()),
            None => (&self.account_sid, self.auth_token.expose()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ErrorKind;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn table(extra: &str) -> ChannelTable {
        ChannelTable::from_toml_str(
            "sms",
            &format!("provider = 'twilio'\naccount_sid = '{SID}'\nauth_token = 'tok'\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn minimal_table_reads_defaults() {
        let c = TwilioConfig::from_table(table("from = '+15550001111'")).unwrap();
        assert_eq!(c.sender, SenderConfig::From("+15550001111".into()));
        assert_eq!(
            c.messages_url(),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
        );
        assert_eq!(c.basic_auth(), (SID, "tok"));
        assert!(!c.smart_encoding);
        assert_eq!(c.status_callback, None);
        assert!(!format!("{c:?}").contains("tok\""));
    }

    #[test]
    fn api_key_service_and_callback_from_public_url() {
        let t = table(&format!(
            "api_key_sid = 'SK{0}'\napi_key_secret = 'ks'\nmessaging_service_sid = 'MG{0}'\nsmart_encoding = true",
            "0123456789abcdef0123456789abcdef"
        ))
        .with_public_webhook_url("https://bot.example.com/webhooks/sms");
        let c = TwilioConfig::from_table(t).unwrap();
        assert_eq!(c.basic_auth().1, "ks");
        assert!(c.basic_auth().0.starts_with("SK"));
        assert!(c.sender.from().is_none());
        assert!(c.sender.messaging_service_sid().is_some());
        assert_eq!(
            c.status_callback.as_deref(),
            Some("https://bot.example.com/webhooks/sms")
        );
        assert!(c.smart_encoding);
    }

    #[test]
    fn errors_name_channel_and_key() {
        let cases = [
            ("", "missing key 'from'"),
            ("from = 'not a number!'", "key 'from'"),
            ("from = '+1555'\nauth_tokn = 'x'", "unknown key 'auth_tokn'"),
            (
                "from = '+1555'\napi_key_sid = 'SKx'",
                "needs 'api_key_secret'",
            ),
            (
                "from = '+1555'\nmessaging_service_sid = 'MGx'",
                "key 'messaging_service_sid'",
            ),
            (
                "from = '+1555'\nstatus_callback = 'nope'",
                "key 'status_callback'",
            ),
            (
                "from = '+1555'\nsmart_encoding = 'yes'",
                "key 'smart_encoding'",
            ),
        ];
        for (extra, want) in cases {
            let err = TwilioConfig::from_table(table(extra)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{extra}");
            let text = err.to_string();
            assert!(
                text.contains("channels.sms") && text.contains(want),
                "{extra}: {text}"
            );
        }
        let bad_sid = ChannelTable::from_toml_str(
            "sms",
            "provider = 'twilio'\naccount_sid = 'AC1'\nauth_token = 't'\nfrom = '+15550001111'",
        )
        .unwrap();
        assert!(
            TwilioConfig::from_table(bad_sid)
                .unwrap_err()
                .to_string()
                .contains("account_sid")
        );
    }
}
