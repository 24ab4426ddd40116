//! The validating builder of [`TwilioConfig`].

use std::time::Duration;

use switchboard_core::render::RenderPolicy;
use switchboard_core::{ChannelName, Error, Result, Secret};

use super::{SenderConfig, TwilioAccount, TwilioConfig};
use crate::address::{is_sender_address, is_sid};

/// Builds a [`TwilioConfig`]; [`build`](Self::build) validates it.
#[derive(Debug)]
pub struct TwilioConfigBuilder {
    channel: ChannelName,
    account_sid: String,
    auth_token: Secret,
    api_key: Option<(String, Secret)>,
    other_accounts: Vec<TwilioAccount>,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    api_base_url: String,
    status_callback: Option<String>,
    smart_encoding: bool,
    render: RenderPolicy,
    timeout: Duration,
}

impl TwilioConfigBuilder {
    pub(super) fn new(channel: ChannelName, account_sid: String, auth_token: Secret) -> Self {
        TwilioConfigBuilder {
            channel,
            account_sid,
            auth_token,
            api_key: None,
            other_accounts: Vec::new(),
            from: None,
            messaging_service_sid: None,
            api_base_url: super::DEFAULT_API_BASE_URL.to_owned(),
            status_callback: None,
            smart_encoding: false,
            render: RenderPolicy::default(),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }

    /// Authenticate API calls with an API key (`SK…`) and its secret.
    pub fn api_key(mut self, sid: impl Into<String>, secret: Secret) -> Self {
        self.api_key = Some((sid.into(), secret));
        self
    }

    /// Adds another account the channel serves (a subaccount, or another account), with its
    /// own token and sender. The builder's own account is the default one.
    pub fn account(mut self, account: TwilioAccount) -> Self {
        self.other_accounts.push(account);
        self
    }

    /// The `From` address.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// The Messaging Service (`MG…`).
    pub fn messaging_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.messaging_service_sid = Some(sid.into());
        self
    }

    /// The REST API base URL (emulators, proxies, regional edges).
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.api_base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The `StatusCallback` URL sent with every message.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Turns smart encoding on or off.
    pub fn smart_encoding(mut self, on: bool) -> Self {
        self.smart_encoding = on;
        self
    }

    /// The render policy.
    pub fn render(mut self, policy: RenderPolicy) -> Self {
        self.render = policy;
        self
    }

    /// The per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key: a malformed account SID, API key SID,
    /// sender or Messaging Service SID, an empty auth token, neither a sender nor a Messaging
    /// Service, or a `status_callback` that is not an absolute http(s) URL.
    pub fn build(self) -> Result<TwilioConfig> {
        let ch = self.channel.as_str();
        let sender = check_account(
            ch,
            "",
            &self.account_sid,
            &self.auth_token,
            self.api_key.as_ref(),
            self.from,
            self.messaging_service_sid,
        )?;
        for (i, a) in self.other_accounts.iter().enumerate() {
            let prefix = format!("accounts[{}].", i + 1);
            let from = a.sender.from().map(str::to_owned);
            let service = a.sender.messaging_service_sid().map(str::to_owned);
            check_account(
                ch,
                &prefix,
                &a.sid,
                &a.auth_token,
                a.api_key.as_ref(),
                from,
                service,
            )?;
            if a.sid == self.account_sid || self.other_accounts[..i].iter().any(|o| o.sid == a.sid)
            {
                return Err(Error::config(
                    ch,
                    format_args!("key 'accounts': account {} is listed twice", a.sid),
                ));
            }
        }
        if let Some(cb) = &self.status_callback {
            match url::Url::parse(cb) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(Error::config(
                        ch,
                        format_args!(
                            "key 'status_callback': {cb:?} is not an absolute http(s) URL"
                        ),
                    ));
                }
            }
        }
        Ok(TwilioConfig {
            channel: self.channel,
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            api_key: self.api_key,
            sender,
            other_accounts: self.other_accounts,
            api_base_url: self.api_base_url,
            status_callback: self.status_callback,
            smart_encoding: self.smart_encoding,
            render: self.render,
            timeout: self.timeout,
        })
    }
}

/// Checks one account's values and returns its sender. Keys are named as written: `prefix` is
/// empty for the single-account form (`account_sid`, `from`, …) and `accounts[i].` for an
/// entry of `accounts` (`accounts[i].sid`, `accounts[i].from`, …).
pub(super) fn check_account(
    ch: &str,
    prefix: &str,
    sid: &str,
    auth_token: &Secret,
    api_key: Option<&(String, Secret)>,
    from: Option<String>,
    messaging_service_sid: Option<String>,
) -> Result<SenderConfig> {
    let sid_key = if prefix.is_empty() {
        "account_sid".to_owned()
    } else {
        format!("{prefix}sid")
    };
    if !is_sid(sid, "AC") {
        return Err(Error::config(
            ch,
            format_args!("key '{sid_key}' must be 'AC' followed by 32 hex digits"),
        ));
    }
    if auth_token.expose().is_empty() {
        return Err(Error::config(
            ch,
            format_args!("key '{prefix}auth_token' must not be empty"),
        ));
    }
    if let Some((key_sid, _)) = api_key
        && !is_sid(key_sid, "SK")
    {
        return Err(Error::config(
            ch,
            format_args!("key '{prefix}api_key_sid' must be 'SK' followed by 32 hex digits"),
        ));
    }
    if let Some(f) = &from
        && !is_sender_address(f)
    {
        return Err(Error::config(
            ch,
            format_args!(
                "key '{prefix}from': {f:?} is not an E.164 number, short code, alphanumeric \
                 sender id or whatsapp:+… address"
            ),
        ));
    }
    if let Some(s) = &messaging_service_sid
        && !is_sid(s, "MG")
    {
        return Err(Error::config(
            ch,
            format_args!(
                "key '{prefix}messaging_service_sid' must be 'MG' followed by 32 hex digits"
            ),
        ));
    }
    match (from, messaging_service_sid) {
        (Some(from), Some(messaging_service_sid)) => Ok(SenderConfig::Both {
            from,
            messaging_service_sid,
        }),
        (Some(from), None) => Ok(SenderConfig::From(from)),
        (None, Some(s)) => Ok(SenderConfig::MessagingService(s)),
        (None, None) => Err(Error::config(
            ch,
            format_args!("missing key '{prefix}from' (or '{prefix}messaging_service_sid')"),
        )),
    }
}
