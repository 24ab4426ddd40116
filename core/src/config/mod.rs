//! Configuration: the `[channels.NAME]` tables, `${ENV}` substitution and redacted secrets.
//!
//! Adapters read their keys from a [`ChannelTable`] one by one and then call
//! [`ChannelTable::finish`], which rejects every key nobody read. Each error names the channel and
//! the key: `channels.sms: unknown key 'auth_tokn'`.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::model::ChannelName;
use crate::render::RenderPolicy;

mod env;
mod secret;

pub use env::Env;
pub use secret::Secret;

/// One `[channels.NAME]` table, handed to the provider's factory.
///
/// `Debug` lists the keys, never the values (they may hold secrets).
#[derive(Clone)]
pub struct ChannelTable {
    channel: ChannelName,
    provider: String,
    values: toml::Table,
    read: BTreeSet<String>,
    env: Env,
    public_webhook_url: Option<String>,
}

impl fmt::Debug for ChannelTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelTable")
            .field("channel", &self.channel)
            .field("provider", &self.provider)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ChannelTable {
    /// A table for `channel`; `values` must hold `provider`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel when `provider` is missing or not a string.
    pub fn new(channel: ChannelName, mut values: toml::Table, env: Env) -> Result<Self> {
        let provider = match values.remove("provider") {
            Some(toml::Value::String(p)) => p,
            Some(_) => {
                return Err(Error::config(
                    channel.as_str(),
                    "key 'provider' must be a string",
                ));
            }
            None => return Err(Error::config(channel.as_str(), "missing key 'provider'")),
        };
        Ok(ChannelTable {
            channel,
            provider,
            values,
            read: BTreeSet::new(),
            env,
            public_webhook_url: None,
        })
    }

    /// Parses the `[channels]` table of a whole config document, in name order.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when `[channels]` is not a table of tables, a channel name is invalid, or a
    /// channel has no `provider`.
    pub fn parse_all(doc: &toml::Table, env: &Env) -> Result<Vec<ChannelTable>> {
        let Some(channels) = doc.get("channels") else {
            return Ok(Vec::new());
        };
        let Some(channels) = channels.as_table() else {
            return Err(Error::new(
                crate::ErrorKind::InvalidConfig,
                "'channels' must be a table",
            ));
        };
        let mut out = Vec::with_capacity(channels.len());
        for (name, value) in channels {
            let channel =
                ChannelName::new(name.as_str()).map_err(|e| Error::config(name, e.message()))?;
            let Some(table) = value.as_table() else {
                return Err(Error::config(name, "must be a table"));
            };
            out.push(ChannelTable::new(channel, table.clone(), env.clone())?);
        }
        Ok(out)
    }

    /// Parses the `[channels]` tables of a whole TOML config text.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the text is not TOML, or as [`ChannelTable::parse_all`].
    pub fn parse_document(text: &str, env: &Env) -> Result<Vec<ChannelTable>> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::new(
                crate::ErrorKind::InvalidConfig,
                format!("invalid TOML: {}", e.message()),
            )
        })?;
        ChannelTable::parse_all(&doc, env)
    }

    /// Parses a TOML text holding one channel's keys (tests and examples).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` when the channel name is invalid, the text is not TOML, or it has no
    /// `provider`.
    pub fn from_toml_str(channel: &str, text: &str) -> Result<Self> {
        let channel = ChannelName::new(channel)?;
        let values: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::config(channel.as_str(), e.message()))?;
        ChannelTable::new(channel, values, Env::process())
    }

    /// Replaces the environment used for `${NAME}`.
    pub fn with_env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Sets the public URL at which this channel's webhooks arrive (known to the engine).
    pub fn with_public_webhook_url(mut self, url: impl Into<String>) -> Self {
        self.public_webhook_url = Some(url.into());
        self
    }

    /// The channel's name.
    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// The `provider` value.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The public URL of this channel's webhook endpoint, when the engine knows it.
    pub fn public_webhook_url(&self) -> Option<&str> {
        self.public_webhook_url.as_deref()
    }

    /// Adds or replaces a key (tests, and the conformance kit's unknown-key check).
    pub fn insert(&mut self, key: &str, value: impl Into<toml::Value>) {
        self.values.insert(key.to_owned(), value.into());
    }

    /// Removes a key without reading it (the engine takes its own sections this way).
    pub fn take(&mut self, key: &str) -> Option<toml::Value> {
        self.values.remove(key)
    }

    /// An error naming this channel.
    pub fn error(&self, message: impl fmt::Display) -> Error {
        Error::config(self.channel.as_str(), message)
    }

    fn raw(&mut self, key: &str) -> Option<toml::Value> {
        self.read.insert(key.to_owned());
        self.values.get(key).cloned()
    }

    /// A string key (with `${ENV}` substituted), if present.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the value is not a string or names an unset `${ENV}`
    /// variable.
    pub fn optional_str(&mut self, key: &str) -> Result<Option<String>> {
        match self.raw(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => self
                .env
                .substitute(&s)
                .map(Some)
                .map_err(|e| self.error(format_args!("key '{key}': {e}"))),
            Some(other) => Err(self.error(format_args!(
                "key '{key}' must be a string, not {}",
                other.type_str()
            ))),
        }
    }

    /// A required string key.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the key is missing, empty or not a string.
    pub fn required_str(&mut self, key: &str) -> Result<String> {
        match self.optional_str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(self.error(format_args!("key '{key}' must not be empty"))),
            None => Err(self.error(format_args!("missing key '{key}'"))),
        }
    }

    /// A secret key, if present.
    ///
    /// # Errors
    ///
    /// As [`optional_str`](Self::optional_str).
    pub fn optional_secret(&mut self, key: &str) -> Result<Option<Secret>> {
        Ok(self.optional_str(key)?.map(Secret::new))
    }

    /// A required secret key.
    ///
    /// # Errors
    ///
    /// As [`required_str`](Self::required_str).
    pub fn secret(&mut self, key: &str) -> Result<Secret> {
        self.required_str(key).map(Secret::new)
    }

    /// A boolean key, if present.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the value is not a boolean.
    pub fn optional_bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.raw(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(b)),
            Some(other) => Err(self.error(format_args!(
                "key '{key}' must be a boolean, not {}",
                other.type_str()
            ))),
        }
    }

    /// A duration key, if present: a number of seconds, or a string like `"250ms"`, `"2s"`,
    /// `"1.5s"` or `"1m"`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the value is not such a duration.
    pub fn optional_duration(&mut self, key: &str) -> Result<Option<std::time::Duration>> {
        let parsed = match self.raw(key) {
            None => return Ok(None),
            Some(toml::Value::Integer(n)) => {
                u64::try_from(n).ok().map(std::time::Duration::from_secs)
            }
            Some(toml::Value::Float(f)) => std::time::Duration::try_from_secs_f64(f).ok(),
            Some(toml::Value::String(s)) => parse_duration(&s),
            Some(_) => None,
        };
        parsed.map(Some).ok_or_else(|| {
            self.error(format_args!(
                "key '{key}' must be a duration like \"2s\" or \"250ms\""
            ))
        })
    }

    /// Any deserializable key, if present (strings are not `${ENV}`-substituted here).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the value does not deserialize into `T`.
    pub fn optional<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| self.error(format_args!("key '{key}': {}", e.message()))),
        }
    }

    /// The `render` key: `fallback` (default), `strict` or `drop`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the value is not `fallback`, `strict` or `drop`.
    pub fn render_policy(&mut self) -> Result<RenderPolicy> {
        match self.optional_str("render")? {
            None => Ok(RenderPolicy::default()),
            Some(s) => s
                .parse()
                .map_err(|e: Error| self.error(format_args!("key 'render': {}", e.message()))),
        }
    }

    /// The `api_base_url` key, or `default`; must be an absolute http(s) URL. Returned without a
    /// trailing slash.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when the value is not an absolute http(s) URL.
    pub fn api_base_url(&mut self, default: &str) -> Result<String> {
        let value = self
            .optional_str("api_base_url")?
            .unwrap_or_else(|| default.to_owned());
        match url::Url::parse(&value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(value.trim_end_matches('/').to_owned())
            }
            _ => Err(self.error(format_args!(
                "key 'api_base_url': {value:?} is not an absolute http(s) URL"
            ))),
        }
    }

    /// Rejects every key that was not read: `channels.sms: unknown key 'auth_tokn'`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and every key that was not read.
    pub fn finish(self) -> Result<()> {
        let unknown: Vec<&String> = self
            .values
            .keys()
            .filter(|k| !self.read.contains(*k))
            .collect();
        match unknown.as_slice() {
            [] => Ok(()),
            [one] => Err(self.error(format_args!(
                "unknown key '{one}' (known keys: {})",
                self.known_keys()
            ))),
            many => Err(self.error(format_args!(
                "unknown keys {} (known keys: {})",
                many.iter()
                    .map(|k| format!("'{k}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.known_keys()
            ))),
        }
    }

    fn known_keys(&self) -> String {
        let mut keys: Vec<&str> = self.read.iter().map(String::as_str).collect();
        keys.insert(0, "provider");
        keys.join(", ")
    }
}

/// `"250ms"`, `"2s"`, `"1.5s"`, `"1m"` (a bare number is seconds).
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    std::time::Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_parse_in_several_forms() {
        let mut t = super::ChannelTable::from_toml_str(
            "c",
            "provider = 'x'\na = '250ms'\nb = 2\nc = '1.5s'\nd = 'soon'",
        )
        .unwrap();
        let ms = std::time::Duration::from_millis;
        assert_eq!(t.optional_duration("a").unwrap(), Some(ms(250)));
        assert_eq!(t.optional_duration("b").unwrap(), Some(ms(2000)));
        assert_eq!(t.optional_duration("c").unwrap(), Some(ms(1500)));
        assert_eq!(t.optional_duration("none").unwrap(), None);
        let e = t.optional_duration("d").unwrap_err();
        assert!(e.to_string().contains("key 'd' must be a duration"), "{e}");
    }

    use super::*;
    use crate::ErrorKind;

    fn table(text: &str) -> ChannelTable {
        ChannelTable::from_toml_str("sms", text)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_env(Env::from_pairs([("TOKEN", "s3cret")]))
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn env_substitution_and_missing_variables() {
        let mut t = table("provider = 'twilio'\nauth_token = '${TOKEN}'\nother = 'a${NOPE}b'");
        assert_eq!(
            t.secret("auth_token")
                .map(|s| s.expose().to_owned())
                .ok()
                .as_deref(),
            Some("s3cret")
        );
        let err = t
            .optional_str("other")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("channels.sms: key 'other': environment variable NOPE is not set"),
            "{err}"
        );
    }

    #[test]
    fn unknown_and_missing_keys_name_channel_and_key() {
        let mut t = table("provider = 'twilio'\naccount_sid = 'AC1'\nauth_tokn = 'x'");
        assert!(t.required_str("account_sid").is_ok());
        let missing = t
            .required_str("from")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(missing, "invalid_config: channels.sms: missing key 'from'");
        let err = t.finish().err().unwrap_or_else(|| panic!("expected error"));
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string()
                .contains("channels.sms: unknown key 'auth_tokn'"),
            "{err}"
        );
    }

    #[test]
    fn typed_keys_and_base_url() {
        let mut t = table("provider = 'x'\nflag = 'yes'\napi_base_url = 'http://127.0.0.1:9/api/'");
        assert!(t.optional_bool("flag").is_err());
        assert_eq!(
            t.api_base_url("https://example.com").ok().as_deref(),
            Some("http://127.0.0.1:9/api")
        );
        let mut bad = table("provider = 'x'\napi_base_url = 'ftp://x'");
        assert!(bad.api_base_url("https://example.com").is_err());
    }

    #[test]
    fn parse_all_reads_every_channel() {
        let doc: toml::Table =
            "[channels.a]\nprovider = 'memory'\n[channels.b]\nprovider = 'memory'"
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
        let all = ChannelTable::parse_all(&doc, &Env::process()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            all.iter().map(|c| c.channel().as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let bad: toml::Table = "[channels.a]\nkey = 1"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let err = ChannelTable::parse_all(&bad, &Env::process())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid_config: channels.a: missing key 'provider'")
        );
    }
}
