//! `[gateway]`: API keys for the REST API and the endpoints events are forwarded to.
//!
//! ```toml
//! [gateway]
//! api_keys = ["${SWITCHBOARD_API_KEY}"]          # Bearer keys: every channel
//! # or, per key: a hash instead of the key, and the channels it may use
//! # api_keys = [{ sha256 = "9f86d0…", channels = ["sms"] }]
//! allow_private_targets = false                  # true: forward to loopback/private addresses
//!                                                # (and plain http); for local development
//! api_on = "listen"                              # or "admin_listen": the REST API on
//!                                                # [server] admin_listen, with /metrics, /readyz
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
    /// Which listener serves the REST API (`api_on`, default `"listen"`).
    pub api_on: ApiOn,
}

/// Which of `[server]`'s listeners serves the gateway's REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApiOn {
    /// `server.listen`, beside the webhooks (`api_on = "listen"`, the default).
    #[default]
    Listen,
    /// `server.admin_listen`, beside `/metrics` and `/readyz` (`api_on = "admin_listen"`): an
    /// address the providers' webhooks do not reach, e.g. a private network only.
    AdminListen,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            api_keys: Vec::new(),
            forward: Vec::new(),
            allow_private_targets: false,
            retry_schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
            timeout: DEFAULT_TIMEOUT,
            api_on: ApiOn::default(),
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

/// The keys of `[gateway]`.
const KEYS: [&str; 6] = [
    "api_keys",
    "api_on",
    "allow_private_targets",
    "forward",
    "retry_schedule",
    "timeout",
];

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    api_keys: Vec<toml::Value>,
    #[serde(default)]
    forward: Vec<toml::Value>,
    #[serde(default)]
    allow_private_targets: bool,
    retry_schedule: Option<Vec<String>>,
    timeout: Option<String>,
    api_on: Option<String>,
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

/// Where the valid keys and endpoints of a section read with problems were in the document.
#[derive(Default)]
struct Positions {
    keys: Vec<usize>,
    forward: Vec<usize>,
}

