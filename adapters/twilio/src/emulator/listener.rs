//! A TCP listener whose connections a handler can doom: the request is carried out, then the
//! connection closes before any byte of the answer is written. This is how the emulator injects
//! [`Fault::DropConnection`](super::Fault::DropConnection), per connection, so concurrent
//! requests on other connections are unaffected.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The handle a handler gets (as `ConnectInfo`) to drop its own connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Doom(Arc<AtomicBool>);

impl Doom {
    /// Makes the connection fail its next write: the client sees it close with no answer.
    pub(crate) fn drop_connection(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Wraps a [`TcpListener`]; each accepted connection gets its own [`Doom`].
pub(crate) struct DroppingListener(pub(crate) TcpListener);

impl axum::serve::Listener for DroppingListener {
    type Io = DroppingStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => {
                    let doom = Doom::default();
                    return (DroppingStream { inner, doom }, addr);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "twilio emulator: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, DroppingListener>> for Doom {
    fn connect_info(stream: IncomingStream<'_, DroppingListener>) -> Self {
        stream.io().doom.clone()
    }
}

/// A connection that fails every write once its [`Doom`] is set.
pub(crate) struct DroppingStream {
    inner: TcpStream,
    doom: Doom,
}

impl AsyncRead for DroppingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DroppingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.doom.0.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "twilio emulator: connection dropped (fault)",
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
