//! Installations in both SQL stores (schema version 9; the contract is
//! [`store::installs`](crate::store::installs)): one module for both dialects. Writes are
//! writer jobs ([`Job::Install`]) of statements both dialects run as written (`ON CONFLICT …
//! DO UPDATE/NOTHING` is SQLite's and PostgreSQL's alike); reads run on the dialect's pool.

use std::time::SystemTime;

use switchboard_core::Result;
use switchboard_core::model::time::from_millis;

use super::rows::Param;
use super::store::{Dialect, SqlStore};
use super::writer::{Answer, Job, unexpected};
use super::{SqlRow, Tx};
use crate::store::{InstallRow, millis};

/// An installation write, as data (so a failed batch can run it again alone).
pub(crate) enum InstallWrite {
    /// Upsert a row, releasing its refresh lease.
    Put(InstallRow),
    /// (channel, tenant).
    Delete(String, String),
    /// (channel, tenant, now ms, until ms).
    Claim(String, String, i64, i64),
    /// (nonce, expires ms, now ms).
    SpendState(String, i64, i64),
}

const PUT: &str = "INSERT INTO installs (channel, tenant, meta, sealed, expires_at, refresh_until, updated_at) \
     VALUES ($1, $2, $3, $4, $5, 0, $6) \
     ON CONFLICT (channel, tenant) DO UPDATE SET meta = excluded.meta, sealed = excluded.sealed, \
     expires_at = excluded.expires_at, refresh_until = 0, updated_at = excluded.updated_at";
const DELETE: &str = "DELETE FROM installs WHERE channel = $1 AND tenant = $2";
const CLAIM: &str = "UPDATE installs SET refresh_until = $4 \
     WHERE channel = $1 AND tenant = $2 AND refresh_until <= $3";
const FORGET_STATES: &str = "DELETE FROM oauth_states WHERE expires_at <= $1";
const SPEND_STATE: &str =
    "INSERT INTO oauth_states (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING";
const GET: &str = "SELECT channel, tenant, meta, sealed, expires_at, updated_at FROM installs \
     WHERE channel = $1 AND tenant = $2";
const LIST: &str = "SELECT channel, tenant, meta, sealed, expires_at, updated_at FROM installs \
     WHERE ($1 = '' OR channel = $1) ORDER BY channel, tenant";

/// Runs `write` in the writer's transaction; how many rows it changed.
pub(crate) async fn write<T: Tx>(tx: &mut T, write: &InstallWrite) -> Result<u64> {
    match write {
        InstallWrite::Put(r) => {
            let expires = r.expires_at.map_or(0, millis);
            tx.execute(
                PUT,
                &[
                    Param::Text(&r.channel),
                    Param::Text(&r.tenant),
                    Param::Text(&r.meta),
                    Param::Text(&r.sealed),
                    Param::Int(expires),
                    Param::Int(millis(r.updated_at)),
                ],
            )
            .await
        }
        InstallWrite::Delete(channel, tenant) => {
            tx.execute(DELETE, &[Param::Text(channel), Param::Text(tenant)])
                .await
        }
        InstallWrite::Claim(channel, tenant, now, until) => {
            tx.execute(
                CLAIM,
                &[
                    Param::Text(channel),
                    Param::Text(tenant),
                    Param::Int(*now),
                    Param::Int(*until),
                ],
            )
            .await
        }
        InstallWrite::SpendState(nonce, expires, now) => {
            tx.execute(FORGET_STATES, &[Param::Int(*now)]).await?;
            tx.execute(SPEND_STATE, &[Param::Text(nonce), Param::Int(*expires)])
                .await
        }
    }
}

fn row(r: &impl SqlRow) -> Result<InstallRow> {
    let expires = r.int("expires_at")?;
    Ok(InstallRow::new(
        r.text("channel")?,
        r.text("tenant")?,
        r.text("meta")?,
        r.text("sealed")?,
        (expires != 0).then(|| from_millis(expires)),
        from_millis(r.int("updated_at")?),
    ))
}

/// The [`Store`](crate::store::Store) methods of installations, for both dialects.
impl<D: Dialect> SqlStore<D> {
    async fn install_write(&self, w: InstallWrite) -> Result<u64> {
        match self.writer().run(Job::Install(w)).await? {
            Answer::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    pub(crate) async fn put_install(&self, row: &InstallRow) -> Result<()> {
        self.install_write(InstallWrite::Put(row.clone()))
            .await
            .map(|_| ())
    }

    pub(crate) async fn get_install(
        &self,
        channel: &str,
        tenant: &str,
    ) -> Result<Option<InstallRow>> {
        let rows = self
            .dialect()
            .read(GET, &[Param::Text(channel), Param::Text(tenant)])
            .await?;
        rows.first().map(row).transpose()
    }

    pub(crate) async fn list_installs(&self, channel: Option<&str>) -> Result<Vec<InstallRow>> {
        let rows = self
            .dialect()
            .read(LIST, &[Param::Text(channel.unwrap_or(""))])
            .await?;
        rows.iter().map(row).collect()
    }

    pub(crate) async fn delete_install(&self, channel: &str, tenant: &str) -> Result<bool> {
        let n = self
            .install_write(InstallWrite::Delete(channel.to_owned(), tenant.to_owned()))
            .await?;
        Ok(n > 0)
    }

    pub(crate) async fn claim_install_refresh(
        &self,
        channel: &str,
        tenant: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<bool> {
        let n = self
            .install_write(InstallWrite::Claim(
                channel.to_owned(),
                tenant.to_owned(),
                millis(now),
                millis(until),
            ))
            .await?;
        Ok(n > 0)
    }

    pub(crate) async fn spend_oauth_state(
        &self,
        nonce: &str,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<bool> {
        let n = self
            .install_write(InstallWrite::SpendState(
                nonce.to_owned(),
                millis(expires_at),
                millis(now),
            ))
            .await?;
        Ok(n > 0)
    }
}
