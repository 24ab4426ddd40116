//! The config file the benchmarks give `switchboard serve` and `switchboard-echo-app`: one
//! Messenger channel `fb` whose Graph API is the local stub (nothing leaves 127.0.0.1), and the
//! store under test. The keys are those of the repository's README ("Configuration
//! reference") and `src/config/`.

use std::net::SocketAddr;
use std::path::Path;

/// The channel every benchmark uses.
pub(crate) const CHANNEL: &str = "fb";
/// Its Page.
pub(crate) const PAGE_ID: &str = "1895382890692545";
/// Its App Secret (webhook signatures).
pub(crate) const APP_SECRET: &str = "switchboard-load-app-secret";

/// The store under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StoreKind {
    /// SQLite with `synchronous = "full"` (the embedded default).
    Sqlite,
    /// The memory store.
    Memory,
    /// A PostgreSQL database ([`PgTarget`]): `bench drain --postgres URL` only.
    #[value(skip)]
    Postgres,
}

/// The PostgreSQL store of a run: the database's URL and the schema of this run (created by
/// the fill, dropped at the end).
#[derive(Debug, Clone)]
pub(crate) struct PgTarget {
    pub(crate) url: String,
    pub(crate) schema: String,
}

impl StoreKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "SQLite full",
            StoreKind::Memory => "memory",
            StoreKind::Postgres => "PostgreSQL",
        }
    }
}

/// What goes into the file.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig<'a> {
    pub(crate) listen: SocketAddr,
    pub(crate) store: StoreKind,
    /// The SQLite file (with [`StoreKind::Sqlite`]).
    pub(crate) db: &'a Path,
    /// The database and schema (with [`StoreKind::Postgres`]).
    pub(crate) pg: Option<&'a PgTarget>,
    /// The Graph API stub's base URL.
    pub(crate) api_base_url: &'a str,
    /// Outbound rate limits so high they never cap a benchmark.
    pub(crate) unlimited_rate: bool,
}

impl EngineConfig<'_> {
    /// The TOML text.
    pub(crate) fn toml(&self) -> String {
        let store = match self.store {
            StoreKind::Sqlite => format!(
                "url = \"sqlite://{}\"\nsynchronous = \"full\"",
                self.db.display()
            ),
            StoreKind::Memory => "url = \"memory:\"".to_owned(),
            StoreKind::Postgres => {
                let (url, schema) = self
                    .pg
                    .map_or(("", ""), |pg| (pg.url.as_str(), pg.schema.as_str()));
                format!("url = \"{url}\"\nschema = \"{schema}\"")
            }
        };
        let rate = if self.unlimited_rate {
            format!(
                "\n[channels.{CHANNEL}.rate]\nper_second = 1000000.0\nburst = 1000000\n\
                 per_conversation_per_second = 1000000.0\nper_conversation_burst = 1000000\n"
            )
        } else {
            String::new()
        };
        format!(
            r#"# Written by switchboard-load.
[server]
listen = "{listen}"

[store]
{store}

[channels.{CHANNEL}]
provider = "messenger"
page_id = "{PAGE_ID}"
page_access_token = "switchboard-load-page-token"
app_secret = "{APP_SECRET}"
verify_token = "switchboard-load-verify"
api_base_url = "{api}"
{rate}"#,
            listen = self.listen,
            api = self.api_base_url,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_engine_builds_from_the_generated_config() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-load-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("bench.db");
        for (store, unlimited_rate) in [(StoreKind::Sqlite, false), (StoreKind::Memory, true)] {
            let text = EngineConfig {
                listen: "127.0.0.1:9".parse().unwrap(),
                store,
                db: &db,
                pg: None,
                api_base_url: "http://127.0.0.1:1",
                unlimited_rate,
            }
            .toml();
            let engine = switchboard::SwitchboardBuilder::from_config_str(
                &text,
                &switchboard::Env::process(),
            )
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
            let rate = engine
                .channel_rate(&switchboard::ChannelName::new(CHANNEL).unwrap())
                .unwrap();
            assert_eq!(
                rate.per_second == Some(1_000_000.0),
                unlimited_rate,
                "{rate:?}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
