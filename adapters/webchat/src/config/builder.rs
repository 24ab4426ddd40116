//! [`WebchatConfigBuilder`]: a [`WebchatConfig`] built in code, with the checks of a channel table.

use std::time::Duration;

use switchboard_core::{Error, ErrorKind, RenderPolicy, Result, Secret};

use super::{
    MAX_MESSAGE_BYTES_LIMIT, MAX_SESSION_TTL, MIN_HISTORY_TTL, MIN_SESSION_TTL,
    MIN_TOKEN_SECRET_BYTES, UPLOAD_MAX_BYTES_LIMIT, VisitorRate, WebchatConfig, normalize_origin,
};

/// Builds a [`WebchatConfig`] (from [`WebchatConfig::builder`]); [`build`](Self::build) checks
/// it. The setters are named after the channel table's keys.
#[derive(Debug)]
pub struct WebchatConfigBuilder {
    config: WebchatConfig,
}

impl WebchatConfigBuilder {
    pub(super) fn new(config: WebchatConfig) -> Self {
        WebchatConfigBuilder { config }
    }

    /// The secret session tokens are signed with (at least 32 bytes); without it the engine
    /// keeps a generated key in its store.
    pub fn token_secret(mut self, secret: Secret) -> Self {
        self.config.token_secret = Some(secret);
        self
    }

    /// The secret that verifies `user_hash` (shared with the website's backend only).
    pub fn identity_secret(mut self, secret: Secret) -> Self {
        self.config.identity_secret = Some(secret);
        self
    }

    /// Refuses anonymous visitors (needs an identity secret).
    pub fn require_identity(mut self, require: bool) -> Self {
        self.config.require_identity = require;
        self
    }

    /// How long a session token lives (1 minute to 365 days).
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.config.session_ttl = ttl;
        self
    }

    /// The longest visitor text, in UTF-8 bytes (1 to 1 MiB).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.config.max_message_bytes = bytes;
        self
    }

    /// The largest upload, in bytes (1 to 1 GiB).
    pub fn upload_max_bytes(mut self, bytes: u64) -> Self {
        self.config.upload_max_bytes = bytes;
        self
    }

    /// The requests one visitor token may make.
    pub fn visitor_rate(mut self, rate: VisitorRate) -> Self {
        self.config.visitor_rate = rate;
        self
    }

    /// Records older than `ttl` go from the conversation logs (at least 1 minute; default:
    /// kept however old).
    pub fn history_ttl(mut self, ttl: Duration) -> Self {
        self.config.history_ttl = Some(ttl);
        self
    }

    /// Each conversation's log keeps at most its `n` newest records (at least 1; default: no
    /// limit).
    pub fn history_max_records(mut self, n: u64) -> Self {
        self.config.history_max_records = Some(n);
        self
    }

    /// The render policy (default `fallback`).
    pub fn render(mut self, policy: RenderPolicy) -> Self {
        self.config.render = policy;
        self
    }

    /// Checks the values and returns the configuration, origins normalized.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the key: no origin or one that is not `scheme://host[:port]`,
    /// `require_identity` without `identity_secret`, a `session_ttl`, `max_message_bytes` or
    /// `upload_max_bytes` out of range, a `visitor_rate` that is not positive, a `history_ttl`
    /// under a minute or a `history_max_records` of 0.
    pub fn build(self) -> Result<WebchatConfig> {
        let mut c = self.config;
        let invalid = |m: String| Err(Error::new(ErrorKind::InvalidConfig, m));
        if c.allowed_origins.is_empty() {
            return invalid("key 'allowed_origins' must list at least one origin".into());
        }
        let mut origins = Vec::with_capacity(c.allowed_origins.len());
        for raw in &c.allowed_origins {
            match normalize_origin(raw) {
                Some(o) => origins.push(o),
                None => {
                    return invalid(format!(
                        "key 'allowed_origins': {raw:?} is not an origin like \"https://shop.example\""
                    ));
                }
            }
        }
        c.allowed_origins = origins;
        if c.token_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < MIN_TOKEN_SECRET_BYTES)
        {
            return invalid(format!(
                "key 'token_secret' must be at least {MIN_TOKEN_SECRET_BYTES} bytes (e.g. 64 hex digits from `openssl rand -hex 32`)"
            ));
        }
        if c.require_identity && c.identity_secret.is_none() {
            return invalid(
                "key 'require_identity' is true but 'identity_secret' is not set".into(),
            );
        }
        if !(MIN_SESSION_TTL..=MAX_SESSION_TTL).contains(&c.session_ttl) {
            return invalid("key 'session_ttl' must be between 1m and 365d".into());
        }
        if !(1..=MAX_MESSAGE_BYTES_LIMIT).contains(&c.max_message_bytes) {
            return invalid(format!(
                "key 'max_message_bytes' must be between 1 and {MAX_MESSAGE_BYTES_LIMIT}"
            ));
        }
        if !(1..=UPLOAD_MAX_BYTES_LIMIT).contains(&c.upload_max_bytes) {
            return invalid(format!(
                "key 'upload_max_bytes' must be between 1 and {UPLOAD_MAX_BYTES_LIMIT}"
            ));
        }
        if c.history_ttl.is_some_and(|t| t < MIN_HISTORY_TTL) {
            return invalid("key 'history_ttl' must be at least 1m".into());
        }
        if c.history_max_records == Some(0) {
            return invalid("key 'history_max_records' must be at least 1".into());
        }
        let rate = c.visitor_rate;
        if !(rate.per_second.is_finite() && rate.per_second > 0.0) || rate.burst == 0 {
            return invalid(
                "key 'visitor_rate': per_second must be above 0 and burst at least 1".into(),
            );
        }
        Ok(c)
    }
}
