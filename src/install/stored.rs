//! [`StoreInstallations`]: [`Installations`] over the engine's [`Store`], tokens sealed with
//! the [`KeyRing`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_core::install::{ExposeSecret, Installation, Installations, SecretString};
use switchboard_core::model::time::{from_millis, to_millis};
use switchboard_core::{ChannelName, Error, ErrorKind, Result};

use super::KeyRing;
use crate::store::{InstallRow, Store};

/// The public facts of an installation, stored in the clear (`installs.meta`).
#[derive(Serialize, Deserialize)]
struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enterprise_id: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bot_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_id: Option<String>,
    installed_at: i64,
}

/// The tokens, sealed as one value (`installs.sealed`).
#[derive(Serialize, Deserialize)]
struct Tokens {
    access: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh: Option<String>,
}

/// Installations kept in a [`Store`], their tokens encrypted with AES-256-GCM (see
/// [`KeyRing`]). What the engine hands every adapter; any instance sharing the store (and the
/// keys) sees the same installations.
#[derive(Debug, Clone)]
pub struct StoreInstallations {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
}

fn aad(channel: &str, tenant: &str) -> String {
    format!("{channel}/{tenant}")
}

fn corrupt(row: &InstallRow, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Transport,
        format!(
            "store: installation {}/{} is unreadable: {e}",
            row.channel, row.tenant
        ),
    )
}

impl StoreInstallations {
    /// Installations in `store`, sealed with `keys`.
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>) -> Self {
        StoreInstallations { store, keys }
    }

    /// The key ring (the OAuth routes derive their state keys from it).
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Checks at startup that the configured keys open what the store holds: one row per key
    /// id found is opened (a wrong or missing key is found now, not at the first send).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the key id that `[installs] keys` lacks or that does not open;
    /// the store's error.
    pub async fn check_keys(&self) -> Result<()> {
        let mut seen: Vec<&str> = Vec::new();
        let rows = self.store.list_installs(None).await?;
        for row in &rows {
            let id = row.sealed.split('.').nth(1).unwrap_or_default();
            if !seen.contains(&id) {
                seen.push(id);
                self.open(row)?;
            }
        }
        Ok(())
    }

    /// The row for `i`: its facts in the clear, its tokens sealed.
    fn seal(&self, i: &Installation) -> Result<InstallRow> {
        let meta = Meta {
            enterprise_id: i.enterprise_id.clone(),
            scopes: i.scopes.clone(),
            bot_user_id: i.bot_user_id.clone(),
            bot_id: i.bot_id.clone(),
            app_id: i.app_id.clone(),
            installed_at: to_millis(i.installed_at),
        };
        let tokens = Tokens {
            access: i.access_token.expose_secret().to_owned(),
            refresh: i
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
        };
        let meta = serde_json::to_string(&meta)
            .map_err(|e| Error::new(ErrorKind::Transport, format!("installs: {e}")))?;
        // The JSON of the tokens lives only here; errors below never carry it.
        let plain = serde_json::to_vec(&tokens)
            .map_err(|_| Error::new(ErrorKind::Transport, "installs: cannot encode tokens"))?;
        let sealed = self
            .keys
            .seal(&plain, &aad(i.channel.as_str(), &i.tenant))?;
        Ok(InstallRow::new(
            i.channel.as_str(),
            i.tenant.clone(),
            meta,
            sealed,
            i.expires_at,
            SystemTime::now(),
        ))
    }

    /// The installation of `row`, its tokens opened.
    fn open(&self, row: &InstallRow) -> Result<Installation> {
        let meta: Meta = serde_json::from_str(&row.meta).map_err(|e| corrupt(row, e))?;
        let plain = self
            .keys
            .open(&row.sealed, &aad(&row.channel, &row.tenant))?;
        let tokens: Tokens =
            serde_json::from_slice(&plain).map_err(|_| corrupt(row, "tokens are not JSON"))?;
        let channel = ChannelName::new(row.channel.clone()).map_err(|e| corrupt(row, e))?;
        let mut i = Installation::new(
            channel,
            row.tenant.clone(),
            SecretString::from(tokens.access),
        )
        .with_enterprise(meta.enterprise_id)
        .with_scopes(meta.scopes)
        .with_bot(meta.bot_user_id, meta.bot_id)
        .with_app(meta.app_id)
        .installed_at(from_millis(meta.installed_at));
        if let Some(r) = tokens.refresh {
            i.refresh_token = Some(SecretString::from(r));
        }
        i.expires_at = row.expires_at;
        Ok(i)
    }
}

