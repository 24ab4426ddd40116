//! `GET events` (Server-Sent Events) and `GET messages` (the long poll): a conversation's
//! records from its durable log after a cursor, then new ones as they are appended.
//!
//! A stream subscribes to its conversation *before* it reads the log, so a record appended
//! between the read and the wait still wakes it; it sends each record with `id:` = its
//! sequence number and moves its cursor past it, so a reconnect with `Last-Event-ID` repeats
//! nothing and misses nothing. A cursor older than what the log keeps (the channel's
//! retention pruned records after it) gets `status history_truncated` first, with `id:` the
//! highest sequence number pruned. `typing` is passed on without an `id`. A `: ping` comment
//! every 15 s keeps proxies open; when the token expires the stream sends `status
//! session_expired` and ends; when the server shuts down it ends (the client reconnects to
//! another instance, or to this one restarted, with its cursor).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use switchboard_core::{ConversationRef, WebhookRequest};
use switchboard_webchat::wire::{Event, LogPage, StatusCode, StatusEvent};
use switchboard_webchat::{Reason, Reply, WebchatAdapter, WebchatError};
use tokio::sync::watch;

use super::WebFailure;
use crate::engine::Engine;
use crate::store::{Store, conversation_key};
use crate::webchat::{PER_TOKEN, POLL, Signal, Slot, Subscription, read_after, record, truncated};

/// The most records one read (one long-poll answer) carries.
pub(crate) const PAGE: usize = 100;
/// The keep-alive comment's interval.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What `retry:` tells `EventSource` (milliseconds before it reconnects).
const RETRY: Duration = Duration::from_secs(3);
/// The longest long poll, in seconds.
const MAX_WAIT: u64 = 30;

fn invalid(message: &str) -> WebFailure {
    WebFailure(WebchatError::new(Reason::InvalidRequest, message))
}

/// The cursor: `Last-Event-ID` (what `EventSource` sends when it reconnects) or `?after=`.
fn cursor(request: &WebhookRequest) -> Result<u64, WebFailure> {
    let raw = request
        .header("last-event-id")
        .map(str::to_owned)
        .or_else(|| request.query_param("after"));
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| invalid("the cursor (Last-Event-ID or after) is not a sequence number")),
    }
}

/// The session's conversation, its expiry and its token's issue time.
fn conversation(
    adapter: &WebchatAdapter,
    request: &WebhookRequest,
) -> Result<(ConversationRef, SystemTime, i64), WebFailure> {
    let claims = adapter.authorize(request)?;
    let to =
        ConversationRef::parse(adapter.channel().as_str(), &claims.conversation).map_err(|_| {
            WebFailure(WebchatError::new(
                Reason::BadToken,
                "the token is not valid",
            ))
        })?;
    Ok((
        to,
        switchboard_core::model::time::from_millis(claims.expires_at),
        claims.issued_at,
    ))
}

/// The SSE form of a record (`id:` = its sequence number) or of an ephemeral event.
fn sse(event: &Event, seq: Option<u64>) -> SseEvent {
    let e = SseEvent::default()
        .event(event.name())
        .data(event.data().to_string());
    match seq {
        Some(seq) => e.id(seq.to_string()),
        None => e,
    }
}

/// One open stream.
struct Stream {
    store: Arc<dyn Store>,
    key: String,
    cursor: u64,
    subscription: Subscription,
    /// Its place among its token's streams (at most five).
    slot: Slot,
    expires: tokio::time::Instant,
    closing: watch::Receiver<bool>,
    queue: VecDeque<SseEvent>,
    started: bool,
    /// Whether the log was checked for pruning after the client's cursor.
    checked: bool,
    ending: bool,
}

impl Stream {
    /// Reads the records after the cursor into the queue; `Err` ends the stream (the client
    /// reconnects with its cursor).
    async fn read(&mut self) -> switchboard_core::Result<()> {
        // An empty read is checked for pruning once, when the stream opens (later, records
        // the stream has not read are the newest, the last a prune deletes; a gap shows it).
        let first = !self.checked;
        self.checked = true;
        let read = read_after(self.store.as_ref(), &self.key, self.cursor, PAGE, first).await?;
        if let Some(up_to) = read.truncated {
            self.queue.push_back(sse(&truncated(up_to), Some(up_to)));
            self.cursor = up_to;
        }
        for entry in read.entries {
            let seq = entry.seq;
            match record(entry) {
                Ok(r) => self.queue.push_back(sse(&r.event, Some(seq))),
                // A record this server cannot read (written by a newer version): skipped,
                // never a stream stuck on it.
                Err(e) => tracing::error!(error = %e, "web chat: record skipped"),
            }
            self.cursor = seq;
        }
        Ok(())
    }

