//! `[bridge]`: which channel the agents work in and which channels customers write on.

use serde::Deserialize;
use switchboard_core::{ChannelName, ConversationId, Error, ErrorKind, Result};

/// The `[bridge]` section of a config file.
///
/// ```toml
/// [bridge]
/// agents = "team"                   # a [channels.X] with threads (Slack)
/// agents_conversation = "C0AGENTS"  # where threads are opened
/// customers = ["fb", "sms"]         # [channels.X] names
/// thread_cache = 10000              # default; thread parents kept in memory
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeConfig {
    /// The channel the agents work in; its adapter must support threads.
    pub agents: ChannelName,
    /// The conversation (Slack channel id) where each customer gets a thread.
    pub agents_conversation: ConversationId,
    /// The channels customers write on.
    pub customers: Vec<ChannelName>,
    /// How many thread parents (`parent outbox key → ts`) the bridge keeps in memory, least
    /// recently used out first; a miss reads the store. 0 keeps none.
    pub thread_cache: usize,
}

/// The default of [`BridgeConfig::thread_cache`].
pub const DEFAULT_THREAD_CACHE: usize = 10_000;

fn default_thread_cache() -> usize {
    DEFAULT_THREAD_CACHE
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    agents: String,
    agents_conversation: String,
    customers: Vec<String>,
    #[serde(default = "default_thread_cache")]
    thread_cache: usize,
}

fn bridge_error(message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidConfig, format!("bridge: {message}"))
}

impl BridgeConfig {
    /// A bridge between the `agents` channel's `agents_conversation` and `customers`.
    pub fn new(
        agents: ChannelName,
        agents_conversation: ConversationId,
        customers: Vec<ChannelName>,
    ) -> Self {
        BridgeConfig {
            agents,
            agents_conversation,
            customers,
            thread_cache: DEFAULT_THREAD_CACHE,
        }
    }

    /// Reads `[bridge]` from a parsed config document; `Ok(None)` when there is none. Errors
    /// name the key: `bridge: unknown field `agent`` or `bridge: key 'customers': …`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for an unknown key, a missing one, or a channel or conversation name that is
    /// not valid, naming the key.
    pub fn from_document(doc: &toml::Table) -> Result<Option<Self>> {
        let Some(value) = doc.get("bridge") else {
            return Ok(None);
        };
        let raw = Raw::deserialize(value.clone()).map_err(|e| bridge_error(e.message()))?;
        let agents = ChannelName::new(&raw.agents)
            .map_err(|e| bridge_error(format_args!("key 'agents': {}", e.message())))?;
        let agents_conversation = ConversationId::new(&raw.agents_conversation).map_err(|e| {
            bridge_error(format_args!("key 'agents_conversation': {}", e.message()))
        })?;
        if raw.customers.is_empty() {
            return Err(bridge_error("key 'customers': name at least one channel"));
        }
        let mut customers = Vec::new();
        for c in &raw.customers {
            let name = ChannelName::new(c)
                .map_err(|e| bridge_error(format_args!("key 'customers': {}", e.message())))?;
            if name == agents {
                return Err(bridge_error(format_args!(
                    "key 'customers': '{c}' is the agents channel"
                )));
            }
            if !customers.contains(&name) {
                customers.push(name);
            }
        }
        Ok(Some(BridgeConfig {
            agents,
            agents_conversation,
            customers,
            thread_cache: raw.thread_cache,
        }))
    }

    /// Problems with the channels the bridge names, given the configured channel names: each
    /// one names the key (`bridge: key 'customers': no channel 'fbb'`).
    pub fn check_channels<'a>(&self, channels: impl IntoIterator<Item = &'a str>) -> Vec<Error> {
        let known: Vec<&str> = channels.into_iter().collect();
        let mut problems = Vec::new();
        if !known.contains(&self.agents.as_str()) {
            problems.push(bridge_error(format_args!(
                "key 'agents': no channel '{}' (known: {})",
                self.agents,
                known.join(", ")
            )));
        }
        for c in &self.customers {
            if !known.contains(&c.as_str()) {
                problems.push(bridge_error(format_args!(
                    "key 'customers': no channel '{c}' (known: {})",
                    known.join(", ")
                )));
            }
        }
        problems
    }

    /// Whether `channel` is one of the customers' channels.
    pub fn is_customer(&self, channel: &ChannelName) -> bool {
        self.customers.contains(channel)
    }
}

/// Splits a config document into the engine's part (everything but `[bridge]`) and the bridge.
///
/// # Errors
///
/// `InvalidConfig` when `text` is not TOML, or as [`BridgeConfig::from_document`].
pub fn split_document(text: &str) -> Result<(toml::Table, Option<BridgeConfig>)> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::new(ErrorKind::InvalidConfig, format!("config: {}", e.message()))
    })?;
    let bridge = BridgeConfig::from_document(&doc)?;
    doc.remove("bridge");
    Ok((doc, bridge))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> toml::Table {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_and_checks_the_section() {
        let c = BridgeConfig::from_document(&doc(
            "[bridge]\nagents = 'team'\nagents_conversation = 'C0AGENTS'\ncustomers = ['fb', 'sms', 'fb']",
        ))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no bridge"));
        assert_eq!(c.customers.len(), 2);
        assert_eq!(c.thread_cache, DEFAULT_THREAD_CACHE);
        let problems = c.check_channels(["team", "sms"]);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .to_string()
                .contains("bridge: key 'customers': no channel 'fb'"),
            "{}",
            problems[0]
        );
        assert!(
            BridgeConfig::from_document(&doc("[server]"))
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );
        let typo = BridgeConfig::from_document(&doc(
            "[bridge]\nagent = 'team'\nagents_conversation = 'C'\ncustomers = ['fb']",
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(typo.contains("bridge: unknown field `agent`"), "{typo}");
        let same = BridgeConfig::from_document(&doc(
            "[bridge]\nagents = 'team'\nagents_conversation = 'C'\ncustomers = ['team']",
        ));
        assert!(same.is_err());
    }
}
