//! A TCP proxy for the browser tests: the page's origin (the proxy's address) stays the same
//! while the server behind it is killed and restarted, and the test can cut the event stream
//! connections that pass through it.
//!
//! Each accepted connection is connected to the upstream address (retried for up to 20 s
//! while the server restarts, so a request made meanwhile waits instead of failing) and
//! copied both ways. A connection whose request names `/events` is a *stream*; once the
//! server has answered on it, it is *live*. [`Proxy::cut_streams`] closes every stream
//! connection, as a dropped network would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// One connection through the proxy.
struct Conn {
    /// Its request named `/events`.
    stream: Arc<AtomicBool>,
    /// The server answered on it after that.
    live: Arc<AtomicBool>,
    task: AbortHandle,
}

#[derive(Default)]
struct State {
    conns: HashMap<u64, Conn>,
    next: u64,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// The proxy's own address (the page's origin).
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: AbortHandle,
    /// Stream connections opened so far (a reconnect counts again).
    opened: Arc<AtomicU64>,
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state: Arc<Mutex<State>> = Arc::default();
        let opened = Arc::new(AtomicU64::new(0));
        let (s, o) = (state.clone(), opened.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let stream = Arc::new(AtomicBool::new(false));
                let live = Arc::new(AtomicBool::new(false));
                let mut st = s.lock().unwrap();
                let id = st.next;
                st.next += 1;
                let task = tokio::spawn(pipe(
                    client,
                    upstream,
                    stream.clone(),
                    live.clone(),
                    o.clone(),
                    s.clone(),
                    id,
                ))
                .abort_handle();
                st.conns.insert(id, Conn { stream, live, task });
            }
        })
        .abort_handle();
        Proxy {
            addr,
            state,
            accept,
            opened,
        }
    }

    /// `http://` and the proxy's address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many stream connections were opened through the proxy so far.
    pub fn streams_opened(&self) -> u64 {
        self.opened.load(Ordering::SeqCst)
    }

    /// Whether a stream connection is open and the server has answered on it.
    pub fn live_stream(&self) -> bool {
        let st = self.state.lock().unwrap();
        st.conns
            .values()
            .any(|c| c.stream.load(Ordering::SeqCst) && c.live.load(Ordering::SeqCst))
    }

    /// Closes every stream connection; how many of them were live.
    pub fn cut_streams(&self) -> usize {
        let mut st = self.state.lock().unwrap();
        let ids: Vec<u64> = st
            .conns
            .iter()
            .filter(|(_, c)| c.stream.load(Ordering::SeqCst))
            .map(|(id, _)| *id)
            .collect();
        let mut live = 0;
        for id in ids {
            if let Some(c) = st.conns.remove(&id) {
                c.task.abort();
                live += usize::from(c.live.load(Ordering::SeqCst));
            }
        }
        live
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for c in self.state.lock().unwrap().conns.values() {
            c.task.abort();
        }
    }
}

/// Connects to `upstream`, retrying for up to 20 s (the server may be restarting).
async fn connect(upstream: SocketAddr) -> Option<TcpStream> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(s) = TcpStream::connect(upstream).await {
            return Some(s);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Copies one connection both ways, marking it as a stream when a request names `/events`.
async fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    stream: Arc<AtomicBool>,
    live: Arc<AtomicBool>,
    opened: Arc<AtomicU64>,
    state: Arc<Mutex<State>>,
    id: u64,
) {
    if let Some(server) = connect(upstream).await {
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let is_stream = stream.clone();
        let up = async move {
            let mut buf = vec![0u8; 16 * 1024];
            // The end of the previous read: a request line split across two reads is found.
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                tail.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&tail);
                if text.contains("GET /webchat/")
                    && text.contains("/events?")
                    && !is_stream.swap(true, Ordering::SeqCst)
                {
                    opened.fetch_add(1, Ordering::SeqCst);
                }
                let keep = tail.len().saturating_sub(64);
                tail.drain(..keep);
                if sw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = sw.shutdown().await;
        };
        let down = async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if stream.load(Ordering::SeqCst) {
                    live.store(true, Ordering::SeqCst);
                }
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = cw.shutdown().await;
        };
        // Either side ending ends the connection (a server killed mid-stream closes the
        // browser's side too).
        tokio::select! {
            () = up => {}
            () = down => {}
        }
    }
    state.lock().unwrap().conns.remove(&id);
}