    /// The next event of the stream, or `None` when it ends.
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Self)> {
        if !self.started {
            self.started = true;
            return Some((Ok(SseEvent::default().retry(RETRY)), self));
        }
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some((Ok(e), self));
            }
            if self.ending || *self.closing.borrow() {
                return None;
            }
            if let Err(e) = self.read().await {
                tracing::warn!(error = %e, "web chat: reading the log failed; ending the stream");
                return None;
            }
            if !self.queue.is_empty() {
                continue;
            }
            tokio::select! {
                signal = self.subscription.next() => {
                    if let Signal::Ephemeral(event) = signal {
                        self.queue.push_back(sse(&event, None));
                    }
                }
                () = tokio::time::sleep(POLL) => {}
                () = tokio::time::sleep_until(self.expires) => {
                    let expired = Event::Status(StatusEvent::new(
                        StatusCode::SessionExpired,
                        Some("open a new session with your token".into()),
                    ));
                    self.queue.push_back(sse(&expired, None));
                    self.ending = true;
                }
                _ = &mut self.slot.closed => {
                    let replaced = Event::Status(StatusEvent::new(
                        StatusCode::TooManyStreams,
                        Some(format!(
                            "more than {PER_TOKEN} streams of this session are open: this, the oldest, is closed"
                        )),
                    ));
                    self.queue.push_back(sse(&replaced, None));
                    self.ending = true;
                }
                _ = self.closing.changed() => return None,
            }
        }
    }
}

/// `GET events`.
pub(super) async fn stream(
    engine: &Engine,
    adapter: &WebchatAdapter,
    request: &WebhookRequest,
) -> Response {
    let (to, expires, issued_at) = match conversation(adapter, request) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let cursor = match cursor(request) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let key = conversation_key(&to);
    let left = expires
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let stream = Stream {
        store: engine.store.clone(),
        subscription: engine.webchat.hub.subscribe(&key),
        slot: engine.webchat.streams.open(&key, issued_at),
        key,
        cursor,
        expires: tokio::time::Instant::now() + left,
        closing: engine.webchat.closing(),
        queue: VecDeque::new(),
        started: false,
        checked: false,
        ending: false,
    };
    let body = futures_util::stream::unfold(stream, Stream::next);
    let mut response = Sse::new(body)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text(" ping"))
        .into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `GET messages?after=SEQ&wait=SECONDS`.
pub(super) async fn poll(
    engine: &Engine,
    adapter: &WebchatAdapter,
    request: &WebhookRequest,
) -> Response {
    match poll_page(engine, adapter, request).await {
        Ok(page) => super::respond(Reply::json(axum::http::StatusCode::OK, &page)),
        Err(e) => e.into_response(),
    }
}

async fn poll_page(
    engine: &Engine,
    adapter: &WebchatAdapter,
    request: &WebhookRequest,
) -> Result<LogPage, WebFailure> {
    let (to, _, _) = conversation(adapter, request)?;
    let after = match request.query_param("after") {
        None => 0,
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| invalid("'after' is not a sequence number"))?,
    };
    let wait = match request.query_param("wait") {
        None => 0,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(w) if w <= MAX_WAIT => w,
            _ => return Err(invalid("'wait' is a whole number of seconds from 0 to 30")),
        },
    };
    let log = adapter.log();
    let mut subscription = (wait > 0).then(|| engine.webchat.hub.subscribe(&conversation_key(&to)));
    let read = || async {
        log.read(&to, after, PAGE).await.map_err(|e| {
            tracing::warn!(error = %e, "web chat: reading the log failed");
            WebFailure(WebchatError::new(
                Reason::Unavailable,
                "cannot read now; retry",
            ))
        })
    };
    let mut page = read().await?;
    if let Some(sub) = subscription.as_mut() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        while page.records.is_empty() {
            let woke = tokio::time::timeout_at(deadline, sub.next()).await;
            if woke.is_err() {
                break;
            }
            page = read().await?;
        }
    }
    Ok(page)
}
