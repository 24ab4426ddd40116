//! The Twilio channel's configuration: keys, validation and a builder.

use std::fmt;
use std::time::Duration;

use switchboard_core::render::RenderPolicy;
use switchboard_core::{ChannelName, ChannelTable, Result, Secret};

mod accounts;
mod builder;

pub use accounts::TwilioAccount;
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
/// set), `from` and/or `messaging_service_sid`; or instead of those, `accounts`: a list of
/// `{ sid, auth_token, from, messaging_service_sid, api_key_sid, api_key_secret }` tables, one
/// per account the channel serves (the first is the default; see [`TwilioAccount`]);
/// `api_base_url` (default
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
    /// The other accounts the channel serves (`accounts` after the first); the fields above
    /// are the default account's.
    pub other_accounts: Vec<TwilioAccount>,
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
            .field("other_accounts", &self.other_accounts)
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
        let mut listed = accounts::read_accounts(&mut t)?.map(std::collections::VecDeque::from);
        let first = listed
            .as_mut()
            .and_then(std::collections::VecDeque::pop_front);
        let (account_sid, auth_token, key_sid, key_secret, from, service) = match first {
            Some(a) => {
                let (key_sid, key_secret) =
                    a.api_key.map_or((None, None), |(s, k)| (Some(s), Some(k)));
                (
                    a.sid,
                    a.auth_token,
                    key_sid,
                    key_secret,
                    a.sender.from().map(str::to_owned),
                    a.sender.messaging_service_sid().map(str::to_owned),
                )
            }
            None => (
                t.required_str("account_sid")?,
                t.secret("auth_token")?,
                t.optional_str("api_key_sid")?,
                t.optional_secret("api_key_secret")?,
                t.optional_str("from")?,
                t.optional_str("messaging_service_sid")?,
            ),
        };
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
        for account in listed.into_iter().flatten() {
            b = b.account(account);
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

    const SUB: &str = "AC00000000000000000000000000000002";

    fn accounts_table(accounts: &str) -> ChannelTable {
        ChannelTable::from_toml_str("sms", &format!("provider = 'twilio'\n{accounts}"))
            .unwrap()
            .with_env(switchboard_core::Env::from_pairs([
                ("TOK_A", "tokA"),
                ("TOK_B", "tokB"),
            ]))
    }

    #[test]
    fn a_list_of_accounts_is_read_in_order() {
        let c = TwilioConfig::from_table(accounts_table(&format!(
            "accounts = [{{ sid = '{SID}', auth_token = '${{TOK_A}}', from = '+15550001111' }}, \
             {{ sid = '{SUB}', auth_token = '${{TOK_B}}', messaging_service_sid = 'MG{0}', \
             api_key_sid = 'SK{0}', api_key_secret = 'ks' }}]",
            "0123456789abcdef0123456789abcdef"
        )))
        .unwrap();
        assert_eq!(c.account_sid, SID);
        assert_eq!(c.auth_token.expose(), "tokA");
        assert_eq!(c.sender, SenderConfig::From("+15550001111".into()));
        assert!(c.is_multi_account());
        assert_eq!(c.account_sids().collect::<Vec<_>>(), [SID, SUB]);
        let sub = &c.other_accounts[0];
        assert_eq!(sub.auth_token.expose(), "tokB");
        assert!(sub.sender.messaging_service_sid().is_some());
        let views = c.account_views();
        assert_eq!(views[1].account_sid, SUB);
        assert_eq!(views[1].basic_auth().1, "ks");
        assert!(views[1].messages_url().contains(SUB));
        assert_eq!(c.route(&format!("{SUB}/+1555")).unwrap(), (1, "+1555"));
        assert_eq!(c.route("+1555").unwrap(), (0, "+1555"));
        assert_eq!(
            c.route("AC99999999999999999999999999999999/+1555")
                .unwrap_err()
                .kind(),
            ErrorKind::NotFound
        );
        assert_eq!(c.conversation_id(SUB, "+1555"), format!("{SUB}/+1555"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("tokA") && !shown.contains("tokB") && !shown.contains("\"ks\""));
    }

    #[test]
    fn bad_account_lists_name_the_key() {
        let entry = |sid: &str, extra: &str| {
            format!("{{ sid = '{sid}', auth_token = 't', from = '+15550001111'{extra} }}")
        };
        for (accounts, needle) in [
            (
                format!("account_sid = '{SID}'\naccounts = [{}]", entry(SID, "")),
                "keys 'account_sid' and 'accounts' cannot both be set",
            ),
            (
                format!("from = '+15550001111'\naccounts = [{}]", entry(SID, "")),
                "keys 'from' and 'accounts'",
            ),
            (
                "accounts = []".to_owned(),
                "key 'accounts' must list at least one account",
            ),
            (
                format!("accounts = [{}, {}]", entry(SID, ""), entry(SID, "")),
                "is listed twice",
            ),
            (
                format!("accounts = [{}, {}]", entry(SID, ""), entry("AC1", "")),
                "key 'accounts[1].sid'",
            ),
            (
                format!(
                    "accounts = [{}, {{ sid = '{SUB}', auth_token = 't' }}]",
                    entry(SID, "")
                ),
                "missing key 'accounts[1].from'",
            ),
            (
                format!(
                    "accounts = [{{ sid = '{SID}', auth_token = '${{NOPE}}', from = '+1555' }}]"
                ),
                "key 'accounts[0].auth_token'",
            ),
            (
                format!("accounts = [{}]", entry(SID, ", api_key_sid = 'SKx'")),
                "go together",
            ),
            (
                format!("accounts = [{}]", entry(SID, ", token = 'x'")),
                "key 'accounts'",
            ),
        ] {
            let err = TwilioConfig::from_table(accounts_table(&accounts)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{accounts}");
            let text = err.to_string();
            assert!(
                text.contains("channels.sms") && text.contains(needle),
                "{accounts}: {text}"
            );
        }
    }
}
