//! Several Twilio accounts (a main account and its subaccounts) on one channel: the
//! `accounts = [{ sid, auth_token, from }, …]` key, and how a conversation id names its account.
//!
//! A channel of one account keeps the native conversation ids (the customer's address). A
//! channel of several prefixes the Account SID and `/`: `{AccountSid}/{address}`. An id without
//! a prefix means the default account, the first configured, so conversations stored before a
//! channel had several accounts keep working.

use serde::Deserialize;
use switchboard_core::{ChannelTable, Error, ErrorKind, Result, Secret};

use super::{SenderConfig, TwilioConfig, builder::check_account};
use crate::PROVIDER;
use crate::address::is_sid;

/// One more account a channel serves: its SID, auth token (webhook signatures; API calls
/// without an API key), optional API key, and who sends for it. `Debug` prints `***` for the
/// secrets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TwilioAccount {
    /// `AC…`.
    pub sid: String,
    /// The account's auth token.
    pub auth_token: Secret,
    /// `(SK…, secret)`: authenticates API calls instead of the auth token.
    pub api_key: Option<(String, Secret)>,
    /// Who sends for this account (its own numbers or Messaging Service).
    pub sender: SenderConfig,
}

impl TwilioAccount {
    /// Account `sid` with `auth_token`, sending as `sender`.
    pub fn new(sid: impl Into<String>, auth_token: Secret, sender: SenderConfig) -> Self {
        TwilioAccount {
            sid: sid.into(),
            auth_token,
            api_key: None,
            sender,
        }
    }

    /// Authenticates this account's API calls with an API key (`SK…`) and its secret.
    pub fn with_api_key(mut self, sid: impl Into<String>, secret: Secret) -> Self {
        self.api_key = Some((sid.into(), secret));
        self
    }
}

/// One entry of `accounts`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    sid: String,
    auth_token: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    api_key_sid: Option<String>,
    api_key_secret: Option<String>,
}

/// Keys of the single-account form that `accounts` replaces.
const SINGLE_KEYS: &[&str] = &[
    "account_sid",
    "auth_token",
    "api_key_sid",
    "api_key_secret",
    "from",
    "messaging_service_sid",
];

/// Reads `accounts` (when present): every account in order, secrets `${ENV}`-substituted and
/// every error naming its key (`accounts[1].auth_token`).
pub(super) fn read_accounts(t: &mut ChannelTable) -> Result<Option<Vec<TwilioAccount>>> {
    let Some(entries) = t.optional::<Vec<Entry>>("accounts")? else {
        return Ok(None);
    };
    for key in SINGLE_KEYS {
        if t.optional_str(key)?.is_some() {
            return Err(t.error(format_args!(
                "keys '{key}' and 'accounts' cannot both be set: give each account its own \
                 entry in 'accounts'"
            )));
        }
    }
    if entries.is_empty() {
        return Err(t.error("key 'accounts' must list at least one account"));
    }
    let mut out: Vec<TwilioAccount> = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        // Secrets are read back through the table: `${ENV}` substituted, errors naming the key.
        let mut secret = |name: &str, value: String| {
            let key = format!("accounts[{i}].{name}");
            t.insert(&key, value);
            t.secret(&key)
        };
        let token = secret("auth_token", e.auth_token)?;
        let api_key = match (e.api_key_sid, e.api_key_secret) {
            (Some(sid), Some(s)) => Some((sid, secret("api_key_secret", s)?)),
            (None, None) => None,
            _ => {
                return Err(t.error(format_args!(
                    "keys 'accounts[{i}].api_key_sid' and 'accounts[{i}].api_key_secret' go together"
                )));
            }
        };
        let prefix = format!("accounts[{i}].");
        let sender = check_account(
            t.channel().as_str(),
            &prefix,
            &e.sid,
            &token,
            api_key.as_ref(),
            e.from,
            e.messaging_service_sid,
        )?;
        if out.iter().any(|a| a.sid == e.sid) {
            return Err(t.error(format_args!(
                "key 'accounts': account {} is listed twice",
                e.sid
            )));
        }
        out.push(TwilioAccount {
            sid: e.sid,
            auth_token: token,
            api_key,
            sender,
        });
    }
    Ok(Some(out))
}

impl TwilioConfig {
    /// The SIDs of every account the channel serves, the default account first.
    pub fn account_sids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.account_sid.as_str())
            .chain(self.other_accounts.iter().map(|a| a.sid.as_str()))
    }

    /// Whether the channel serves several accounts (its conversation ids are then prefixed).
    pub fn is_multi_account(&self) -> bool {
        !self.other_accounts.is_empty()
    }

    /// The conversation id of customer `address` of account `account_sid` on this channel:
    /// `address` on a channel of one account, `{account_sid}/{address}` on one of several.
    pub fn conversation_id(&self, account_sid: &str, address: &str) -> String {
        if self.is_multi_account() {
            format!("{account_sid}/{address}")
        } else {
            address.to_owned()
        }
    }

    /// The account a conversation id belongs to (its index, 0 for the default account) and
    /// the customer's address. An unprefixed id is the default account's.
    ///
    /// # Errors
    ///
    /// `NotFound` when the id names an account this channel does not serve.
    pub(crate) fn route<'a>(&self, conversation: &'a str) -> Result<(usize, &'a str)> {
        let Some((sid, address)) = conversation.split_once('/') else {
            return Ok((0, conversation));
        };
        if !is_sid(sid, "AC") {
            return Ok((0, conversation));
        }
        self.account_sids()
            .position(|s| s == sid)
            .map(|i| (i, address))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "conversation names account {sid}, which channel {} does not serve",
                        self.channel
                    ),
                )
                .with_provider(PROVIDER)
            })
    }

    /// One configuration per account, the default first: the channel's settings with that
    /// account's SID, token, API key and sender, and no other accounts.
    pub(crate) fn account_views(&self) -> Vec<TwilioConfig> {
        let single = TwilioConfig {
            other_accounts: Vec::new(),
            ..self.clone()
        };
        let mut out = vec![single.clone()];
        for a in &self.other_accounts {
            out.push(TwilioConfig {
                account_sid: a.sid.clone(),
                auth_token: a.auth_token.clone(),
                api_key: a.api_key.clone(),
                sender: a.sender.clone(),
                ..single.clone()
            });
        }
        out
    }
}
