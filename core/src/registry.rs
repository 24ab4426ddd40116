//! Provider name → adapter factory. An explicit value, not a global filled at link time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::adapter::Adapter;
use crate::config::ChannelTable;
use crate::error::Result;

/// Builds an adapter from its channel's table. The factory reads its keys and calls
/// [`ChannelTable::finish`] so unknown keys are rejected.
pub type AdapterFactory = Arc<dyn Fn(ChannelTable) -> Result<Arc<dyn Adapter>> + Send + Sync>;

/// Maps provider names (`provider = "…"` in a channel table) to factories.
///
/// [`Registry::new`] knows `"memory"` (the [`MemoryAdapter`](crate::MemoryAdapter)); the facade
/// registers every enabled adapter; third-party adapters register the same way.
#[derive(Clone)]
pub struct Registry {
    factories: BTreeMap<String, AdapterFactory>,
}

impl Registry {
    /// A registry that knows the `memory` provider.
    pub fn new() -> Self {
        let mut r = Registry::empty();
        r.register("memory", |t| {
            crate::memory::MemoryAdapter::from_table(t).map(|a| Arc::new(a) as Arc<dyn Adapter>)
        });
        r
    }

    /// A registry that knows no provider.
    pub fn empty() -> Self {
        Registry {
            factories: BTreeMap::new(),
        }
    }

    /// Registers (or replaces) the factory for `provider`.
    pub fn register<F>(&mut self, provider: &str, factory: F) -> &mut Self
    where
        F: Fn(ChannelTable) -> Result<Arc<dyn Adapter>> + Send + Sync + 'static,
    {
        self.factories
            .insert(provider.to_owned(), Arc::new(factory));
        self
    }

    /// The known provider names, sorted.
    pub fn providers(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// Builds the adapter for a channel table; an unknown provider is an error listing the known.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for an unknown provider (listing the known ones), or the factory's error
    /// for a bad table.
    pub fn build(&self, table: ChannelTable) -> Result<Arc<dyn Adapter>> {
        match self.factories.get(table.provider()) {
            Some(factory) => factory(table),
            None => Err(table.error(format_args!(
                "unknown provider '{}' (known: {})",
                table.provider(),
                self.providers().join(", ")
            ))),
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("providers", &self.providers())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_provider_lists_known_ones() {
        let t =
            ChannelTable::from_toml_str("x", "provider = 'nope'").unwrap_or_else(|e| panic!("{e}"));
        let err = Registry::new()
            .build(t)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "invalid_config: channels.x: unknown provider 'nope' (known: memory)"
        );
    }

    #[test]
    fn memory_is_built_from_config() {
        let t = ChannelTable::from_toml_str("m", "provider = 'memory'\nsigning_secret = 'x'")
            .unwrap_or_else(|e| panic!("{e}"));
        let a = Registry::new().build(t).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.info().provider, "memory");
        assert_eq!(a.info().channel.as_str(), "m");
    }
}
