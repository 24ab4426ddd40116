//! `[gateway]`: API keys for the REST API and the endpoints events are forwarded to.
//!
//! ```toml
//! [gateway]
//! api_keys = ["${SWITCHBOARD_API_KEY}"]          # Bearer keys: every channel
//! # or, per key: a hash instead of the key, and the channels it may use
//! # api_keys = [{ sha256 = "9f86d0…", channels = ["sms"] }]
//! allow_private_targets = false                  # true: forward to loopback/private addresses
//!                                                # (and plain http); for local development
//!
//! [[gateway.forward]]
//! name = "app"                                   # the queue's name (default: the url)
//! url = "https://app.example/switchboard/events"
//! secrets = ["${FORWARD_SECRET}"]                # whsec_…; several at once for rotation
//! channels = ["sms", "site"]                     # default: every channel
//! ```

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use switchboard_core::{ChannelName, Env, Error, ErrorKind, Result};
use url::{Host, Url};

use super::signature::WebhookSecret;
use crate::config::parse_duration;

/// The retry schedule of the Standard Webhooks spec: the delay before each attempt after a
/// failure (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h); after the last
/// the event is a dead letter.
pub const DEFAULT_RETRY_SCHEDULE: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// How long an endpoint has to answer (the spec's 15 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The fewest characters an API key may have.
pub const MIN_API_KEY_LEN: usize = 16;

/// The `[gateway]` section.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Keys the REST API accepts.
    pub api_keys: Vec<ApiKey>,
    /// Where inbound events are forwarded.
    pub forward: Vec<ForwardTarget>,
    /// Whether forward targets may be loopback, private or link-local addresses (and plain
    /// `http`). Off by default (SSRF): a public target must be `https` and resolve to public
    /// addresses only.
    pub allow_private_targets: bool,
    /// The delay before each retry (`retry_schedule`, default [`DEFAULT_RETRY_SCHEDULE`]);
    /// jittered by up to ±10 % (at most ±1 min).
    pub retry_schedule: Vec<Duration>,
    /// How long an endpoint has to answer (`timeout`, default 15 s).
    pub timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            api_keys: Vec::new(),
            forward: Vec::new(),
            allow_private_targets: false,
            retry_schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// One API key: kept as its SHA-256 (the config may give the hash only), and the channels it
/// may use (`None`: every channel).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKey {
    /// `api_keys[i]`: how logs and errors name it (never the key).
    pub label: String,
    /// SHA-256 of the key.
    pub sha256: [u8; 32],
    /// The channels it may use; `None`: all.
    pub channels: Option<Vec<ChannelName>>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("label", &self.label)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key (at least [`MIN_API_KEY_LEN`] characters) for `channels` (`None`: all).
    ///
    /// # Errors
    ///
    /// An `InvalidConfig` error when the key is shorter than [`MIN_API_KEY_LEN`].
    pub fn new(key: &str, channels: Option<Vec<ChannelName>>) -> Result<Self> {
        check_key(key).map_err(|e| gateway_error(format_args!("api key: {e}")))?;
        Ok(ApiKey {
            label: "api key".to_owned(),
            sha256: Sha256::digest(key.as_bytes()).into(),
            channels,
        })
    }

    /// Whether this key may use `channel`.
    pub fn allows(&self, channel: &str) -> bool {
        self.channels
            .as_ref()
            .is_none_or(|c| c.iter().any(|c| c.as_str() == channel))
    }
}

/// One `[[gateway.forward]]` endpoint.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ForwardTarget {
    /// The queue's name (`name`, default: the url as written): the store keeps each
    /// endpoint's queue and its disabled flag under it.
    pub name: String,
    /// Where events are POSTed.
    pub url: Url,
    /// Signing secrets; each gives one signature per request.
    pub secrets: Vec<WebhookSecret>,
    /// The channels whose events go there; `None`: every channel.
    pub channels: Option<Vec<ChannelName>>,
}

impl ForwardTarget {
    /// Whether events of `channel` go to this endpoint.
    pub fn wants(&self, channel: &str) -> bool {
        self.channels
            .as_ref()
            .is_none_or(|c| c.iter().any(|c| c.as_str() == channel))
    }
}

fn gateway_error(message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("gateway: {message}"))
}

