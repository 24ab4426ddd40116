//! Engines on PostgreSQL (features `postgres,testkit`; PostgreSQL on 127.0.0.1:5432, skipped
//! without it unless `SWITCHBOARD_REQUIRE_SERVICES=1` or `CI=true`).

use std::time::Duration;

use switchboard::testkit::{PG_ADDR, TcpProxy, TestSchema};
use switchboard::{Config, SwitchboardBuilder};

use super::Served;

/// The configuration of an instance on PostgreSQL at `addr` (the service, or a proxy in front
/// of it) in `schema`, a connection bounded to 1 s; every other setting is the default.
pub fn pg_config(addr: &str, schema: &TestSchema) -> Config {
    let mut config = Config::default();
    config.store.url = format!("postgres://postgres@{addr}/test");
    config.store.schema = Some(schema.name().to_owned());
    config.store.connect_timeout = Duration::from_secs(1);
    config
}

/// The engine `instance` builds on a proxy in front of PostgreSQL (to cut or black-hole the
/// path), in a new schema, served on 127.0.0.1 with a client that gives up after `timeout`;
/// `None` (skipped) without PostgreSQL.
pub async fn served_behind_proxy(
    instance: impl FnOnce(&str, &TestSchema) -> SwitchboardBuilder,
    timeout: Duration,
) -> Option<(TestSchema, TcpProxy, Served)> {
    let schema = TestSchema::new().await?;
    let proxy = TcpProxy::start(PG_ADDR).await.unwrap();
    let builder = instance(&proxy.addr().to_string(), &schema);
    let served = Served::start(builder, "pg").await.with_timeout(timeout);
    Some((schema, proxy, served))
}
