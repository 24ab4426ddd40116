//! Handles of what [`Switchboard`](super::Switchboard) starts: [`Workers`], a [`Running`]
//! server, and the shutdown signal.

use std::net::SocketAddr;

use switchboard_core::{Error, ErrorKind, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Running workers and sender.
#[derive(Debug)]
pub struct Workers {
    pub(super) stop: watch::Sender<bool>,
    pub(super) tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops claiming; waits for running handlers and sends (up to the shutdown grace).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// A server started with [`Switchboard::start`](super::Switchboard::start).
#[derive(Debug)]
pub struct Running {
    pub(super) addr: SocketAddr,
    pub(super) admin_addr: Option<SocketAddr>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) task: JoinHandle<Result<()>>,
}

impl Running {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound address of `server.admin_listen`, when it is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully and waits.
    ///
    /// # Errors
    ///
    /// `Transport` when the serving task panicked or was cancelled.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| Error::new(ErrorKind::Transport, format!("server task: {e}")))?
    }
}
