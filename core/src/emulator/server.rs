//! Binding `127.0.0.1` at a free port, serving an axum router on it with [`Connection`]s, and
//! stopping gracefully when the emulator is dropped.

use std::io;
use std::net::SocketAddr;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::listener::{Accepting, Connection};

/// A bound, not yet serving, listener: its address is known before the router is built (an
/// emulator's handlers often need their own base URL).
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `127.0.0.1` at a free port (needs a Tokio runtime).
    ///
    /// # Errors
    ///
    /// The I/O error of binding the socket or reading its address.
    pub async fn bind() -> io::Result<Listener> {
        let tcp = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = tcp.local_addr()?;
        Ok(Listener { tcp, addr })
    }

    /// The address it is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `router` on a spawned task; handlers may extract `ConnectInfo<Connection>`.
    pub fn serve(self, router: axum::Router) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router.into_make_service_with_connect_info::<Connection>();
        let accepting = Accepting(self.tcp);
        tokio::spawn(async move {
            let server = axum::serve(accepting, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "emulator server stopped");
            }
        });
        Server {
            addr: self.addr,
            stop: Some(stop),
        }
    }
}

/// A running emulator server. Dropping it stops accepting connections; requests in flight
/// finish.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Sets `Retry-After` to `secs` whole seconds on a rate-limited answer.
pub fn set_retry_after(response: &mut Response, secs: u64) {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::extract::ConnectInfo;
    use axum::routing::get;

    use super::*;

    async fn get_status(url: &str) -> io::Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = url.trim_start_matches("http://");
        let (addr, path) = host.split_once('/').unwrap_or((host, ""));
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET /{path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    #[tokio::test]
    async fn a_lost_answer_closes_only_its_connection_and_dropping_stops_the_server() {
        let listener = Listener::bind().await.unwrap();
        let url = listener.url();
        assert_eq!(url, format!("http://{}", listener.addr()));
        let router = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/lost",
                get(|ConnectInfo(c): ConnectInfo<Connection>| async move {
                    c.lose_answer();
                    "never written"
                }),
            )
            .route(
                "/limited",
                get(|| async {
                    let mut r = Response::new(axum::body::Body::empty());
                    *r.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
                    set_retry_after(&mut r, 7);
                    assert_eq!(r.headers()[header::RETRY_AFTER], "7");
                    r
                }),
            );
        let server = listener.serve(router);
        assert_eq!(server.url(), url);
        assert_eq!(get_status(&format!("{url}/ok")).await.unwrap(), 200);
        // The lost answer: the connection closes with nothing written.
        assert_eq!(get_status(&format!("{url}/lost")).await.unwrap_or(0), 0);
        assert_eq!(get_status(&format!("{url}/ok")).await.unwrap(), 200);
        assert_eq!(get_status(&format!("{url}/limited")).await.unwrap(), 429);
        drop(server);
        let mut refused = false;
        for _ in 0..100 {
            if get_status(&format!("{url}/ok")).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "a dropped server stops accepting");
    }
}
