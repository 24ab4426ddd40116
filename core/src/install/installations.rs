//! [`Installations`]: where adapters look installations up and the engine keeps them; and
//! [`MemoryInstallations`], an in-process one for tests.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::Installation;
use crate::error::Result;
use crate::model::ChannelName;

/// The installations of every channel, shared by every instance of the engine.
///
/// The engine's implementation keeps them in its store with the tokens encrypted; adapters
/// receive it through [`Adapter::attach_installations`](crate::Adapter::attach_installations).
/// Object safe (`Arc<dyn Installations>`).
#[async_trait]
pub trait Installations: Send + Sync + fmt::Debug {
    /// The installation of `tenant` on `channel`, if any.
    ///
    /// # Errors
    ///
    /// A store error (`Transport`), or `InvalidConfig` when a kept token cannot be decrypted
    /// with the configured keys.
    async fn get(&self, channel: &ChannelName, tenant: &str) -> Result<Option<Installation>>;

    /// Keeps `installation`, replacing the one of its (channel, tenant); releases a refresh
    /// claim on it ([`claim_refresh`](Self::claim_refresh)).
    ///
    /// # Errors
    ///
    /// A store or encryption error.
    async fn put(&self, installation: &Installation) -> Result<()>;

    /// Forgets the installation of `tenant` on `channel`; whether there was one.
    ///
    /// # Errors
    ///
    /// A store error.
    async fn remove(&self, channel: &ChannelName, tenant: &str) -> Result<bool>;

    /// The installations of `channel` (or of every channel), by channel and tenant.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    async fn list(&self, channel: Option<&ChannelName>) -> Result<Vec<Installation>>;

    /// Claims the right to refresh the tenant's token until `now + lease`: `true` for one
    /// caller across every instance until the lease runs out or a [`put`](Self::put) of the
    /// installation releases it; `false` for everyone else (and when it is not installed).
    ///
    /// # Errors
    ///
    /// A store error.
    async fn claim_refresh(
        &self,
        channel: &ChannelName,
        tenant: &str,
        now: SystemTime,
        lease: Duration,
    ) -> Result<bool>;

    /// Spends an OAuth `state` nonce: `true` the first time across every instance, `false`
    /// ever after (until `expires_at` has passed and it was forgotten: an expired state is
    /// refused on its expiry before it gets here).
    ///
    /// # Errors
    ///
    /// A store error.
    async fn spend_state(
        &self,
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool>;
}

/// Installations kept in this process only (tests, one-process tools): nothing survives a
/// restart and nothing is shared. The reference the engine's store is checked against.
#[derive(Default)]
pub struct MemoryInstallations {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    installs: BTreeMap<(String, String), (Installation, Option<SystemTime>)>,
    states: HashMap<String, SystemTime>,
}

impl MemoryInstallations {
    /// An empty set.
    pub fn new() -> Self {
        MemoryInstallations::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryInstallations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryInstallations")
            .field("installs", &self.lock().installs.len())
            .finish()
    }
}

fn key(channel: &ChannelName, tenant: &str) -> (String, String) {
    (channel.as_str().to_owned(), tenant.to_owned())
}

#[async_trait]
impl Installations for MemoryInstallations {
    async fn get(&self, channel: &ChannelName, tenant: &str) -> Result<Option<Installation>> {
        Ok(self
            .lock()
            .installs
            .get(&key(channel, tenant))
            .map(|(i, _)| i.clone()))
    }

    async fn put(&self, installation: &Installation) -> Result<()> {
        self.lock().installs.insert(
            key(&installation.channel, &installation.tenant),
            (installation.clone(), None),
        );
        Ok(())
    }

    async fn remove(&self, channel: &ChannelName, tenant: &str) -> Result<bool> {
        Ok(self.lock().installs.remove(&key(channel, tenant)).is_some())
    }

    async fn list(&self, channel: Option<&ChannelName>) -> Result<Vec<Installation>> {
        Ok(self
            .lock()
            .installs
            .values()
            .filter(|(i, _)| channel.is_none_or(|c| &i.channel == c))
            .map(|(i, _)| i.clone())
            .collect())
    }

    async fn claim_refresh(
        &self,
        channel: &ChannelName,
        tenant: &str,
        now: SystemTime,
        lease: Duration,
    ) -> Result<bool> {
        let mut inner = self.lock();
        match inner.installs.get_mut(&key(channel, tenant)) {
            Some((_, until)) if until.is_none_or(|u| u <= now) => {
                *until = Some(now + lease);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn spend_state(
        &self,
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool> {
        let mut inner = self.lock();
        inner.states.retain(|_, at| *at > now);
        Ok(inner.states.insert(nonce.to_owned(), expires_at).is_none())
    }
}
