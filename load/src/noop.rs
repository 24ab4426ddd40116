//! `noop`: the reference server. It runs the same HTTP stack as `switchboard serve` (axum over
//! hyper, HTTP/1.1 keep-alive, `axum::serve`'s defaults), reads every request's whole body and
//! answers `200 ok`, so the benchmarks can say how far the engine is from the stack's ceiling.

use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::Result;

/// Any method, any path: the body is read, the answer is `200 ok`.
pub(crate) fn router() -> Router {
    Router::new().fallback(|body: Bytes| async move {
        std::hint::black_box(body.len());
        "ok"
    })
}

/// Serves [`router`] on `listener` until the process ends.
///
/// # Errors
/// The listener fails.
pub(crate) async fn serve(listener: TcpListener) -> Result<()> {
    axum::serve(listener, router()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ingest::{Plan, Stop, run};
    use crate::sign::Webhooks;

    /// The smoke test of the whole client path: half a second of `ingest` against the
    /// in-process no-op server answers every request 200 (no timing is asserted).
    #[tokio::test]
    async fn ingest_against_noop() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/fb", listener.local_addr().unwrap());
        tokio::spawn(serve(listener));
        let plan = Plan {
            url,
            hooks: Webhooks::new("secret", "1", 10),
            connections: 4,
            stop: Stop::Duration(Duration::from_millis(500)),
            rounds: 1,
            max_pool: 5_000,
            cpu_pid: None,
        };
        let rounds = run(&plan).await.unwrap();
        assert_eq!(rounds.len(), 2, "the warm-up and one round");
        for r in &rounds {
            assert!(r.acks > 0, "{r:?}");
            assert_eq!(r.errors(), 0, "{r:?}");
            assert_eq!(r.statuses.keys().copied().collect::<Vec<_>>(), vec![200]);
        }
    }
}