/// `[gateway]` read with every problem found (the config is meaningful only without them).
fn read(doc: &toml::Table, env: &Env) -> (Option<GatewayConfig>, Vec<Error>, Positions) {
    let mut at = Positions::default();
    let Some(value) = doc.get("gateway") else {
        return (None, Vec::new(), at);
    };
    let Some(table) = value.as_table() else {
        return (None, vec![gateway_error("[gateway] must be a table")], at);
    };
    let mut problems = Vec::new();
    for key in table.keys().filter(|k| !KEYS.contains(&k.as_str())) {
        problems.push(gateway_error(format_args!(
            "unknown field `{key}` (known keys: {})",
            KEYS.join(", ")
        )));
    }
    let known: toml::Table = table
        .iter()
        .filter(|(k, _)| KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let raw = match Raw::deserialize(toml::Value::Table(known)) {
        Ok(raw) => raw,
        Err(e) => {
            problems.push(gateway_error(e.message()));
            return (None, problems, at);
        }
    };
    let mut config = GatewayConfig {
        allow_private_targets: raw.allow_private_targets,
        ..GatewayConfig::default()
    };
    for (i, v) in raw.api_keys.iter().enumerate() {
        match api_key(i, v, env) {
            Ok(k) => {
                config.api_keys.push(k);
                at.keys.push(i);
            }
            Err(e) => problems.push(e),
        }
    }
    let mut names = HashSet::new();
    for (i, v) in raw.forward.iter().enumerate() {
        let key = format!("forward[{i}]");
        let raw = match RawForward::deserialize(v.clone()) {
            Ok(raw) => raw,
            Err(e) => {
                problems.push(gateway_error(format_args!("key '{key}': {}", e.message())));
                continue;
            }
        };
        match forward(&key, raw, env, config.allow_private_targets) {
            Ok(target) if !names.insert(target.name.clone()) => {
                problems.push(gateway_error(format_args!(
                    "key '{key}.name': another endpoint is named {:?} (give each a distinct name)",
                    target.name
                )));
            }
            Ok(target) => {
                config.forward.push(target);
                at.forward.push(i);
            }
            Err(e) => problems.extend(e),
        }
    }
    if let Some(schedule) = raw.retry_schedule {
        if schedule.is_empty() {
            problems.push(gateway_error(
                "key 'retry_schedule': give at least one delay (\"0s\" retries at once)",
            ));
        }
        let mut delays = Vec::new();
        for (i, s) in schedule.iter().enumerate() {
            match parse_duration(s) {
                Ok(d) => delays.push(d),
                Err(e) => problems.push(gateway_error(format_args!(
                    "key 'retry_schedule[{i}]': {e}"
                ))),
            }
        }
        config.retry_schedule = delays;
    }
    if let Some(t) = raw.timeout {
        match parse_duration(&t) {
            Ok(t) if t.is_zero() || t > Duration::from_secs(60) => {
                problems.push(gateway_error("key 'timeout': must be between 1ms and 60s"));
            }
            Ok(t) => config.timeout = t,
            Err(e) => problems.push(gateway_error(format_args!("key 'timeout': {e}"))),
        }
    }
    let admin_listen = doc
        .get("server")
        .and_then(|s| s.get("admin_listen"))
        .is_some();
    match raw.api_on.as_deref() {
        None | Some("listen") => {}
        Some("admin_listen") if !admin_listen => problems.push(gateway_error(
            "key 'api_on': \"admin_listen\" needs [server] admin_listen",
        )),
        Some("admin_listen") => config.api_on = ApiOn::AdminListen,
        Some(other) => problems.push(gateway_error(format_args!(
            "key 'api_on': {other:?} is neither \"listen\" nor \"admin_listen\""
        ))),
    }
    if raw.api_keys.is_empty() && raw.forward.is_empty() {
        problems.push(gateway_error(
            "configure api_keys (the REST API) or at least one [[gateway.forward]] endpoint",
        ));
    }
    (Some(config), problems, at)
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
        let (config, problems, _) = read(doc, env);
        match problems.into_iter().next() {
            Some(first) => Err(first),
            None => Ok(config),
        }
    }

    /// Every problem of `[gateway]` in a parsed config document (what `switchboard check`
    /// reports), each naming its key: those [`from_document`](Self::from_document) finds one
    /// at a time, then [`check_channels`](Self::check_channels)' against `channels` (the
    /// configured channel names) for the keys and endpoints that are valid. Empty when the
    /// section is valid or absent.
    pub fn problems(doc: &toml::Table, env: &Env, channels: &[&str]) -> Vec<Error> {
        let (config, mut problems, at) = read(doc, env);
        if let Some(config) = config {
            problems.extend(config.channel_problems(channels, &at));
        }
        problems
    }

    /// Problems with the channels the section names, given the configured channel names.
    pub fn check_channels<'a>(&self, channels: impl IntoIterator<Item = &'a str>) -> Vec<Error> {
        let known: Vec<&str> = channels.into_iter().collect();
        self.channel_problems(&known, &Positions::default())
    }

    /// [`check_channels`](Self::check_channels) naming each key and endpoint by its position
    /// in the document (`at`; by its position here where `at` has none).
    fn channel_problems(&self, known: &[&str], at: &Positions) -> Vec<Error> {
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
            let i = at.keys.get(i).copied().unwrap_or(i);
            check(format!("api_keys[{i}]"), &k.channels);
        }
        for (i, f) in self.forward.iter().enumerate() {
            let i = at.forward.get(i).copied().unwrap_or(i);
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

/// One endpoint, or every problem with it.
fn forward(
    key: &str,
    raw: RawForward,
    env: &Env,
    allow_private: bool,
) -> std::result::Result<ForwardTarget, Vec<Error>> {
    let mut problems = Vec::new();
    let url_key = format!("{key}.url");
    let written = substitute(env, &url_key, &raw.url)
        .map_err(|e| problems.push(e))
        .ok();
    let url = written.as_deref().and_then(|w| {
        let checked = Url::parse(w).map_err(|e| e.to_string()).and_then(|url| {
            check_target(&url, allow_private)?;
            Ok(url)
        });
        checked
            .map_err(|e| problems.push(gateway_error(format_args!("key '{url_key}': {e}"))))
            .ok()
    });
    let name = match raw.name {
        Some(n)
            if n.is_empty()
                || n.len() > 200
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            problems.push(gateway_error(format_args!(
                "key '{key}.name': 1 to 200 of A-Z a-z 0-9 - _ ."
            )));
            None
        }
        Some(n) => Some(n),
        None => written,
    };
    if raw.secrets.is_empty() {
        problems.push(gateway_error(format_args!(
            "key '{key}.secrets': give at least one whsec_ secret"
        )));
    }
    let mut secrets = Vec::new();
    for (j, s) in raw.secrets.iter().enumerate() {
        let k = format!("{key}.secrets[{j}]");
        let parsed = substitute(env, &k, s).and_then(|s| {
            WebhookSecret::parse(&s)
                .map_err(|e| gateway_error(format_args!("key '{k}': {}", e.message())))
        });
        match parsed {
            Ok(secret) => secrets.push(secret),
            Err(e) => problems.push(e),
        }
    }
    let channels = channels(key, raw.channels)
        .map_err(|e| problems.push(e))
        .ok();
    match (url, name, channels) {
        (Some(url), Some(name), Some(channels)) if problems.is_empty() => Ok(ForwardTarget {
            name,
            url,
            secrets,
            channels,
        }),
        _ => Err(problems),
    }
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
#[path = "config_tests.rs"]
mod tests;
