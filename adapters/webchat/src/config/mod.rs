//! The configuration of one web chat channel: the keys of a `[channels.NAME]` table (the
//! builder for code is in `builder.rs`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_core::{ChannelTable, RenderPolicy, Result, Secret};

mod builder;
#[cfg(test)]
mod tests;

pub use builder::WebchatConfigBuilder;

/// How long a session token lives unless `session_ttl` says otherwise (30 days).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 86_400);
/// The shortest `session_ttl` accepted (one minute).
pub const MIN_SESSION_TTL: Duration = Duration::from_secs(60);
/// The longest `session_ttl` accepted (one year).
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(365 * 86_400);
/// The shortest `token_secret`, in bytes.
pub const MIN_TOKEN_SECRET_BYTES: usize = 32;
/// The longest visitor text unless `max_message_bytes` says otherwise.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4096;
/// The largest `max_message_bytes` accepted (1 MiB).
pub const MAX_MESSAGE_BYTES_LIMIT: usize = 1 << 20;
/// The largest upload unless `upload_max_bytes` says otherwise (10 MiB).
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The largest `upload_max_bytes` accepted (1 GiB).
pub const UPLOAD_MAX_BYTES_LIMIT: u64 = 1 << 30;
/// Requests per second per visitor token unless `visitor_rate` says otherwise.
pub const DEFAULT_VISITOR_PER_SECOND: f64 = 2.0;
/// The burst per visitor token unless `visitor_rate` says otherwise.
pub const DEFAULT_VISITOR_BURST: u32 = 10;

/// `visitor_rate = { per_second = 2.0, burst = 10 }`: the requests one visitor token may make.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorRate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Default for VisitorRate {
    fn default() -> Self {
        VisitorRate {
            per_second: DEFAULT_VISITOR_PER_SECOND,
            burst: DEFAULT_VISITOR_BURST,
        }
    }
}

/// The shortest `history_ttl` accepted (one minute).
pub const MIN_HISTORY_TTL: Duration = Duration::from_secs(60);

/// The settings of a web chat channel.
///
/// TOML keys: `allowed_origins` (required: exact origins such as `"https://shop.example"`),
/// `identity_secret` (secret, optional: verifies `user_hash`), `require_identity` (default
/// `false`; `true` needs `identity_secret`), `session_ttl` (default `"30d"`; `s`, `m`, `h` or
/// `d`), `max_message_bytes` (default 4096), `upload_max_bytes` (default 10485760) and
/// `visitor_rate` (default `{ per_second = 2.0, burst = 10 }`), `token_secret` (secret,
/// optional: the session tokens' key is derived from it; without it the engine generates a key
/// once and keeps it in its store, shared by every instance), `history_ttl` (optional, e.g.
/// `"90d"`: records older go from the conversation logs) and `history_max_records` (optional:
/// the newest records each conversation keeps); without either, every record is kept.
///
/// `Debug` prints `***` for the secrets.
#[derive(Clone)]
pub struct WebchatConfig {
    /// Origins allowed to call the endpoints, normalized (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// The secret of `user_hash` (shared with the website's backend only).
    pub identity_secret: Option<Secret>,
    /// Anonymous visitors are refused.
    pub require_identity: bool,
    /// How long a session token lives.
    pub session_ttl: Duration,
    /// The longest visitor text, in UTF-8 bytes.
    pub max_message_bytes: usize,
    /// The largest upload, in bytes.
    pub upload_max_bytes: u64,
    /// The requests one visitor token may make.
    pub visitor_rate: VisitorRate,
    /// What to do with content the widget cannot show natively (code only; the table has no
    /// key for it).
    pub render: RenderPolicy,
    /// The secret session tokens are signed with (through
    /// [`TokenKey::from_secret`](crate::TokenKey::from_secret)); `None`: a key the engine
    /// keeps in its store.
    pub token_secret: Option<Secret>,
    /// Records older than this go from the conversation logs (the engine's pruner); `None`:
    /// kept however old.
    pub history_ttl: Option<Duration>,
    /// The most records each conversation's log keeps (the newest); `None`: no limit.
    pub history_max_records: Option<u64>,
}

