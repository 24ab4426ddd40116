//! A TCP proxy on 127.0.0.1 that a test controls: forward, cut, black hole, restore.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Open,
    /// Closes every connection and each new one at once (a service that went away).
    Cut,
    /// Holds every connection open and forwards nothing (a peer that stopped answering).
    BlackHole,
}

/// A TCP proxy between a client under test and a real service (Redis, PostgreSQL), so that a
/// test can take the connection path away and give it back without touching the service.
/// Stops when dropped.
///
/// ```no_run
/// # async fn test() -> std::io::Result<()> {
/// let proxy = switchboard::testkit::TcpProxy::start("127.0.0.1:6379").await?;
/// let url = format!("redis://{}", proxy.addr());
/// // … a client connects to `url` …
/// proxy.cut(); // connections are closed; new ones are closed at once
/// proxy.restore(); // forwarding again (clients reconnect)
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards each connection to `upstream`.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub async fn start(upstream: &str) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(Mode::Open);
        let held = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(
            listener,
            upstream.to_owned(),
            mode.clone(),
            held.clone(),
        ));
        Ok(TcpProxy {
            addr,
            mode,
            held,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection through the proxy, and each new one at once, until
    /// [`restore`](Self::restore).
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        self.release_held();
    }

    /// Keeps every connection open but forwards nothing more, and accepts new connections
    /// without forwarding them, until [`restore`](Self::restore): requests go unanswered.
    pub fn black_hole(&self) {
        self.mode.send_replace(Mode::BlackHole);
    }

    /// Forwards new connections again; connections held by a black hole are closed.
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Open);
        self.release_held();
    }

    fn release_held(&self) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(Mode::Cut);
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    mode: watch::Sender<Mode>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let now = *mode.borrow();
        match now {
            Mode::Cut => drop(client),
            Mode::BlackHole => hold(&held, [client]),
            Mode::Open => {
                tokio::spawn(forward(
                    client,
                    upstream.clone(),
                    mode.subscribe(),
                    held.clone(),
                ));
            }
        }
    }
}

fn hold<const N: usize>(held: &Mutex<Vec<TcpStream>>, streams: [TcpStream; N]) {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(streams);
}

/// Copies both ways until either side closes or the mode changes: a cut closes both sides, a
/// black hole holds them open, unread.
async fn forward(
    mut client: TcpStream,
    upstream: String,
    mut mode: watch::Receiver<Mode>,
    held: Arc<Mutex<Vec<TcpStream>>>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let changed = loop {
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
            r = mode.changed() => match r {
                Ok(()) if *mode.borrow_and_update() == Mode::Open => continue,
                Ok(()) => break *mode.borrow(),
                Err(_) => return,
            },
        }
    };
    if changed == Mode::BlackHole {
        hold(&held, [client, server]);
    }
}
