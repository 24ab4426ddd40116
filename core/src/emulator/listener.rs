//! The TCP side of an emulator: every accepted connection carries a [`Connection`] handle, which
//! handlers receive as axum `ConnectInfo`. A handler that marks its connection makes the
//! connection fail its next write, so the client sees it close before any byte of the answer;
//! concurrent requests on other connections are unaffected. This is how a provider emulator
//! drops a connection or loses the answer of a call that took effect.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The connection a request came on (axum `ConnectInfo<Connection>` in an emulator's handlers).
#[derive(Debug, Clone, Default)]
pub struct Connection(Arc<AtomicBool>);

impl Connection {
    /// Closes the connection instead of writing the answer: whatever the request did stays
    /// done, and the client cannot tell (a dropped connection, or a lost answer).
    pub fn lose_answer(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_lost(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wraps a [`TcpListener`]; each accepted connection gets its own [`Connection`].
pub(crate) struct Accepting(pub(crate) TcpListener);

impl axum::serve::Listener for Accepting {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => {
                    let connection = Connection::default();
                    return (Stream { inner, connection }, addr);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "emulator: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, Accepting>> for Connection {
    fn connect_info(stream: IncomingStream<'_, Accepting>) -> Self {
        stream.io().connection.clone()
    }
}

/// A connection that fails every write once its [`Connection`] is marked.
pub(crate) struct Stream {
    inner: TcpStream,
    connection: Connection,
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.connection.is_lost() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "emulator: answer lost (fault)",
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