#[async_trait]
impl Installations for StoreInstallations {
    async fn get(&self, channel: &ChannelName, tenant: &str) -> Result<Option<Installation>> {
        self.store
            .get_install(channel.as_str(), tenant)
            .await?
            .map(|r| self.open(&r))
            .transpose()
    }

    async fn put(&self, installation: &Installation) -> Result<()> {
        let row = self.seal(installation)?;
        self.store.put_install(&row).await
    }

    async fn remove(&self, channel: &ChannelName, tenant: &str) -> Result<bool> {
        self.store.delete_install(channel.as_str(), tenant).await
    }

    async fn list(&self, channel: Option<&ChannelName>) -> Result<Vec<Installation>> {
        self.store
            .list_installs(channel.map(ChannelName::as_str))
            .await?
            .iter()
            .map(|r| self.open(r))
            .collect()
    }

    async fn claim_refresh(
        &self,
        channel: &ChannelName,
        tenant: &str,
        now: SystemTime,
        lease: Duration,
    ) -> Result<bool> {
        self.store
            .claim_install_refresh(channel.as_str(), tenant, now, now + lease)
            .await
    }

    async fn spend_state(
        &self,
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool> {
        self.store.spend_oauth_state(nonce, expires_at, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    const K: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[tokio::test]
    async fn tokens_are_sealed_in_the_store_and_come_back_whole() {
        let store = Arc::new(MemoryStore::new());
        let keys = Arc::new(KeyRing::new(&[K]).unwrap());
        let installs = StoreInstallations::new(store.clone(), keys);
        let ch = ChannelName::new("team").unwrap();
        let exp = from_millis(to_millis(SystemTime::now()) + 3_600_000);
        let i = Installation::new(ch.clone(), "T1", SecretString::from("xoxe.xoxb-1-abc"))
            .with_refresh(SecretString::from("xoxe-1-refresh"), exp)
            .with_scopes(vec!["chat:write".into()])
            .with_bot(Some("U1".into()), Some("B1".into()));
        installs.put(&i).await.unwrap();
        let row = store.get_install("team", "T1").await.unwrap().unwrap();
        assert!(
            !row.sealed.contains("xoxe") && !row.meta.contains("xoxe"),
            "{row:?}"
        );
        assert!(row.meta.contains("chat:write"));
        let back = installs.get(&ch, "T1").await.unwrap().unwrap();
        assert_eq!(back.access_token.expose_secret(), "xoxe.xoxb-1-abc");
        assert_eq!(
            back.refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("xoxe-1-refresh".to_owned())
        );
        assert_eq!(
            (
                back.expires_at,
                back.bot_user_id.as_deref(),
                back.scopes.len()
            ),
            (Some(exp), Some("U1"), 1)
        );
        installs.check_keys().await.unwrap();
        // Another key: found at startup.
        let other = StoreInstallations::new(
            store.clone(),
            Arc::new(KeyRing::new(&[hex::encode([5u8; 32])]).unwrap()),
        );
        let e = other.check_keys().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("lacks"), "{e}");
        // A row moved to another tenant does not open.
        let mut moved = row.clone();
        moved.tenant = "T2".into();
        store.put_install(&moved).await.unwrap();
        let e = installs.get(&ch, "T2").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }
}
