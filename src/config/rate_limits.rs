//! `[rate_limits]`: outbound rate limits and provider pauses shared by every instance through
//! Redis (cargo feature `redis`). Without the table each engine limits its own sends, as a
//! single instance should.

use std::time::Duration;

use serde::Deserialize;
use switchboard_core::{Env, Error, ErrorKind, Result};

use super::duration;

/// `[rate_limits]`: where the limits every instance shares live.
///
/// ```toml
/// [rate_limits]
/// url = "redis://127.0.0.1:6379"   # required in the table; "${REDIS_URL}" reads the environment
/// key_prefix = "switchboard"       # keys are {key_prefix}:{channel}:…
/// timeout = "100ms"                # one check's round trip; then the local share decides
/// connect_timeout = "1s"
/// instances = 2                    # while Redis is unreachable each instance sends within
///                                  # 1/instances of every limit
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitsConfig {
    /// `redis://[:password@]host[:port][/db]` or `redis+unix:///path` (no TLS: `rediss://` is
    /// refused). May be written `"${ENV_NAME}"`.
    pub url: String,
    /// Prefix of every key (several deployments can share one Redis with different prefixes).
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Longest one check (or pause) may wait for Redis; a slower answer counts as Redis being
    /// unreachable, and the local share decides.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Longest a connection attempt may take (at start, and each reconnection).
    #[serde(default = "default_connect_timeout", deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// How many instances run: while Redis is unreachable each one sends within
    /// `1/instances` of each rate (and of each burst, at least 1), so together they stay
    /// within the limits. Set it to the number of instances you run.
    #[serde(default = "default_instances")]
    pub instances: u32,
}

fn default_prefix() -> String {
    "switchboard".to_owned()
}
fn default_timeout() -> Duration {
    Duration::from_millis(100)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_instances() -> u32 {
    2
}

impl RateLimitsConfig {
    /// Limits shared through the Redis at `url`, with the default tuning.
    pub fn new(url: impl Into<String>) -> Self {
        RateLimitsConfig {
            url: url.into(),
            key_prefix: default_prefix(),
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            instances: default_instances(),
        }
    }

    /// Sets the key prefix.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the expected number of instances (the local share while Redis is unreachable).
    pub fn with_instances(mut self, instances: u32) -> Self {
        self.instances = instances;
        self
    }

    /// Sets how long one check may wait for Redis.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL without its password (for logs and messages).
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// Checks the values no engine can run with; each error names its key.
    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |key: &str, msg: String| {
            Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("rate_limits.{key}: {msg}"),
            ))
        };
        let url = self.url.trim();
        let scheme = url.split("://").next().unwrap_or_default();
        if !url.contains("://") || !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
            return invalid(
                "url",
                format!(
                    "{:?} is not a Redis URL (use redis://host:6379 or redis+unix:///path)",
                    self.redacted_url()
                ),
            );
        }
        if scheme == "rediss" {
            return invalid(
                "url",
                "TLS (rediss://) is not supported by this build; reach Redis over redis:// \
                 (e.g. through a local TLS tunnel)"
                    .to_owned(),
            );
        }
        if let Err(e) = client_accepts(url) {
            return invalid("url", format!("{:?}: {e}", self.redacted_url()));
        }
        if self.key_prefix.is_empty() {
            return invalid("key_prefix", "must not be empty".to_owned());
        }
        if self.instances == 0 {
            return invalid("instances", "must be at least 1".to_owned());
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return invalid(
                "timeout",
                "timeout and connect_timeout must be above zero".to_owned(),
            );
        }
        Ok(())
    }
}

impl std::fmt::Debug for RateLimitsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitsConfig")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("instances", &self.instances)
            .finish()
    }
}

/// Whether the Redis client takes `url` (never true without the `redis` feature).
fn client_accepts(url: &str) -> std::result::Result<(), String> {
    #[cfg(feature = "redis")]
    return redis::Client::open(url)
        .map(drop)
        .map_err(|e| format!("not a valid Redis URL: {e}"));
    #[cfg(not(feature = "redis"))]
    return Err(format!(
        "this build of switchboard has no Redis support (cargo feature `redis`); {} cannot be used",
        url.split("://").next().unwrap_or_default()
    ));
}

/// `scheme://user:secret@host…` → `scheme://user:***@host…`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Reads the `[rate_limits]` table, with `${ENV}` in `url` taken from `env`.
pub(crate) fn rate_limits_from(v: &toml::Value, env: &Env) -> Result<RateLimitsConfig> {
    let mut config = RateLimitsConfig::deserialize(v.clone()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("rate_limits: {}", e.message()),
        )
    })?;
    config.url = env
        .substitute(&config.url)
        .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("rate_limits.url: {e}")))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<RateLimitsConfig> {
        let v = toml::Value::Table(text.parse().unwrap());
        let env = Env::from_pairs([("REDIS_URL", "redis://:hunter2@127.0.0.1:6380/2")]);
        rate_limits_from(&v, &env).and_then(|c| c.validate().map(|()| c))
    }

    #[cfg(feature = "redis")]
    #[test]
    fn defaults_and_keys() {
        let c = read("url = 'redis://127.0.0.1:6379'").unwrap();
        assert_eq!(c.key_prefix, "switchboard");
        assert_eq!(c.timeout, Duration::from_millis(100));
        assert_eq!(c.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.instances, 2);
        let c =
            read("url = 'redis://h'\nkey_prefix = 'sb'\ntimeout = '50ms'\ninstances = 3").unwrap();
        assert_eq!(
            (c.key_prefix.as_str(), c.timeout, c.instances),
            ("sb", Duration::from_millis(50), 3)
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn errors_name_the_key() {
        let err = |text: &str| read(text).unwrap_err().to_string();
        assert!(err("key_prefix = 'x'").contains("rate_limits: missing field `url`"));
        for bad in ["url = 'localhost:6379'", "url = 'http://h'", "url = ''"] {
            let e = err(bad);
            assert!(e.contains("rate_limits.url:"), "{bad}: {e}");
        }
        assert!(err("url = 'rediss://h'").contains("rate_limits.url: TLS"));
        assert!(err("url = 'redis://h'\ninstances = 0").contains("rate_limits.instances"));
        assert!(err("url = 'redis://h'\ntimeout = '0s'").contains("rate_limits.timeout"));
        assert!(err("url = 'redis://h'\nkey_prefix = ''").contains("rate_limits.key_prefix"));
        assert!(err("url = 'redis://h'\ntimeot = '1s'").contains("unknown field `timeot`"));
        assert!(err("url = '${NOT_SET_ANYWHERE_123}'").contains("rate_limits.url: environment"));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_malformed_url_is_refused_by_the_client_too() {
        let e = read("url = 'redis://127.0.0.1:notaport'")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rate_limits.url:"), "{e}");
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn without_the_feature_the_table_is_refused() {
        let e = read("url = 'redis://h'").unwrap_err().to_string();
        assert!(
            e.contains("rate_limits.url:") && e.contains("feature `redis`"),
            "{e}"
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn the_url_comes_from_the_environment_and_its_password_is_never_shown() {
        let c = read("url = '${REDIS_URL}'").unwrap();
        assert_eq!(c.url, "redis://:hunter2@127.0.0.1:6380/2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redis://:***@127.0.0.1:6380/2"), "{shown}");
        assert_eq!(redact("redis://u:p@h/0"), "redis://u:***@h/0");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
