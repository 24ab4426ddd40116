//! A fast Messenger Send API stub for the end-to-end benchmark: `POST
//! /{version}/{page_id}/messages` answers `{"recipient_id": PSID, "message_id": "m_…"}` at
//! once (the Graph API's answer; see the Messenger adapter's `api.rs` and `wire.rs`), and
//! records when each message arrived. The echo application replies with the webhook's text,
//! `load {run}:{idx}`, so an arrival names the webhook it answers. `GET /{version}/{node}`
//! answers `{"id": node}` (what `switchboard check --live` asks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sign::request_index;

/// What reached the stub.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    /// Messages received (matched or not).
    pub(crate) count: AtomicU64,
    /// Messages whose text named no load request.
    pub(crate) unmatched: AtomicU64,
    /// (request index, arrival), in arrival order.
    at: Mutex<Vec<(u64, Instant)>>,
}

impl Arrivals {
    /// Every (request index, arrival) so far.
    pub(crate) fn take(&self) -> Vec<(u64, Instant)> {
        std::mem::take(&mut *self.at.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug, Deserialize)]
struct SendBody {
    recipient: Recipient,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Debug, Deserialize)]
struct Recipient {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    text: Option<String>,
}

async fn messages(
    State(arrivals): State<Arc<Arrivals>>,
    Json(body): Json<SendBody>,
) -> Json<Value> {
    let now = Instant::now();
    let n = arrivals.count.fetch_add(1, Ordering::Relaxed);
    match body
        .message
        .and_then(|m| m.text)
        .as_deref()
        .and_then(request_index)
    {
        Some(idx) => arrivals
            .at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((idx, now)),
        None => {
            arrivals.unmatched.fetch_add(1, Ordering::Relaxed);
        }
    }
    Json(json!({ "recipient_id": body.recipient.id, "message_id": format!("m_stub{n:010}") }))
}

async fn node(Path((_version, node)): Path<(String, String)>) -> Json<Value> {
    Json(json!({ "id": node }))
}

/// The stub's routes, recording into `arrivals`.
pub(crate) fn router(arrivals: Arc<Arrivals>) -> Router {
    Router::new()
        .route("/{version}/{node}/messages", post(messages))
        .route("/{version}/{node}", get(node))
        .with_state(arrivals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_like_the_send_api_and_records_the_request() {
        let arrivals = Arc::new(Arrivals::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, router(arrivals.clone())).into_future());
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!(
                "{base}/v25.0/1895382890692545/messages?access_token=t"
            ))
            .json(
                &json!({"recipient": {"id": "700"}, "messaging_type": "RESPONSE",
                          "message": {"text": "load 1:42"}}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["recipient_id"], "700");
        assert!(answer["message_id"].as_str().unwrap().starts_with("m_"));
        let seen = arrivals.take();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, 42);
        assert_eq!(arrivals.unmatched.load(Ordering::Relaxed), 0);
    }
}