fn check_key(key: &str) -> std::result::Result<(), String> {
    if key.chars().count() < MIN_API_KEY_LEN {
        return Err(format!("must be at least {MIN_API_KEY_LEN} characters"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace".to_owned());
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForward {
    name: Option<String>,
    url: String,
    secrets: Vec<String>,
    channels: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    key: Option<String>,
    sha256: Option<String>,
    channels: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    api_keys: Vec<toml::Value>,
    #[serde(default)]
    forward: Vec<toml::Value>,
    #[serde(default)]
    allow_private_targets: bool,
    retry_schedule: Option<Vec<String>>,
    timeout: Option<String>,
}

fn channels(key: &str, names: Option<Vec<String>>) -> Result<Option<Vec<ChannelName>>> {
    let Some(names) = names else { return Ok(None) };
    if names.is_empty() {
        return Err(gateway_error(format_args!(
            "key '{key}.channels': name at least one channel, or leave the key out for all"
        )));
    }
    names
        .iter()
        .map(|n| {
            ChannelName::new(n)
                .map_err(|e| gateway_error(format_args!("key '{key}.channels': {}", e.message())))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn substitute(env: &Env, key: &str, value: &str) -> Result<String> {
    env.substitute(value)
        .map_err(|e| gateway_error(format_args!("key '{key}': {e}")))
}

impl GatewayConfig {
    /// Reads `[gateway]` from a parsed config document, `${ENV}` substituted from `env`;
    /// `Ok(None)` when there is none.
    ///
    /// # Errors
    ///
    /// An `InvalidConfig` error naming the key (`gateway: key 'forward[0].url': …`) when a value is
    /// missing, of the wrong type or invalid, or an `${ENV}` variable is unset.
    pub fn from_document(doc: &toml::Table, env: &Env) -> Result<Option<Self>> {
        let Some(value) = doc.get("gateway") else {
            return Ok(None);
        };
        let raw = Raw::deserialize(value.clone()).map_err(|e| gateway_error(e.message()))?;
        let mut config = GatewayConfig {
            allow_private_targets: raw.allow_private_targets,
            ..GatewayConfig::default()
        };
        for (i, v) in raw.api_keys.iter().enumerate() {
            config.api_keys.push(api_key(i, v, env)?);
        }
        let mut names = HashSet::new();
        for (i, v) in raw.forward.iter().enumerate() {
            let key = format!("forward[{i}]");
            let raw = RawForward::deserialize(v.clone())
                .map_err(|e| gateway_error(format_args!("key '{key}': {}", e.message())))?;
            let target = forward(&key, raw, env, config.allow_private_targets)?;
            if !names.insert(target.name.clone()) {
                return Err(gateway_error(format_args!(
                    "key '{key}.name': another endpoint is named {:?} (give each a distinct name)",
                    target.name
                )));
            }
            config.forward.push(target);
        }
        if let Some(schedule) = raw.retry_schedule {
            if schedule.is_empty() {
                return Err(gateway_error(
                    "key 'retry_schedule': give at least one delay (\"0s\" retries at once)",
                ));
            }
            config.retry_schedule = schedule
                .iter()
                .map(|s| parse_duration(s))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| gateway_error(format_args!("key 'retry_schedule': {e}")))?;
        }
        if let Some(t) = raw.timeout {
            let t = parse_duration(&t)
                .map_err(|e| gateway_error(format_args!("key 'timeout': {e}")))?;
            if t.is_zero() || t > Duration::from_secs(60) {
                return Err(gateway_error("key 'timeout': must be between 1ms and 60s"));
            }
            config.timeout = t;
        }
        if config.api_keys.is_empty() && config.forward.is_empty() {
            return Err(gateway_error(
                "configure api_keys (the REST API) or at least one [[gateway.forward]] endpoint",
            ));
        }
        Ok(Some(config))
    }

    /// Problems with the channels the section names, given the configured channel names.
    pub fn check_channels<'a>(&self, channels: impl IntoIterator<Item = &'a str>) -> Vec<Error> {
        let known: Vec<&str> = channels.into_iter().collect();
        let mut problems = Vec::new();
        let mut check = |key: String, names: &Option<Vec<ChannelName>>| {
            for c in names.iter().flatten() {
                if !known.contains(&c.as_str()) {
                    problems.push(gateway_error(format_args!(
                        "key '{key}.channels': no channel '{c}' (known: {})",
                        known.join(", ")
                    )));
                }
            }
        };
        for (i, k) in self.api_keys.iter().enumerate() {
            check(format!("api_keys[{i}]"), &k.channels);
        }
        for (i, f) in self.forward.iter().enumerate() {
            check(format!("forward[{i}]"), &f.channels);
        }
        problems
    }

    /// The forward endpoint named `name`.
    pub fn target(&self, name: &str) -> Option<&ForwardTarget> {
        self.forward.iter().find(|f| f.name == name)
    }
}

fn api_key(i: usize, v: &toml::Value, env: &Env) -> Result<ApiKey> {
    let key = format!("api_keys[{i}]");
    let label = key.clone();
    let (secret, hash, names) = match v {
        toml::Value::String(s) => (Some(s.clone()), None, None),
        toml::Value::Table(_) => {
            let raw = RawKey::deserialize(v.clone())
                .map_err(|e| gateway_error(format_args!("key '{key}': {}", e.message())))?;
            (raw.key, raw.sha256, raw.channels)
        }
        _ => {
            return Err(gateway_error(format_args!(
                "key '{key}': a key (\"${{ENV}}\") or a table {{ key | sha256, channels }}"
            )));
        }
    };
    let sha256 = match (secret, hash) {
        (Some(k), None) => {
            let k = substitute(env, &key, &k)?;
            check_key(&k).map_err(|e| gateway_error(format_args!("key '{key}': {e}")))?;
            Sha256::digest(k.as_bytes()).into()
        }
        (None, Some(h)) => {
            let h = substitute(env, &format!("{key}.sha256"), &h)?;
            hex_digest(&h).ok_or_else(|| {
                gateway_error(format_args!(
                    "key '{key}.sha256': 64 hexadecimal digits (sha256sum of the key)"
                ))
            })?
        }
        _ => {
            return Err(gateway_error(format_args!(
                "key '{key}': give exactly one of 'key' and 'sha256'"
            )));
        }
    };
    Ok(ApiKey {
        label,
        sha256,
        channels: channels(&key, names)?,
    })
}

fn hex_digest(h: &str) -> Option<[u8; 32]> {
    let h = h.trim();
    if h.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn forward(key: &str, raw: RawForward, env: &Env, allow_private: bool) -> Result<ForwardTarget> {
    let written = substitute(env, &format!("{key}.url"), &raw.url)?;
    let url =
        Url::parse(&written).map_err(|e| gateway_error(format_args!("key '{key}.url': {e}")))?;
    check_target(&url, allow_private)
        .map_err(|e| gateway_error(format_args!("key '{key}.url': {e}")))?;
    let name = match raw.name {
        Some(n) => {
            if n.is_empty()
                || n.len() > 200
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(gateway_error(format_args!(
                    "key '{key}.name': 1 to 200 of A-Z a-z 0-9 - _ ."
                )));
            }
            n
        }
        None => written.clone(),
    };
    if raw.secrets.is_empty() {
        return Err(gateway_error(format_args!(
            "key '{key}.secrets': give at least one whsec_ secret"
        )));
    }
    let secrets = raw
        .secrets
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let k = format!("{key}.secrets[{j}]");
            let s = substitute(env, &k, s)?;
            WebhookSecret::parse(&s)
                .map_err(|e| gateway_error(format_args!("key '{k}': {}", e.message())))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ForwardTarget {
        name,
        url,
        secrets,
        channels: channels(key, raw.channels)?,
    })
}

/// Whether `url` may be a forward target: `https` (or `http` with `allow_private`), a host,
/// and, unless `allow_private`, neither an internal IP literal nor `localhost`. Host names are
/// checked again when they are resolved, at every request (see [`super::target`]).
pub(crate) fn check_target(url: &Url, allow_private: bool) -> std::result::Result<(), String> {
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => {
            return Err(
                "plain http is refused (use https, or allow_private_targets = true for local development)"
                    .to_owned(),
            );
        }
        other => return Err(format!("scheme '{other}' is not http(s)")),
    }
    let host = url.host().ok_or("the URL has no host")?;
    if allow_private {
        return Ok(());
    }
    let ip: Option<IpAddr> = match host {
        Host::Ipv4(ip) => Some(ip.into()),
        Host::Ipv6(ip) => Some(ip.into()),
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                return Err(format!(
                    "'{d}' is a loopback name (allow_private_targets = true allows it)"
                ));
            }
            None
        }
    };
    if let Some(reason) = ip.and_then(switchboard_core::fetch::refused_reason) {
        return Err(format!(
            "the address is {reason} (allow_private_targets = true allows it)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn parse(s: &str) -> Result<Option<GatewayConfig>> {
        let doc: toml::Table = s.parse().unwrap_or_else(|e| panic!("{e}"));
        GatewayConfig::from_document(
            &doc,
            &Env::from_pairs([("KEY", "k-0123456789abcdef"), ("SECRET", SECRET)]),
        )
    }

    fn problem(s: &str) -> String {
        parse(s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("no error for {s}"))
    }

    #[test]
    fn reads_the_documented_section() {
        let c = parse(
            r#"
[gateway]
api_keys = ["${KEY}", { sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", channels = ["sms"] }]
[[gateway.forward]]
url = "https://app.example/switchboard/events"
secrets = ["${SECRET}"]
channels = ["sms", "site"]
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no gateway"));
        assert_eq!(c.api_keys.len(), 2);
        assert!(c.api_keys[0].allows("anything"));
        assert!(c.api_keys[1].allows("sms") && !c.api_keys[1].allows("fb"));
        assert_eq!(c.forward[0].name, "https://app.example/switchboard/events");
        assert!(c.forward[0].wants("site") && !c.forward[0].wants("fb"));
        assert_eq!(c.retry_schedule, DEFAULT_RETRY_SCHEDULE.to_vec());
        assert_eq!(c.timeout, Duration::from_secs(15));
        let problems = c.check_channels(["sms"]);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .to_string()
                .contains("gateway: key 'forward[0].channels': no channel 'site'"),
            "{}",
            problems[0]
        );
        assert!(parse("[server]").is_ok_and(|c| c.is_none()));
    }

    #[test]
    fn every_bad_value_names_its_key() {
        let fwd = |url: &str, extra: &str| {
            format!(
                "[gateway]\n[[gateway.forward]]\nurl = \"{url}\"\nsecrets = [\"{SECRET}\"]\n{extra}"
            )
        };
        assert!(
            problem("[gateway]\napi_keys = [\"short\"]")
                .contains("key 'api_keys[0]': must be at least 16")
        );
        assert!(
            problem("[gateway]\napi_keys = [\"${NOPE_UNSET}\"]").contains("NOPE_UNSET is not set")
        );
        assert!(
            problem("[gateway]\napi_keys = [{ sha256 = \"abc\" }]").contains("api_keys[0].sha256")
        );
        assert!(
            problem("[gateway]\napi_keys = [{ key = \"k-0123456789abcdef\", sha256 = \"ab\" }]")
                .contains("exactly one")
        );
        assert!(problem("[gateway]\napi_key = []").contains("unknown field `api_key`"));
        assert!(problem("[gateway]").contains("configure api_keys"));
        assert!(
            problem(&fwd("http://app.example/x", ""))
                .contains("key 'forward[0].url': plain http is refused")
        );
        assert!(problem(&fwd("https://127.0.0.1/x", "")).contains("loopback"));
        assert!(problem(&fwd("https://10.1.2.3/x", "")).contains("private"));
        assert!(problem(&fwd("https://169.254.169.254/x", "")).contains("forward[0].url"));
        assert!(problem(&fwd("https://localhost:8080/x", "")).contains("loopback name"));
        assert!(problem(&fwd("ftp://app.example/x", "")).contains("scheme 'ftp'"));
        assert!(
            problem(&fwd("https://app.example/x", "channels = []")).contains("forward[0].channels")
        );
        assert!(
            problem(&fwd("https://app.example/x", "name = \"a b\"")).contains("forward[0].name")
        );
        assert!(
            problem(&fwd("https://app.example/x", "secret = 1")).contains("unknown field `secret`")
        );
        assert!(
            problem("[gateway]\n[[gateway.forward]]\nurl = \"https://a.example\"\nsecrets = [\"whsec_c2hvcnQ=\"]")
                .contains("key 'forward[0].secrets[0]': a secret must hold 24 to 64 bytes")
        );
        assert!(
            problem("[gateway]\n[[gateway.forward]]\nurl = \"https://a.example\"\nsecrets = []")
                .contains("forward[0].secrets")
        );
        let twice = format!(
            "{}\n[[gateway.forward]]\nurl = \"https://app.example/x\"\nsecrets = [\"{SECRET}\"]",
            fwd("https://app.example/x", "")
        );
        assert!(problem(&twice).contains("forward[1].name"));
        assert!(
            problem(
                &fwd("https://app.example/x", "")
                    .replace("[gateway]", "[gateway]\nretry_schedule = []")
            )
            .contains("retry_schedule")
        );
        assert!(
            problem(
                &fwd("https://app.example/x", "")
                    .replace("[gateway]", "[gateway]\ntimeout = \"2m\"")
            )
            .contains("timeout")
        );
        // Allowed explicitly: local development.
        let local = fwd("http://127.0.0.1:9/x", "").replace(
            "[gateway]",
            "[gateway]\nallow_private_targets = true\nretry_schedule = [\"0s\", \"50ms\"]",
        );
        let c = parse(&local)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(
            c.retry_schedule,
            vec![Duration::ZERO, Duration::from_millis(50)]
        );
    }
}
