//! Helpers for tests of Switchboard and of applications built on it (feature `testkit`).
//!
//! - [`require_service`]: a test that needs a real service (Redis, PostgreSQL) runs when the
//!   service answers, prints a skip line when it does not, and **fails** instead where
//!   services are required: `SWITCHBOARD_REQUIRE_SERVICES=1` (set by `.ci/run`) or `CI=true`.
//! - [`TcpProxy`]: a proxy between a client and such a service that a test can cut, turn into
//!   a black hole, and restore, to test outages of the connection path without touching the
//!   service.
//! - `TestSchema` (with feature `postgres`): a PostgreSQL schema of a test's own, dropped
//!   afterwards.

#[cfg(feature = "postgres")]
mod postgres;
mod proxy;
mod services;

#[cfg(feature = "postgres")]
pub use postgres::{PG_ADDR, TestSchema, pg_url};
pub use proxy::TcpProxy;
pub use services::{REDIS_ADDR, require_service, services_required};
