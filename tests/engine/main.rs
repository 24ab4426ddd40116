//! The engine's integration tests, one test binary with a module per topic (one binary links
//! once; a binary per file linked the whole engine fifteen times). Shared fixtures are in
//! `tests/common` ([`common::builder`], [`common::Served`], …).
//!
//! `cargo test -p switchboard --all-features --test engine` runs them all; a module's tests
//! alone: `… --test engine -- http::`. Modules that need a feature are compiled only with it,
//! so `cargo test -p switchboard` (default features) still builds this binary and skips them:
//! - `emulators`, `installs`: feature `emulators` (the three provider emulators);
//! - `postgres`, `pg_black_hole`: features `postgres,testkit`, and PostgreSQL on 127.0.0.1:5432;
//! - `policy_store_faults`: features `emulators,messenger`;
//! - `shared_limits`: features `redis,testkit`, and Redis on 127.0.0.1:6379;
//! - `server_hardening`: features `slack,twilio`.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "../common/mod.rs"]
mod common;

mod backlog;
mod context;
#[cfg(feature = "emulators")]
mod emulators;
mod failures;
mod features;
mod http;
#[cfg(feature = "emulators")]
mod installs;
#[cfg(all(feature = "postgres", feature = "testkit"))]
mod pg_black_hole;
mod plugins;
#[cfg(all(feature = "emulators", feature = "messenger"))]
mod policy_store_faults;
#[cfg(all(feature = "postgres", feature = "testkit"))]
mod postgres;
mod rate_hint;
mod reconcile;
mod server;
#[cfg(all(feature = "twilio", feature = "slack"))]
mod server_hardening;
#[cfg(all(feature = "redis", feature = "testkit"))]
mod shared_limits;
mod store_lock;
