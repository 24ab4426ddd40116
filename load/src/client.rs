//! The load generator's connections: bare hyper HTTP/1.1 client connections (keep-alive, no
//! pool, no per-request allocation beyond the request itself), each sending pre-signed
//! requests one after the other.
//!
//! Closed loop: every connection sends its next request as soon as the previous answer is in,
//! until the deadline or the pool runs out. Open loop: request `i` is due at `start + i / rate`;
//! a connection takes the next request, waits until it is due, and sends it. Requests that go
//! out more than [`LATE`] after they were due are counted (every connection busy, or a client
//! core that other processes kept busy; tokio's timer alone is within 1 ms).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Result;
use crate::report::Latencies;
use crate::sign::{SIGNATURE_HEADER, Signed};

/// How late an open-loop request may go out before it counts as late.
pub(crate) const LATE: Duration = Duration::from_millis(5);

/// Where requests go: `http://HOST:PORT/PATH`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    host: HeaderValue,
    path: Uri,
}

impl Target {
    /// Parses and resolves an `http://` URL.
    ///
    /// # Errors
    /// Not an `http://host:port/path` URL, or the host does not resolve.
    pub(crate) async fn parse(url: &str) -> Result<Target> {
        let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url}: only http:// is supported (a local server)").into());
        }
        let auth = uri.authority().ok_or_else(|| format!("{url}: no host"))?;
        let port = auth.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((auth.host(), port))
            .await?
            .next()
            .ok_or_else(|| format!("{url}: the host does not resolve"))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(Target {
            addr,
            host: HeaderValue::from_str(auth.as_str())?,
            path: path.parse()?,
        })
    }
}

/// Counters shared by every connection of a round, read while it runs (the per-second views).
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// 2xx answers so far.
    pub(crate) acks: AtomicU64,
}

/// What one connection saw.
#[derive(Debug, Default)]
pub(crate) struct ConnResult {
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) transport_errors: u64,
    pub(crate) latency: Latencies,
    /// (request index, when its 2xx answer was in), if asked for.
    pub(crate) acked_at: Vec<(usize, Instant)>,
    /// Open loop: requests sent more than [`LATE`] after they were due.
    pub(crate) late: u64,
    pub(crate) exhausted: bool,
}

/// When a connection stops taking requests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// As fast as answers come, until the deadline (or the pool's end).
    Closed { until: Instant },
    /// Request `i` at `start + i / per_sec`, until the pool's end.
    Open { start: Instant, per_sec: f64 },
}

/// One connection's share of a round.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) target: Arc<Target>,
    pub(crate) pool: Arc<Vec<Signed>>,
    pub(crate) next: Arc<AtomicUsize>,
    pub(crate) live: Arc<Live>,
    pub(crate) pace: Pace,
    pub(crate) record_acks: bool,
}

async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(sender: &mut SendRequest<Full<Bytes>>, target: &Target, req: &Signed) -> Result<u16> {
    sender.ready().await?;
    let request = Request::post(target.path.clone())
        .header(header::HOST, target.host.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, req.signature.clone())
        .body(Full::new(req.body.clone()))?;
    let resp = sender.send_request(request).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

/// Runs one connection until its pace says stop.
pub(crate) async fn run_connection(job: Job) -> ConnResult {
    let mut out = ConnResult {
        latency: Latencies::with_capacity(1024),
        ..ConnResult::default()
    };
    let mut sender = None;
    loop {
        let i = job.next.fetch_add(1, Ordering::Relaxed);
        let Some(req) = job.pool.get(i) else {
            out.exhausted = true;
            break;
        };
        match job.pace {
            Pace::Closed { until } if Instant::now() >= until => break,
            Pace::Closed { .. } => {}
            Pace::Open { start, per_sec } => {
                let due = start + Duration::from_secs_f64(i as f64 / per_sec);
                tokio::time::sleep_until(due.into()).await;
                if due.elapsed() > LATE {
                    out.late += 1;
                }
            }
        }
        // (Re)connect; a refused connection is retried until the round is over.
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(&job.target).await {
                Ok(s) => sender.insert(s),
                Err(_) => {
                    out.transport_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let t = Instant::now();
        match send(s, &job.target, req).await {
            Ok(status) => {
                let done = Instant::now();
                out.latency.record(done - t);
                *out.statuses.entry(status).or_default() += 1;
                if (200..300).contains(&status) {
                    job.live.acks.fetch_add(1, Ordering::Relaxed);
                    if job.record_acks {
                        out.acked_at.push((i, done));
                    }
                }
            }
            Err(_) => {
                out.transport_errors += 1;
                sender = None;
            }
        }
    }
    out
}

/// Runs `connections` connections over one pool and merges what they saw.
pub(crate) async fn run_round(
    target: Arc<Target>,
    pool: Arc<Vec<Signed>>,
    connections: usize,
    pace: Pace,
    live: Arc<Live>,
    record_acks: bool,
) -> ConnResult {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|_| {
            tokio::spawn(run_connection(Job {
                target: target.clone(),
                pool: pool.clone(),
                next: next.clone(),
                live: live.clone(),
                pace,
                record_acks,
            }))
        })
        .collect();
    let mut all = ConnResult::default();
    for t in tasks {
        let Ok(r) = t.await else { continue };
        for (s, n) in r.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        all.transport_errors += r.transport_errors;
        all.latency.merge(r.latency);
        all.acked_at.extend(r.acked_at);
        all.late += r.late;
        all.exhausted |= r.exhausted;
    }
    all
}
