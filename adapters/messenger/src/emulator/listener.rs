//! A TCP listener whose connections can be cut before the answer is written: how the emulator
//! loses an answer after it has accepted a message ([`Fault::LostAnswer`](super::Fault)).
//!
//! Every connection gets an id, which handlers read as [`ConnId`] (axum `ConnectInfo`). A
//! handler that must lose its answer marks its own connection; that connection's next write
//! fails, so the client sees the connection close with no answer. Other connections are
//! unaffected.

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The connections whose next write fails.
#[derive(Debug, Default)]
pub(crate) struct Doomed(Mutex<HashSet<u64>>);

impl Doomed {
    fn lock(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes connection `id` close instead of writing its next answer.
    pub(crate) fn doom(&self, id: ConnId) {
        self.lock().insert(id.0);
    }
}

/// The id of the connection a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnId(u64);

impl Connected<IncomingStream<'_, CuttingListener>> for ConnId {
    fn connect_info(stream: IncomingStream<'_, CuttingListener>) -> Self {
        ConnId(stream.io().id)
    }
}

/// Wraps a [`TcpListener`], numbering connections.
pub(crate) struct CuttingListener {
    pub(crate) inner: TcpListener,
    pub(crate) doomed: Arc<Doomed>,
    pub(crate) next: AtomicU64,
}

impl axum::serve::Listener for CuttingListener {
    type Io = CuttableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let id = self.next.fetch_add(1, Ordering::Relaxed);
                    let io = CuttableStream {
                        inner: stream,
                        id,
                        doomed: self.doomed.clone(),
                    };
                    return (io, addr);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "messenger emulator: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails its next write once it is doomed.
pub(crate) struct CuttableStream {
    inner: TcpStream,
    id: u64,
    doomed: Arc<Doomed>,
}

impl Drop for CuttableStream {
    fn drop(&mut self) {
        self.doomed.lock().remove(&self.id);
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.doomed.lock().remove(&self.id) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "messenger emulator: answer lost (fault)",
            )));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