impl fmt::Debug for WebchatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebchatConfig")
            .field("allowed_origins", &self.allowed_origins)
            .field("identity_secret", &self.identity_secret)
            .field("require_identity", &self.require_identity)
            .field("session_ttl", &self.session_ttl)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("upload_max_bytes", &self.upload_max_bytes)
            .field("visitor_rate", &self.visitor_rate)
            .field("render", &self.render)
            .field("token_secret", &self.token_secret)
            .field("history_ttl", &self.history_ttl)
            .field("history_max_records", &self.history_max_records)
            .finish()
    }
}

impl WebchatConfig {
    /// A builder with these origins and every default (see [`WebchatConfigBuilder`]).
    pub fn builder<S: Into<String>>(
        allowed_origins: impl IntoIterator<Item = S>,
    ) -> WebchatConfigBuilder {
        WebchatConfigBuilder::new(WebchatConfig {
            allowed_origins: allowed_origins.into_iter().map(Into::into).collect(),
            identity_secret: None,
            require_identity: false,
            session_ttl: DEFAULT_SESSION_TTL,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            upload_max_bytes: DEFAULT_UPLOAD_MAX_BYTES,
            visitor_rate: VisitorRate::default(),
            render: RenderPolicy::default(),
            token_secret: None,
            history_ttl: None,
            history_max_records: None,
        })
    }

    /// Reads the keys of a channel table; [`ChannelTable::finish`] then rejects unknown ones.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key: a missing or malformed key, an origin
    /// that is not `scheme://host[:port]`, `require_identity` without `identity_secret`, a
    /// duration or size out of range, or an unset `${ENV}` variable.
    pub fn from_table(table: &mut ChannelTable) -> Result<Self> {
        let origins: Option<Vec<String>> = table.optional("allowed_origins")?;
        let Some(origins) = origins else {
            return Err(table.error("missing key 'allowed_origins'"));
        };
        let identity_secret = table
            .optional_secret("identity_secret")?
            .filter(|s| !s.expose().is_empty());
        let mut b = WebchatConfig::builder(origins);
        if let Some(secret) = identity_secret {
            b = b.identity_secret(secret);
        }
        if let Some(v) = table.optional_bool("require_identity")? {
            b = b.require_identity(v);
        }
        if let Some(text) = table.optional_str("session_ttl")? {
            let ttl = parse_ttl(&text)
                .map_err(|e| table.error(format_args!("key 'session_ttl': {e}")))?;
            b = b.session_ttl(ttl);
        }
        if let Some(n) = table.optional::<usize>("max_message_bytes")? {
            b = b.max_message_bytes(n);
        }
        if let Some(n) = table.optional::<u64>("upload_max_bytes")? {
            b = b.upload_max_bytes(n);
        }
        if let Some(rate) = table.optional::<VisitorRate>("visitor_rate")? {
            b = b.visitor_rate(rate);
        }
        if let Some(secret) = table.optional_secret("token_secret")? {
            b = b.token_secret(secret);
        }
        if let Some(text) = table.optional_str("history_ttl")? {
            let ttl = parse_ttl(&text)
                .map_err(|e| table.error(format_args!("key 'history_ttl': {e}")))?;
            b = b.history_ttl(ttl);
        }
        if let Some(n) = table.optional::<u64>("history_max_records")? {
            b = b.history_max_records(n);
        }
        b.build().map_err(|e| table.error(e.message()))
    }
}

/// Parses a whole number followed by `s`, `m`, `h` or `d` (`"30d"`, `"12h"`).
fn parse_ttl(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let unit_at = text.len().saturating_sub(1);
    let (digits, unit) = text.split_at(unit_at);
    let seconds_per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} must end in s, m, h or d (\"30d\")")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of {unit}"))?;
    n.checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Normalizes an origin to `scheme://host[:port]` (lowercase, default port left out); `None`
/// for anything else (a path, a query, credentials, a scheme other than http(s)).
pub(crate) fn normalize_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    plain.then(|| url.origin().ascii_serialization())
}
