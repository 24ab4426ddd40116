//! The benchmarks' shared orchestration: a temporary directory, the local Graph API stub, the
//! server under test started pinned to its core and waited for, and the header every report
//! starts with (when, how loaded the machine was, where each side ran).

pub(crate) mod drain;
pub(crate) mod e2e;
pub(crate) mod ingest;
pub(crate) mod webchat;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::Result;
use crate::cli::Placement;
use crate::config::{EngineConfig, PgTarget, StoreKind};
use crate::machine;
use crate::process::{Server, free_port};
use crate::stub::{self, Arrivals};

/// How long a server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh temporary directory, removed when dropped unless kept.
#[derive(Debug)]
pub(crate) struct Workdir {
    pub(crate) path: PathBuf,
    keep: bool,
}

impl Workdir {
    pub(crate) fn new(keep: bool) -> Result<Workdir> {
        let path = std::env::temp_dir().join(format!("switchboard-load-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Workdir { path, keep })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The Graph API stub, served in this process (on the client core); its base URL.
pub(crate) async fn start_stub() -> Result<(String, Arc<Arrivals>)> {
    let arrivals = Arc::new(Arrivals::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = stub::router(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((url, arrivals))
}

/// A server under test, ready, with its base URL.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) server: Server,
    pub(crate) base: String,
}

/// Starts the no-op server (this binary's `noop`) pinned to the server core.
pub(crate) async fn start_noop(dir: &Workdir, place: &Placement) -> Result<Running> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let exe = std::env::current_exe()?;
    let args: Vec<OsString> = vec!["noop".into(), "--listen".into(), addr.to_string().into()];
    start(dir, place, "no-op", &exe, args, addr, "/healthz").await
}

/// Starts `program` (`switchboard serve --config FILE`, or an app taking the config file as its
/// argument) on a config generated for `store` (`pg`: the database of
/// [`StoreKind::Postgres`]), pinned to the server core.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_engine(
    dir: &Workdir,
    place: &Placement,
    program: &Path,
    serve_subcommand: bool,
    store: StoreKind,
    pg: Option<&PgTarget>,
    stub_url: &str,
    unlimited_rate: bool,
) -> Result<Running> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    // Several instances may share a database: each its own config and log.
    let tag = match store {
        StoreKind::Sqlite => "sqlite".to_owned(),
        StoreKind::Memory => "memory".to_owned(),
        StoreKind::Postgres => format!("postgres-{}", addr.port()),
    };
    let db = dir.path.join(format!("bench-{tag}.db"));
    let config = dir.path.join(format!("switchboard-{tag}.toml"));
    let text = EngineConfig {
        listen: addr,
        store,
        db: &db,
        pg,
        api_base_url: stub_url,
        unlimited_rate,
    }
    .toml();
    std::fs::write(&config, text)?;
    let mut args: Vec<OsString> = Vec::new();
    if serve_subcommand {
        args.extend(["serve".into(), "--config".into()]);
    }
    args.push(config.into_os_string());
    start(dir, place, &tag, program, args, addr, "/readyz").await
}

async fn start(
    dir: &Workdir,
    place: &Placement,
    name: &str,
    program: &Path,
    args: Vec<OsString>,
    addr: SocketAddr,
    ready: &str,
) -> Result<Running> {
    let log = dir.path.join(format!("{name}.log"));
    let mut server = Server::spawn(name, place.server(), program, &args, &log)?;
    let base = format!("http://{addr}");
    server
        .wait_ready(&format!("{base}{ready}"), READY_TIMEOUT, &log)
        .await?;
    eprintln!(
        "{name}: pid {} on CPUs {} at {base}",
        server.pid(),
        server.cpus_allowed()
    );
    Ok(Running { server, base })
}

/// The lines every report starts with (`dir`: where the databases go).
pub(crate) fn header(what: &str, place: &Placement, dir: &Workdir) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("== switchboard-load {what}");
    println!(
        "   load average {} (before the run); this process may use {cores} core(s)",
        machine::load_average()
    );
    println!(
        "   fsync in {}: {}",
        dir.path.display(),
        machine::fsync_latency(&dir.path, machine::FSYNC_PROBES)
    );
    match (place.server(), place.client()) {
        (Some(s), Some(c)) => println!("   server pinned to core {s}, load generator to core {c}"),
        _ => println!("   not pinned (--no-pin)"),
    }
}
