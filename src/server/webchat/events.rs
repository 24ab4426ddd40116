//! `GET events` (Server-Sent Events) and `GET messages` (the long poll): a conversation's
//! records from its durable log after a cursor, then new ones as they are appended.
//!
//! A stream subscribes to its conversation *before* it reads the log, so a record appended
//! between the read and the wait still wakes it; it sends each record with `id:` = its
//! sequence number and moves its cursor past it, so a reconnect with `Last-Event-ID` repeats
//! nothing and misses nothing. A cursor older than what the log keeps (the channel's
//! retention pruned records after it) gets `status history_truncated` first, with `id:` the
//! highest sequence number pruned. `typing` is passed on without an `id`. A `: ping` comment
//! after every 15 s without anything else sent keeps proxies open; when the token expires the
//! stream sends `status session_expired` and ends; when the server shuts down it ends (the
//! client reconnects to another instance, or to this one restarted, with its cursor).
//!
//! An idle stream costs one timer: it is set to the earliest of the next ping, the next
//! re-read of the log (the safety net, [`POLL`]) and the token's expiry.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use switchboard_core::{ConversationRef, WebhookRequest};
use switchboard_webchat::wire::{Event, LogPage, StatusCode, StatusEvent};
use switchboard_webchat::{Reason, Reply, WebchatAdapter, WebchatError};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

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
    cursor: u64,
    /// Its conversation's wake-ups; it also holds the conversation key the stream reads.
    subscription: Subscription,
    /// Its place among its token's streams (at most five).
    slot: Slot,
    closing: watch::Receiver<bool>,
    queue: VecDeque<SseEvent>,
    /// The stream's one timer, set to the earliest of `ping_at`, `read_at` and `expires`
    /// whenever the stream waits (a stream has no other).
    timer: Pin<Box<Sleep>>,
    /// The keep-alive interval ([`KEEP_ALIVE`]; shorter in tests).
    ping_every: Duration,
    /// When the keep-alive comment is due: `ping_every` after the last thing sent.
    ping_at: Instant,
    /// When the log is re-read without a wake-up: [`POLL`] after the last read.
    read_at: Instant,
    /// When the token expires.
    expires: Instant,
    /// The log may hold records after the cursor: read it before waiting.
    stale: bool,
    started: bool,
    /// Whether the log was checked for pruning after the client's cursor.
    checked: bool,
    ending: bool,
}

impl Stream {
    /// A stream of `subscription`'s conversation from `cursor`, until `expires`.
    fn new(
        store: Arc<dyn Store>,
        subscription: Subscription,
        slot: Slot,
        closing: watch::Receiver<bool>,
        cursor: u64,
        expires: Instant,
    ) -> Self {
        let now = Instant::now();
        Stream {
            store,
            cursor,
            subscription,
            slot,
            closing,
            queue: VecDeque::new(),
            timer: Box::pin(tokio::time::sleep_until(expires)),
            ping_every: KEEP_ALIVE,
            ping_at: now + KEEP_ALIVE,
            read_at: now + POLL,
            expires,
            stale: true,
            started: false,
            checked: false,
            ending: false,
        }
    }

