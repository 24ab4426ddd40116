//! The `[channels.NAME]` table of a Messenger channel: keys, defaults and checks (the builder
//! for code is in `builder.rs`).

mod builder;
mod pages;

pub use builder::MessengerConfigBuilder;
pub use pages::PageConfig;

use std::time::Duration;

use switchboard_core::{ChannelName, ChannelTable, RenderPolicy, Result, Secret};

/// The Graph API version used unless `api_version` says otherwise (the current version in Meta's
/// Send API reference).
pub const DEFAULT_API_VERSION: &str = "v25.0";

/// How long `reconcile` waits for the echo of a send unless `echo_wait` says otherwise.
pub const DEFAULT_ECHO_WAIT: Duration = Duration::from_secs(5);

/// The Graph API host used unless `api_base_url` says otherwise.
pub const DEFAULT_API_BASE_URL: &str = "https://graph.facebook.com";

/// The configuration of one Messenger channel: one Facebook Page, or several Pages of one app.
///
/// Keys: `page_id` and `page_access_token` (secret) for one Page, or instead `pages`, a list of
/// `{ id, access_token }` tables (the first is the default Page); `app_secret` (secret),
/// `verify_token` (secret),
/// `app_id` (optional: echoes of this app's own sends are recognised by it), `api_version`
/// (default [`DEFAULT_API_VERSION`]), `api_base_url` (default [`DEFAULT_API_BASE_URL`]),
/// `appsecret_proof` (default `true`), `render` (`fallback`, `strict`, `drop`),
/// `message_echoes` (default `false`: set it when the app's webhook subscribes the Page's
/// `message_echoes` field and reaches this channel; it turns on reconciliation) and `echo_wait`
/// (how long `reconcile` waits for an echo: `"250ms"`, `"5s"`, or seconds; default
/// [`DEFAULT_ECHO_WAIT`]).
/// `Debug` prints `***` for the secrets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessengerConfig {
    /// The configured channel name.
    pub channel: ChannelName,
    /// The (default) Facebook Page id: the send URL is
    /// `{api_base_url}/{api_version}/{page_id}/messages`. With `pages`, the first entry's.
    pub page_id: String,
    /// The (default) Page's access token, sent as the `access_token` query parameter.
    pub page_access_token: Secret,
    /// The other Pages the channel serves (`pages` after the first), each with its own token.
    pub other_pages: Vec<PageConfig>,
    /// The App Secret: the webhook signature key and the `appsecret_proof` key.
    pub app_secret: Secret,
    /// The token Meta sends back in the verification handshake.
    pub verify_token: Secret,
    /// This app's id; echoes carrying it are this adapter's own sends and are dropped.
    pub app_id: Option<String>,
    /// The Graph API version, e.g. `v25.0`.
    pub api_version: String,
    /// The Graph API base URL, without a trailing slash.
    pub api_base_url: String,
    /// Send `appsecret_proof` with every call.
    pub appsecret_proof: bool,
    /// What to do with content Messenger cannot carry.
    pub render: RenderPolicy,
    /// The app's webhook receives the Page's `message_echoes` at this channel: echoes prove
    /// sends, and the adapter declares `reconcile`.
    pub message_echoes: bool,
    /// How long `reconcile` waits for the echoes of a send before answering `Unknown`.
    pub echo_wait: Duration,
}

impl MessengerConfig {
    /// Reads a `[channels.NAME]` table; unknown keys are rejected, naming the channel and key.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key: a missing or malformed key, an unset
    /// `${ENV}` variable, or a key the adapter does not know.
    pub fn from_table(mut t: ChannelTable) -> Result<Self> {
        let (page_id, page_access_token, other_pages) = match pages::read_pages(&mut t)? {
            Some(mut list) => {
                for key in ["page_id", "page_access_token"] {
                    if t.optional_str(key)?.is_some() {
                        return Err(t.error(format_args!(
                            "keys '{key}' and 'pages' cannot both be set: list every Page in 'pages'"
                        )));
                    }
                }
                let first = list.remove(0);
                (first.id, first.access_token, list)
            }
            None => {
                if t.optional_str("page_id")?.is_none() {
                    return Err(t.error("missing key 'page_id' (or 'pages')"));
                }
                let page_id = t.required_str("page_id")?;
                if !valid_page_id(&page_id) {
                    return Err(t.error(format_args!(
                        "key 'page_id': {page_id:?} is not a Page id (digits)"
                    )));
                }
                (page_id, t.secret("page_access_token")?, Vec::new())
            }
        };
        let app_secret = t.secret("app_secret")?;
        let verify_token = t.secret("verify_token")?;
        let app_id = t.optional_str("app_id")?;
        let api_version = t
            .optional_str("api_version")?
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        if !valid_version(&api_version) {
            return Err(t.error(format_args!(
                "key 'api_version': {api_version:?} is not a Graph API version like 'v25.0'"
            )));
        }
        let api_base_url = t.api_base_url(DEFAULT_API_BASE_URL)?;
        let appsecret_proof = t.optional_bool("appsecret_proof")?.unwrap_or(true);
        let render = t.render_policy()?;
        let message_echoes = t.optional_bool("message_echoes")?.unwrap_or(false);
        let echo_wait = match t.optional::<WaitValue>("echo_wait")? {
            None => DEFAULT_ECHO_WAIT,
            Some(v) => parse_wait(&v).ok_or_else(|| {
                t.error(format_args!(
                    "key 'echo_wait': {v:?} is not a duration like \"5s\" or \"250ms\" (at most 10 minutes)"
                ))
            })?,
        };
        let channel = t.channel().clone();
        t.finish()?;
        Ok(MessengerConfig {
            channel,
            page_id,
            page_access_token,
            other_pages,
            app_secret,
            verify_token,
            app_id,
            api_version,
            api_base_url,
            appsecret_proof,
            render,
            message_echoes,
            echo_wait,
        })
    }

    /// `{api_base_url}/{api_version}/{page_id}/{edge}`.
    pub(crate) fn page_url(&self, edge: &str) -> String {
        self.version_url(&format!("{}/{edge}", self.page_id))
    }

    /// `{api_base_url}/{api_version}/{path}`.
    pub(crate) fn version_url(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.api_base_url, self.api_version)
    }
}

/// Longest `echo_wait`: a reconciliation holds up the conversation's sends while it waits.
const MAX_ECHO_WAIT: Duration = Duration::from_secs(600);

/// `echo_wait` as written: seconds, or a string with a unit.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum WaitValue {
    Seconds(i64),
    Fraction(f64),
    Text(String),
}

/// `"250ms"`, `"5s"`, `"1m"`, or a number of seconds.
fn parse_wait(v: &WaitValue) -> Option<Duration> {
    let d = match v {
        WaitValue::Seconds(n) => Duration::from_secs(u64::try_from(*n).ok()?),
        WaitValue::Fraction(f) => Duration::try_from_secs_f64(*f).ok()?,
        WaitValue::Text(s) => {
            let s = s.trim();
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
            Duration::try_from_secs_f64(secs).ok()?
        }
    };
    (d <= MAX_ECHO_WAIT).then_some(d)
}

fn valid_page_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn valid_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests;
