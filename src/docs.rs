//! # The engine, in one page
//!
//! ```text
//! provider ──HTTP──▶ /webhooks/{channel}
//!                     │ load shedding (503) · body limit (413) · timeout (503)
//!                     │ adapter.handle_webhook: verify (401) · decode (400) · handshake
//!                     ▼
//!                  inbox: dedupe (channel, event id) + insert, ONE transaction ──▶ 200 to provider
//!                     │
//!                  workers: claim head of each conversation with a lease
//!                     │ degraded-option answer ("2", "2.", label) → Action
//!                     │ handler(ctx): ctx.reply / ctx.send / ctx.set_state (buffered)
//!                     ▼
//!                  complete inbox row + outbox rows + state, ONE transaction
//!                     │
//!                  sender: claim head of each destination conversation
//!                     │ rate limits (channel, conversation, provider pause)
//!                     │ adapter.send → sent | retry (backoff+jitter, Retry-After) | dead letter
//!                     ▼
//!                  provider; delivery receipts come back as events and update the outbox row
//! ```
//!
//! ## Guarantees
//!
//! - **Acknowledged means stored.** The 200 goes out only after the inbox transaction commits
//!   (SQLite `synchronous = FULL` by default). A provider retry of a stored event is answered 200
//!   and not stored again.
//! - **Per-conversation order.** The store hands out only the lowest pending row of each
//!   conversation, and only when it is not leased. A failing event blocks its conversation while
//!   it is retried (order is kept) and releases it once dead-lettered.
//! - **Crash safety.** A crash mid-handler leaves the row leased; the lease runs out (or
//!   `recover()` releases it at restart for the single-engine SQLite store) and the handler runs
//!   again. Its replies were never written, because they are committed with the completion.
//! - **No duplicate replies from re-runs.** Replies get the idempotency key
//!   `"{channel}:{event id}:{index}"`; the outbox ignores a key it already holds.
//! - **Sends are not blindly retried.** `Retry::Safe` failures are retried with exponential
//!   backoff and jitter, never sooner than `retry_after` (which also pauses the whole channel).
//!   `Retry::Ambiguous` failures, and sends interrupted by a crash, are resent only when the
//!   adapter's capabilities say `idempotent_sends`; otherwise they are dead-lettered with the
//!   reason. A message that failed after some of its parts were sent is dead-lettered too.
//! - **Nothing is dropped silently.** Every give-up is a dead letter with its error
//!   ([`Switchboard::dead_letters`](crate::Switchboard::dead_letters)) and a metric.
//!
//! ## Configuration
//!
//! See [`config`](crate::config) for every key and its default.
//!
//! ## Outbound pacing
//!
//! Each channel sends through two GCRA limiters (governor): one for the whole channel and one
//! per conversation, plus a channel-wide pause whenever the provider answers with a
//! `retry_after`. Their rates come, in this order, from the channel's `[channels.NAME.rate]`
//! table, else the adapter's [`rate_hint`](crate::Adapter::rate_hint)
//! ([`RateConfig::from_hint`](crate::RateConfig::from_hint)), else
//! [`RateConfig::conservative`](crate::RateConfig::conservative) (1/s per conversation, burst
//! 3). [`Switchboard::channel_rate`](crate::Switchboard::channel_rate) tells which applies.
//! The shipped adapters hint:
//!
//! | provider  | channel-wide     | per conversation | why |
//! |-----------|------------------|------------------|-----|
//! | Slack     | none             | 1/s, burst 3     | Slack's ~1 message/s per channel for `chat.postMessage` |
//! | Messenger | 40/s, burst 40   | 1/s, burst 3     | well under the per-Page Send API limit |
//! | Twilio    | none             | 1/s, burst 1     | a long code sends 1 *segment*/s; the hint counts *messages*, so multi-segment texts queue briefly at Twilio |
//!
//! ## Stores
//!
//! [`MemoryStore`](crate::MemoryStore) for tests; [`SqliteStore`](crate::SqliteStore) (one
//! engine per file, WAL, embedded migrations, group-committed inbox inserts). The
//! [`Store`](crate::Store) trait is lease-based so a PostgreSQL store (`FOR UPDATE SKIP
//! LOCKED` claims) can serve several engines without engine changes.