    /// Reads the records after the cursor into the queue; `Err` ends the stream (the client
    /// reconnects with its cursor).
    async fn read(&mut self) -> switchboard_core::Result<()> {
        self.read_at = Instant::now() + POLL;
        // An empty read is checked for pruning once, when the stream opens (later, records
        // the stream has not read are the newest, the last a prune deletes; a gap shows it).
        let first = !self.checked;
        self.checked = true;
        let read = read_after(
            self.store.as_ref(),
            self.subscription.conversation(),
            self.cursor,
            PAGE,
            first,
        )
        .await?;
        if let Some(up_to) = read.truncated {
            self.queue.push_back(sse(&truncated(up_to), Some(up_to)));
            self.cursor = up_to;
        }
        // A full page: more may follow it. Otherwise every record appended after this read
        // wakes the stream (it subscribed before its first read).
        self.stale = read.entries.len() >= PAGE;
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
            self.ping_at = Instant::now() + self.ping_every;
            return Some((Ok(SseEvent::default().retry(RETRY)), self));
        }
        loop {
            if let Some(e) = self.queue.pop_front() {
                // Anything sent keeps proxies open until the next ping is due.
                self.ping_at = Instant::now() + self.ping_every;
                return Some((Ok(e), self));
            }
            if self.ending || *self.closing.borrow() {
                return None;
            }
            if self.stale {
                if let Err(e) = self.read().await {
                    tracing::warn!(error = %e, "web chat: reading the log failed; ending the stream");
                    return None;
                }
                continue;
            }
            let due = self.ping_at.min(self.read_at).min(self.expires);
            if self.timer.deadline() != due {
                self.timer.as_mut().reset(due);
            }
            tokio::select! {
                signal = self.subscription.next() => match signal {
                    Signal::Appended => self.stale = true,
                    Signal::Ephemeral(event) => self.queue.push_back(sse(&event, None)),
                },
                () = self.timer.as_mut() => {
                    if self.expires <= due {
                        let expired = Event::Status(StatusEvent::new(
                            StatusCode::SessionExpired,
                            Some("open a new session with your token".into()),
                        ));
                        self.queue.push_back(sse(&expired, None));
                        self.ending = true;
                    } else {
                        if self.read_at <= due {
                            self.stale = true;
                        }
                        if self.ping_at <= due {
                            self.queue.push_back(SseEvent::default().comment("ping"));
                        }
                    }
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

    /// The stream as an SSE response.
    fn respond(self) -> Response {
        let body = futures_util::stream::unfold(self, Stream::next);
        let mut response = Sse::new(body).into_response();
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
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
    let left = expires
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let subscription = engine.webchat.hub.subscribe(&conversation_key(&to));
    let slot = engine
        .webchat
        .streams
        .open(subscription.conversation(), issued_at);
    Stream::new(
        engine.store.clone(),
        subscription,
        slot,
        engine.webchat.closing(),
        cursor,
        Instant::now() + left,
    )
    .respond()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::SystemTime;

    use axum::body::Bytes;
    use futures_util::{FutureExt, StreamExt};
    use switchboard_webchat::wire::{Author, MessageEvent, Role};

    use super::*;
    use crate::store::{LogAppend, MemoryStore};
    use crate::webchat::{Hub, SIGNALS, Streams};

    const KEY: &str = "site/anon:a";

    /// A store, a hub and the streams registry, as an engine has them.
    struct World {
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        streams: Arc<Streams>,
        closing: watch::Sender<bool>,
    }

    impl World {
        fn new() -> Self {
            World {
                store: Arc::new(MemoryStore::new()),
                hub: Arc::default(),
                streams: Arc::default(),
                closing: watch::channel(false).0,
            }
        }

        /// A stream of the conversation from `cursor`, as the response body's bytes.
        fn open(&self, cursor: u64) -> Stream {
            let subscription = self.hub.subscribe(KEY);
            let slot = self.streams.open(subscription.conversation(), 1);
            Stream::new(
                self.store.clone(),
                subscription,
                slot,
                self.closing.subscribe(),
                cursor,
                Instant::now() + Duration::from_secs(3600),
            )
        }

        /// Appends `n` messages to the log, waking the streams after each (as `StoreLog` does).
        async fn append(&self, n: usize) {
            for _ in 0..n {
                let event = Event::Message(MessageEvent::new("m", Author::new(Role::Agent), 0));
                let append = LogAppend::new(
                    KEY,
                    None,
                    serde_json::to_value(&event).unwrap(),
                    SystemTime::now(),
                );
                self.store.log_append(&[append]).await.unwrap();
                self.hub.wake(KEY);
            }
        }
    }

    type Body = axum::body::BodyDataStream;

    fn body(stream: Stream) -> Body {
        stream.respond().into_body().into_data_stream()
    }

    async fn chunk(body: &mut Body) -> String {
        let bytes: Bytes = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the stream sent nothing for 10 s")
            .expect("the stream ended")
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Reads the stream until it has sent records up to `last`; returns their `id`s in order.
    async fn ids_until(body: &mut Body, last: u64) -> Vec<u64> {
        let mut ids = Vec::new();
        while ids.last() != Some(&last) {
            let event = chunk(body).await;
            if let Some(id) = event.lines().find_map(|l| l.strip_prefix("id: ")) {
                ids.push(id.parse().unwrap());
            }
        }
        ids
    }

    #[tokio::test]
    async fn a_stream_that_falls_behind_loses_no_record() {
        let world = World::new();
        world.append(2).await;
        let mut body = body(world.open(0));
        assert_eq!(chunk(&mut body).await, "retry: 3000\n\n");
        assert_eq!(ids_until(&mut body, 2).await, [1, 2]);
        // The stream now waits for a wake-up; nothing polls it while three times as many
        // records as its conversation's signal slots are appended: it falls behind the hub.
        assert!(body.next().now_or_never().is_none(), "the stream waits");
        let behind = 3 * SIGNALS as u64;
        world.append(3 * SIGNALS).await;
        let ids = ids_until(&mut body, 2 + behind).await;
        assert_eq!(
            ids,
            (3..=2 + behind).collect::<Vec<_>>(),
            "each once, in order"
        );
        // Caught up, it waits again, and the next record arrives as usual.
        assert!(body.next().now_or_never().is_none(), "the stream waits");
        world.append(1).await;
        assert_eq!(ids_until(&mut body, 3 + behind).await, [3 + behind]);
    }

    #[tokio::test]
    async fn a_stream_reads_a_long_log_page_by_page() {
        let world = World::new();
        world.append(2 * PAGE + 1).await;
        let mut body = body(world.open(0));
        chunk(&mut body).await;
        let all = (1..=2 * PAGE as u64 + 1).collect::<Vec<_>>();
        assert_eq!(ids_until(&mut body, all.len() as u64).await, all);
        // From a cursor: only what follows it.
        let mut body = self::body(world.open(150));
        chunk(&mut body).await;
        assert_eq!(ids_until(&mut body, all.len() as u64).await, all[150..]);
    }

    #[tokio::test]
    async fn the_keep_alive_is_a_ping_comment_after_each_silence() {
        let world = World::new();
        let mut stream = world.open(0);
        let every = Duration::from_millis(300);
        stream.ping_every = every;
        // The interval counts from when the stream yields an event, a moment before the test
        // sees it.
        let early = Duration::from_millis(20);
        let mut body = body(stream);
        chunk(&mut body).await;
        let mut last = Instant::now();
        for _ in 0..2 {
            // Exactly the comment the protocol names (section 6): `: ping`.
            assert_eq!(chunk(&mut body).await, ": ping\n\n");
            assert!(last.elapsed() >= every - early, "not before the interval");
            last = Instant::now();
        }
        // A record sent restarts the interval: the next ping comes a whole interval later.
        tokio::time::sleep(every / 2).await;
        world.append(1).await;
        assert_eq!(ids_until(&mut body, 1).await, [1]);
        let sent = Instant::now();
        assert_eq!(chunk(&mut body).await, ": ping\n\n");
        assert!(
            sent.elapsed() >= every - early,
            "the record restarted the interval"
        );
        // The one timer also ends the stream when the token expires.
        let mut stream = world.open(1);
        stream.expires = Instant::now() + every;
        let mut body = self::body(stream);
        chunk(&mut body).await;
        let expired = chunk(&mut body).await;
        assert!(expired.contains("session_expired"), "{expired}");
        assert!(body.next().await.is_none(), "the stream ends");
    }
}
