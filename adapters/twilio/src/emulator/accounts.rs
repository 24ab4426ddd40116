//! Several accounts on one emulator (a main account and subaccounts, each with its own auth
//! token, API keys, numbers and Messaging Services). Credentials reach only their own
//! account's resources here: the emulator does not model a parent account's access to its
//! subaccounts, so a test can tell, by the credentials each call used, that accounts never mix.

use super::EmulatorOptions;

/// One more account of the emulator. `Debug` never shows the token or key secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct EmulatedAccount {
    /// `AC…`.
    pub account_sid: String,
    /// The auth token: API auth and the signatures of this account's webhooks.
    pub auth_token: String,
    /// API keys `(SK…, secret)` of this account.
    pub api_keys: Vec<(String, String)>,
    /// Senders the account owns.
    pub numbers: Vec<String>,
    /// Messaging Services (`MG…`) the account owns.
    pub messaging_services: Vec<String>,
}

impl EmulatedAccount {
    /// Account `sid` with `auth_token`, owning `numbers`.
    pub fn new(sid: &str, auth_token: &str, numbers: &[&str]) -> Self {
        EmulatedAccount {
            account_sid: sid.to_owned(),
            auth_token: auth_token.to_owned(),
            api_keys: Vec::new(),
            numbers: numbers.iter().map(|n| (*n).to_owned()).collect(),
            messaging_services: Vec::new(),
        }
    }
}

impl std::fmt::Debug for EmulatedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedAccount")
            .field("account_sid", &self.account_sid)
            .field("numbers", &self.numbers)
            .field("messaging_services", &self.messaging_services)
            .finish_non_exhaustive()
    }
}

impl EmulatorOptions {
    /// Every account, the main one (`account_sid`) first.
    pub fn accounts(&self) -> Vec<EmulatedAccount> {
        let main = EmulatedAccount {
            account_sid: self.account_sid.clone(),
            auth_token: self.auth_token.clone(),
            api_keys: self.api_keys.clone(),
            numbers: self.numbers.clone(),
            messaging_services: self.messaging_services.clone(),
        };
        std::iter::once(main)
            .chain(self.subaccounts.iter().cloned())
            .collect()
    }

    /// Account `sid`, if the emulator has it.
    pub fn account(&self, sid: &str) -> Option<EmulatedAccount> {
        self.accounts().into_iter().find(|a| a.account_sid == sid)
    }
}
