//! The forwarder: claims ready heads of the endpoints' queues (one event at a time per
//! (endpoint, conversation), many at once), POSTs each with its signatures, and finishes it:
//! delivered (with its synchronous replies), retried on the schedule, the endpoint disabled on
//! `410`, or a dead letter once the schedule is used up.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_core::Result;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::Shared;
use super::reply;
use super::schedule::{next_delay, retry_after};
use super::signature::signature_header;
use crate::engine::Engine;
use crate::store::{Claim, ForwardFinish, ForwardItem, ForwardOutcome};

/// Deliveries in flight at once (over every endpoint).
const IN_FLIGHT: usize = 32;
/// The most of an answer read (for synchronous replies).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// What a row of an endpoint no longer in the config is disabled with.
pub(crate) const NOT_CONFIGURED: &str =
    "not in [gateway] (the endpoint was removed from the config)";

/// Runs until `stop` turns true, then waits for the deliveries in flight.
pub(crate) async fn run(engine: Arc<Engine>, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running = JoinSet::new();
    let lease = shared.config.timeout + Duration::from_secs(30);
    let poll = engine.config.engine.poll_interval;
    loop {
        if *stop.borrow() {
            break;
        }
        let free = permits.available_permits();
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            engine
                .store
                .claim_forwards(Claim::new(SystemTime::now(), lease, free))
                .await
        };
        let items = match claimed {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "gateway: claiming forwards failed");
                Vec::new()
            }
        };
        let got = items.len();
        for item in items {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (engine, shared) = (engine.clone(), shared.clone());
            running.spawn(async move {
                deliver(&engine, &shared, item).await;
                drop(permit);
            });
        }
        while running.try_join_next().is_some() {}
        if got > 0 && got == free {
            continue;
        }
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A failed attempt: the next one on the schedule, or a dead letter.
fn failed(
    shared: &Shared,
    item: &ForwardItem,
    error: String,
    wait: Option<Duration>,
) -> ForwardOutcome {
    match next_delay(&shared.config.retry_schedule, item.attempts, wait) {
        Some(delay) => ForwardOutcome::Retry {
            at: SystemTime::now() + delay,
            error,
        },
        None => ForwardOutcome::DeadLetter {
            error: format!("gave up after {} attempts: {error}", item.attempts),
        },
    }
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer.
async fn read_answer(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One attempt's outcome.
async fn attempt(shared: &Shared, item: &ForwardItem) -> Result<ForwardOutcome> {
    let Some(target) = shared.config.target(&item.endpoint) else {
        return Ok(ForwardOutcome::Disable {
            reason: NOT_CONFIGURED.to_owned(),
        });
    };
    let client = shared.client()?;
    let timestamp = unix_now();
    let signature = signature_header(&target.secrets, &item.id, timestamp, item.body.as_bytes());
    let sent = client
        .post(target.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &item.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(item.body.clone())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                format!("no answer within {:?}", shared.config.timeout)
            } else {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text = format!("{text}: {s}");
                    source = s.source();
                }
                text
            };
            return Ok(failed(shared, item, what, None));
        }
    };
    let status = response.status();
    if status.is_success() {
        let answer = match read_answer(response).await {
            Ok(a) => a,
            Err(why) => return Ok(failed(shared, item, format!("HTTP {status}: {why}"), None)),
        };
        return Ok(
            match reply::parse(&answer, &item.endpoint, &item.id, &item.body) {
                Ok(replies) => ForwardOutcome::Delivered { replies },
                Err(why) => failed(
                    shared,
                    item,
                    format!("HTTP {status}: reply refused: {why}"),
                    None,
                ),
            },
        );
    }
    if status == http::StatusCode::GONE {
        return Ok(ForwardOutcome::Disable {
            reason: format!("HTTP 410 Gone from {}", target.url),
        });
    }
    let wait = retry_after(
        response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
    );
    let what = if status.is_redirection() {
        format!("HTTP {status} (redirects are not followed)")
    } else {
        format!("HTTP {status}")
    };
    Ok(failed(shared, item, what, wait))
}

/// Delivers one claimed row and records the outcome.
pub(crate) async fn deliver(engine: &Engine, shared: &Shared, item: ForwardItem) {
    let outcome = match attempt(shared, &item).await {
        Ok(o) => o,
        Err(e) => failed(shared, &item, e.to_string(), None),
    };
    let label = match &outcome {
        ForwardOutcome::Delivered { .. } => "delivered",
        ForwardOutcome::Retry { .. } => "retry",
        ForwardOutcome::Disable { .. } => "disabled",
        _ => "dead",
    };
    let replies = match &outcome {
        ForwardOutcome::Delivered { replies } => replies.len(),
        _ => 0,
    };
    match &outcome {
        ForwardOutcome::Retry { error, .. } => {
            tracing::warn!(endpoint = %item.endpoint, id = %item.id, attempt = item.attempts, %error, "gateway: delivery failed; will retry");
        }
        ForwardOutcome::Disable { reason } => {
            tracing::error!(endpoint = %item.endpoint, %reason, "gateway: endpoint disabled; `switchboard gateway enable` turns it back on");
            shared.metrics().set_disabled(&item.endpoint, true);
        }
        ForwardOutcome::DeadLetter { error } => {
            tracing::error!(endpoint = %item.endpoint, id = %item.id, %error, "gateway: event dead-lettered; `switchboard gateway replay` sends it again");
        }
        _ => {
            tracing::debug!(endpoint = %item.endpoint, id = %item.id, replies, "gateway: delivered")
        }
    }
    let finished = engine
        .store
        .finish_forwards(
            vec![ForwardFinish::new(item.lease, outcome)],
            SystemTime::now(),
        )
        .await
        .map(|mut a| a.pop());
    match finished {
        Ok(Some(Ok(true))) => {
            shared.metrics().delivery(&item.endpoint, label);
            if replies > 0 {
                engine.outbox_ready.notify_one();
            }
        }
        Ok(Some(Ok(false))) => {
            tracing::warn!(endpoint = %item.endpoint, id = %item.id, "gateway: lease lost before the outcome was recorded");
        }
        Ok(Some(Err(e))) => {
            // The replies were refused (an outbox key already taken): the attempt failed.
            let outcome = failed(shared, &item, format!("replies refused: {e}"), None);
            if let Err(e) = engine
                .store
                .finish_forwards(
                    vec![ForwardFinish::new(item.lease, outcome)],
                    SystemTime::now(),
                )
                .await
            {
                tracing::error!(error = %e, "gateway: recording a failed delivery failed");
            }
        }
        Ok(None) => tracing::error!("gateway: the store gave no answer for a finish"),
        Err(e) => {
            // The lease runs out and the event is delivered again (the same webhook-id).
            tracing::error!(error = %e, endpoint = %item.endpoint, id = %item.id, "gateway: recording the outcome failed");
        }
    }
}
