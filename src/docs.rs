//! # The engine, in one page
//!
//! ```text
//! provider ──HTTP──▶ /webhooks/{channel}                                    (server)
//!                     │ load shedding (503) · body limit (413) · one deadline
//!                     │ (request_timeout): body not received 408, not stored 503
//!                     │ adapter.handle_webhook: verify (401) · decode (400) · handshake
//!                     ▼
//!                  inbox: dedupe key + row + conversation head, group-committed ──▶ 200
//!                     │                                                     (store, inbox)
//!                  workers' claim loop: ready conversation heads, LIMIT free slots,
//!                     │ leased; woken by inserts, retries coming due, polling as a net
//!                     │                                                (claim_loop, lease)
//!                  worker: receipts recorded (proofs, deliveries, watermarks)  (receipts)
//!                     │ degraded-option answer ("2", "2.", label) → Action
//!                     │ plugins' on_event (gateway, bridge, the app's): same buffer (plugin)
//!                     │ handler(ctx): ctx.reply / ctx.send / ctx.set_state (buffered)
//!                     ▼                                                         (worker)
//!                  finish: row handled + outbox rows + state, ONE item of a group commit;
//!                     │ the conversation's next row becomes its head
//!                  sender's claim loop: ready heads of destination conversations (outbox)
//!                     │ rate limits (channel, conversation, provider pause)
//!                     │ uncertain row? settle first: keyed proofs → adapter.reconcile → policy
//!                     │ attempt recorded (durably) → adapter.send → sent | retry (backoff+jitter,
//!                     │ Retry-After) | settle later (ambiguous) | dead letter       (sender)
//!                     │ dead letter committed → plugins' on_dead_letter(FailedSend), at most once
//!                     ▼
//!                  provider; delivery receipts come back as events and update the outbox row;
//!                  keyed receipts and echoes are recorded as proofs of the send
//! ```
//!
//! Every room takes one context, the engine (`src/engine/`): configuration, channels, the
//! store, handlers, metrics and the two loops' wake-ups. [`Switchboard`](crate::Switchboard)
//! builds it and starts the rooms; none of them reaches back into it.
//!
//! ## Guarantees
//!
//! - **Acknowledged means stored.** The 200 goes out only after the inbox transaction commits
//!   (SQLite `synchronous = FULL` by default). A provider retry of a stored event is answered 200
//!   and not stored again.
//! - **Per-conversation order.** The store hands out only the head (the lowest pending row) of
//!   each conversation, and only when it is ready (not leased, not waiting for a retry). A
//!   failing event blocks its conversation while it is retried (order is kept) and releases it
//!   once dead-lettered: the next row becomes the head, ready at once.
//! - **Crash safety.** A crash mid-handler leaves the row leased; the lease runs out (or
//!   `recover()` releases it at restart for the single-engine SQLite store) and the handler runs
//!   again. Its replies were never written, because they are committed with the completion.
//!   A handler that panics fails like one that returns `Err` (retried, then dead-lettered with
//!   "handler panicked: …"). An event claimed more than `engine.handler_attempts` times without
//!   any outcome (a handler that crashes the process) is dead-lettered at its next claim without
//!   running ("gave up after N claims without an outcome"), so it cannot block its conversation.
//! - **Leases are renewed while work runs.** Each claim loop renews every lease its running
//!   handlers (or sends, including their short wait for the rate limiters) hold every
//!   `engine.lease / 3`, in one batched store call, so a handler may take longer than the lease
//!   (up to `engine.handler_timeout`) without its event being claimed and run a second time; the
//!   lease only bounds how long a *crashed* engine's rows wait. A finish presents the lease's
//!   token: a late finisher whose lease ran out and was claimed again writes nothing.
//! - **No duplicate replies from re-runs.** Replies get the idempotency key
//!   `"{channel}:{event id}:{index}"` and are written only with the event's completion, so a
//!   re-run writes them once. Application sends have keys of their own namespace
//!   (`"{channel}/app/{key}"`), so they can never take a reply's key; a completion whose key
//!   the outbox already holds is an error (the event fails and is retried, then
//!   dead-lettered), never ignored.
//! - **A handler's context lives as long as its handler.** Once the handler has returned
//!   (or failed, timed out, panicked), a reply or state change through a copy of its
//!   [`Context`](crate::Context) is an error, not silently dropped.
//! - **Sends are not blindly retried.** `Retry::Safe` failures are retried with exponential
//!   backoff and jitter, never sooner than `retry_after` (which also pauses the whole channel).
//!   A `RateLimited` answer (429) with a `retry_after` uses up no send attempt, so a storm of
//!   any length ends with everything sent; one without a `retry_after` counts like any safe
//!   failure (a provider that keeps refusing without saying when ends in a dead letter).
//!   A send that may have reached the provider is settled before it is sent again (see
//!   [Exactly-once sends](#exactly-once-sends)).
//! - **Exactly once, where the provider can tell.** With an adapter that reconciles (Slack,
//!   Twilio, Messenger with echoes), a reply interrupted by a crash or whose answer was lost
//!   reaches the provider once: the crash test against the emulators checks it.
//! - **Slow clients cannot starve the server.** A webhook holds one of `server.max_in_flight`
//!   permits (more are answered 503 with `Retry-After: 1` at once) only until
//!   `server.request_timeout` after it got it: a body still trickling in then is answered 408
//!   (`tests/engine/server.rs`). On shutdown the HTTP drain waits at most
//!   `server.shutdown_grace` for requests in flight, then handlers get their own grace.
//! - **Nothing is dropped silently.** Every give-up is a dead letter with its error
//!   ([`Switchboard::dead_letters`](crate::Switchboard::dead_letters)) and a metric. A send
//!   given up on is also told to the plugins
//!   ([`Plugin::on_dead_letter`](crate::plugin::Plugin::on_dead_letter)) once its dead letter
//!   is committed: at most once (a crash in between skips it; the dead letter stays).
//!
//! ## Exactly-once sends
//!
//! The hard case: the provider accepted a message, and the process died (or the answer was
//! lost) before the outbox recorded it. Resending doubles it; not resending loses it when the
//! provider did not get it. The engine asks before deciding.
//!
//! - **When a row is uncertain.** Before each send the sender records, durably, that an
//!   attempt begins (`first_attempt_at` once, `last_attempt_at` every time). A row claimed
//!   again after a crash while an attempt was under way, or released after a `Retry::Ambiguous`
//!   failure or a failure after some of its parts, is *uncertain*
//!   ([`OutboxItem::uncertain`](crate::store::OutboxItem::uncertain)). A crash before the
//!   attempt began (while waiting for the rate limiters) leaves the row certain: it is sent.
//! - **Settling, before anything is sent again**, at start-up for rows left in flight (the
//!   SQLite store releases their leases in `recover`) and at the next claim after an ambiguous
//!   failure (after the retry backoff, so a create still in flight or a late proof can land):
//!   1. **Keyed proofs.** Adapters report a provider webhook that proves a keyed send (a Twilio
//!      status callback carrying the key, a Messenger echo of our own message) as a `Delivery`
//!      event with [`OUTBOX_KEY_ATTRIBUTE`](crate::core::reconcile::OUTBOX_KEY_ATTRIBUTE) and
//!      the part attributes. The worker records each as a [`SendProof`](crate::store::SendProof)
//!      (durable, even when the process died before it recorded the send); once every part is
//!      proven the row becomes available at once, and the sender marks it sent with the proven
//!      ids, without sending and without asking the provider.
//!   2. **`idempotent_sends`**: the row is simply sent again (the provider drops the repeat).
//!   3. **[`Adapter::reconcile`](crate::Adapter::reconcile)**, when the adapter's capabilities
//!      declare `reconcile`, with a [`PendingSend`](crate::core::reconcile::PendingSend) built
//!      from the row and its attempt times: `Delivered` → marked sent with the provider's ids
//!      (and the numbered options re-rendered for the row, so "2" still answers a degraded
//!      button); `NotDelivered` → sent again; `Partial` → the parts found are recorded on the
//!      row, then the policy decides (below); `Unknown` → asked again, without using up send
//!      attempts, until `engine.reconcile_window` (60 s) after the last attempt began, then the
//!      policy decides; an error → asked again with the retry backoff while send attempts
//!      remain, then treated as `Unknown`.
//!   4. **The channel's [`DeliveryPolicy`](crate::config::DeliveryPolicy)** (`[channels.NAME]
//!      delivery`) decides what is still uncertain: resend (`at_least_once`, the default) or
//!      dead-letter (`at_most_once`). The decision table, for every case above, is in
//!      [`DeliveryPolicy`](crate::config::DeliveryPolicy)'s documentation and only there;
//!      [`Switchboard::channel_delivery`](crate::Switchboard::channel_delivery) reports which
//!      case a channel is in ([`UncertainSends`](crate::config::UncertainSends)).
//! - **How exact** depends on the provider: Slack's lookup matches the key in message metadata
//!   (exact); Twilio's matches recipient, sender, body and time (see its README: identical
//!   texts in quick succession are the weak spot) and keyed status callbacks are exact;
//!   Messenger can only prove a send by its echo (never `NotDelivered`), so without an echo in
//!   the window the policy decides.
//! - **Metrics**: `switchboard_reconciliations_total{channel, outcome}` (`proven`,
//!   `delivered`, `not_delivered`, `partial`, `unknown`, `error`) and
//!   `switchboard_send_proofs_total{channel}`.
//!
//! ### Figures
//!
//! `tests/crash_reconcile.rs` runs the engine as a child process against each emulator (40 ms
//! per provider call, the first 3 answers lost), SIGKILLs it at random moments (at least 6
//! times) while 60 webhooks from 6 conversations arrive, and counts the replies the provider
//! got. "Off" wraps the adapter so it declares no `reconcile` and its webhooks carry no keys
//! (the engine before reconciliation), or runs Messenger without echoes. One run
//! (kills / provider messages / duplicates / losses / dead letters; in brackets the range over
//! three consecutive runs of the suite on 2 shared vCPUs, about 10 s each), 60 replies
//! expected. A dead letter under `at_most_once` is a loss only when the provider did not get
//! the message:
//!
//! | provider  | reconciliation | delivery        | kills | sends | duplicates | losses | dead |
//! |-----------|----------------|-----------------|-------|-------|------------|--------|------|
//! | Slack     | on             | at_least_once   | 6     | 60    | **0**      | **0**  | 0    |
//! | Slack     | off            | at_least_once   | 6     | 67    | 7 (7–11)   | 0      | 0    |
//! | Slack     | off            | at_most_once    | 6     | 59    | 0          | 1 (0–4) | 15 (10–15) |
//! | Twilio    | on             | at_least_once   | 6     | 60    | **0**      | **0**  | 0    |
//! | Twilio    | off            | at_least_once   | 6     | 78    | 18 (13–18) | 0      | 0    |
//! | Twilio    | off            | at_most_once    | 6     | 57    | 0          | 3 (1–4) | 21 (11–21) |
//! | Messenger | on (echoes)    | at_least_once   | 6     | 60    | **0**      | **0**  | 0    |
//! | Messenger | off (no echoes)| at_least_once   | 6     | 63    | 3 (3–5)    | 0      | 0    |
//! | Messenger | off (no echoes)| at_most_once    | 6     | 54    | 0          | 6 (6–12) | 9 (9–15) |
//!
//! The reconciling runs are asserted exactly once; the others only at least once
//! (`at_least_once`: no loss) or at most once (`at_most_once`: no duplicate, every loss a dead
//! letter). The figures vary from run to run with where the kills land.
//!
//! ## Sending from outside a handler
//!
//! [`Switchboard::send`](crate::Switchboard::send)`(conversation, message)` writes the message
//! to the outbox and returns once it is committed (with its outbox key); the sender delivers it
//! like a reply: in order per conversation, paced, retried, dead-lettered on permanent failure.
//! Give the message an `idempotency_key` to make the call itself idempotent (the outbox key is
//! `"{channel}/app/{key}"`; the same key, conversation and message again is not queued again,
//! and the same key with another conversation or message is an error).
//!
//! ## Policy windows and opt-outs
//!
//! Some providers refuse a message by policy: Messenger outside 24 hours of the customer's last
//! message (7 days for a human agent's reply tagged `HUMAN_AGENT`; other tags are not bound),
//! WhatsApp outside 24 hours unless it is an approved template (`ContentSid`), and SMS to a
//! number that texted `STOP` (`STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`; `START`,
//! `UNSTOP`, `YES` opt back in; `HELP`, `INFO` only mark the event). The engine refuses those
//! sends itself, **before any request**: the adapter declares the send's window and consent scope
//! ([`Adapter::send_policy`](crate::Adapter::send_policy): data, channel neutral), the store
//! keeps each conversation's last inbound time and opt-outs ([`Store::contact`](crate::store::Store::contact),
//! written in the inbound insert's own transaction, so the ingest path gains no commit), and
//! the sender checks them ([`Adapter::check_send`](crate::Adapter::check_send)) first thing,
//! before the rate limiters. A refusal is an error of kind `PolicyViolation` (the window, when it
//! closed and the last message: `the customer's 24-hour window closed on 2026-12-02 20:15 UTC
//! (last message 2026-12-01 20:15 UTC)`) or `OptedOut` (`the customer texted STOP on …`),
//! retry class `Never`: the row is dead-lettered at once with it, nothing is sent, nothing
//! retried, and `policy_refusals_total{channel, kind}` counts it.
//!
//! Why the engine and not each adapter's `send`: the facts are in the store, which adapters never
//! see, and one check keeps the rule the same for every channel (a third-party adapter gets it by
//! declaring `Capabilities::messaging_window`). Why refuse rather than let the provider answer:
//! the provider refuses only after a request (sometimes billed), with a code the agent cannot read;
//! the engine's error says which window closed and when. What counts as the customer's last
//! message is their own message or button/postback/quick reply, at the event's time (the
//! provider's timestamp where it gives one); receipts, reactions, typing and the business side's
//! own messages do not. A conversation with no inbound message on record (older than the
//! store's tracking, or a store that does not implement `contact`) is not refused: the provider
//! decides, and its refusals map to the same kinds (Messenger 10/2018278, Twilio 63016 →
//! `PolicyViolation`; Twilio 21610 → `OptedOut`). A store that cannot answer (an I/O error)
//! defers the send; it is checked again later.
//!
//! The support bridge marks every agent's reply as a human agent's
//! ([`HumanAgent`](crate::core::policy::HumanAgent)), which Messenger sends with the
//! `HUMAN_AGENT` tag (the Page's app needs Meta's Human Agent permission), and tells the agent in
//! the thread when a reply is refused: `Not sent to … : the customer's 7-day window for a human
//! agent's reply (HUMAN_AGENT) closed on …`, or `… : the customer texted STOP on …`.
//!
//! ## Retention and the dedupe horizon
//!
//! A handled event leaves the inbox at once (it is out of every claim's path); its dedupe key
//! stays. The pruner (started with the workers) deletes, every `engine.prune_interval` (default
//! 1 h), the dedupe keys of handled events received more than `engine.retention` ago (default
//! 7 days), sent outbox rows sent more than `retention` ago (with their provider message ids),
//! keyed proofs, delivery receipts whose send never came, shared raw payloads no kept event
//! refers to, and expired numbered options, in chunks. Pending rows and dead letters are
//! never pruned (their keys neither). Deduplication is by the key, so **`retention` is the
//! dedupe horizon**: a provider redelivering an event first received
//! longer ago than that is treated as new. Keep it far above every provider's retry window
//! (Slack retries within minutes, Meta for up to hours, Twilio within seconds); at least 1
//! minute is enforced.
//!
//! Web chat conversation logs are kept whole unless their channel sets `history_ttl` or
//! `history_max_records`: then a second pruner task (started only then, at the same interval)
//! deletes each conversation's oldest records past them, a chunk of at most 2,000 rows per
//! transaction, and keeps the highest sequence number pruned per conversation, so a visitor
//! resuming from an older cursor is told `status history_truncated` before the records kept.
//!
//! ## Delivery receipts
//!
//! A receipt or keyed proof the store fails to record fails its event, which is retried like a
//! failing handler (a lost proof could let a message be resent). A receipt naming a provider
//! message no outbox row has recorded yet (one that overtakes our own record of the send:
//! Twilio's status callback can beat the sender's write of the SID) is kept, per channel and
//! message id with the most advanced status (`pending_receipts`, schema version 5), and applied
//! when a send (or a partial send) records that id; kept receipts whose send never comes go
//! with the retention. On PostgreSQL a receipt and the send it names may be written by two
//! instances at once: both take a transaction-scoped advisory lock per (channel, message id),
//! the receipt exclusively before it looks for the row, the send shared, so one always sees
//! the other's rows.
//!
//! Delivery events update the outbox rows that became the named provider messages, keeping the
//! most advanced status (`queued < sent < delivered < failed < read`, the core's
//! [`DeliveryStatus::advances`](crate::core::model::DeliveryStatus::advances)). A receipt with a
//! *watermark* (Messenger's `delivery` and `read`: "everything up to this time") updates every
//! sent row of that conversation whose `sent_at` is at or before the watermark; the watermark is
//! the provider's clock and `sent_at` ours, so a skew of a few seconds can leave the very
//! last message one receipt behind.
//!
//! ## Configuration
//!
//! Every key and its default: the [configuration reference](crate#configuration-reference);
//! the types behind them: [`config`](crate::config). Values no engine can run with
//! (a lease under 300 ms, a retention under 1 minute, no workers, zero intervals) are refused by
//! [`Config::validate`](crate::Config::validate), which runs both when a config file is read
//! and in [`build`](crate::SwitchboardBuilder::build) for a `Config` given directly.
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
//! A sender waits for the limiters holding its slot for at most 100 ms; a longer wait (a
//! provider's pause, a busy channel-wide limit) releases the row until it may go, without
//! using up a send attempt, so one paused channel never holds the slots other channels need.
//! The shipped adapters hint:
//!
//! | provider  | channel-wide     | per conversation | why |
//! |-----------|------------------|------------------|-----|
//! | Slack     | none             | 1/s, burst 3     | Slack's ~1 message/s per channel for `chat.postMessage` |
//! | Messenger | 40/s, burst 40   | 1/s, burst 3     | well under the per-Page Send API limit |
//! | Twilio    | none             | 1/s, burst 1     | a long code sends 1 *segment*/s; the hint counts *messages*, so multi-segment texts queue briefly at Twilio |
//!
//! ### Shared by several instances (`[rate_limits]`, feature `redis`)
//!
//! With `[rate_limits] url`, the limits above and the provider's pause live in Redis, so
//! instances behind a load balancer share them (see
//! [`RateLimitsConfig`](crate::config::RateLimitsConfig) for the keys):
//!
//! - **One round trip per check.** A Lua script takes the channel's pause, the conversation's
//!   and the channel's GCRA state, decides on Redis' `TIME` (the instances' clocks do not
//!   matter), and writes the new states. The GCRA is governor's (interval `T = 1/rate`,
//!   tolerance `T·(burst−1)`), with the same rule when only the channel refuses: the
//!   conversation's token is spent. Keys are `{key_prefix}:{channel}:pause`, `…:rate` and
//!   `…:c:{channel}/{conversation}` (the channel in braces: a cluster hash tag), each with a TTL
//!   that ends when its limit has refilled, so idle conversations cost nothing.
//! - **The local view stays the fast path.** The local pause and the waits earlier answers
//!   announced (a GCRA state only moves forward) refuse a check without asking Redis; the
//!   pause a provider asked for is kept locally at once and stored in Redis (it only grows).
//! - **Redis unreachable** (an error, or no answer within `timeout`, 100 ms by default): the
//!   connection is dropped and reopened in the background (backoff 100 ms → 5 s); meanwhile
//!   each instance decides with governor limiters at `1/instances` of each rate and burst
//!   (bursts rounded up, at least 1). One warning per outage, one notice when it is back;
//!   `switchboard_rate_limit_fallbacks_total{channel}` counts the checks decided locally and
//!   `switchboard_rate_limits_shared` is 0 meanwhile. An unreachable Redis at start is not an
//!   error: the engine starts on the local share. A check never waits longer than `timeout`.
//! - Deliberate differences from one process: while Redis is down each instance's
//!   per-conversation share is also `1/instances` (consecutive messages of one conversation
//!   may be sent by different instances), and a pause answered during an outage stays with the
//!   instance that got it.
//!
//! ## Stores
//!
//! [`MemoryStore`](crate::MemoryStore) for tests (the reference of the conformance suite);
//! [`SqliteStore`](crate::SqliteStore) (one engine per file, enforced by an exclusive lock on
//! `{file}.lock`: an engine in a second process on the same file fails at start instead of
//! taking over the first one's leases; WAL, embedded migrations). The
//! [`Store`](crate::Store) trait is small, batched and lease-based so a PostgreSQL store (`FOR
//! UPDATE SKIP LOCKED` claims) can serve several engines without engine changes; its contract
//! (atomicity, leases and fencing, lease-based recovery, complexity) is in
//! [`store`](crate::store), and every store runs the public conformance suite
//! (`switchboard::store::testkit`, feature `testkit`).
//!
//! What one request may cost the store is bounded (issue 15): the events of one request that
//! carry the same raw payload (a Slack `block_actions` with 300 actions) share one copy of it
//! (`inbox_raw`, by SHA-256; claims and dead letters put it back), and byte attachments of
//! outbox messages are kept out of the rows' JSON (`outbox_media`, unencoded BLOB/BYTEA, the
//! row keeping each one's SHA-256; dropped when the row is sent). Attachment downloads are
//! capped per provider while they stream (Twilio 5 MiB, Messenger 25 MiB, Slack
//! `max_media_bytes`, default 25 MiB): a 48 MiB file is refused as `TooLarge` before its body
//! is read, where it used to take the process to ~500 MB and leave a 64 MB outbox row.
//!
//! ## Web chat
//!
//! The website's own channel (issue 13) is split in two, because web chat differs from the
//! other providers in one way: there is no provider. Switchboard *is* the server the visitor's
//! browser talks to, so what Slack keeps for us (the history a client resumes from, uploaded
//! files) must be kept by Switchboard, in its store.
//!
//! - **The provider crate** `switchboard-webchat` (`adapters/webchat`) holds everything that
//!   stands on core alone: the open protocol (`adapters/webchat/PROTOCOL.md`, version 1) and its
//!   serde types, HMAC-signed expiring tokens bound to their channel, verified users
//!   (`user_hash`, constant-time), the configuration, rendering (buttons and quick replies
//!   native) and decoding of visitors' requests, per-visitor and per-IP limits, and the widget.
//!   It depends on core only and is tested without a server.
//! - **The engine module** [`webchat`](crate::webchat) (`src/webchat/`, feature `webchat`)
//!   holds what needs the store: the crate's `ConversationLog` implemented over
//!   [`Store::log_append`](crate::Store::log_append) / `log_read` (memory, SQLite and
//!   PostgreSQL; migration 0007; conformance checks in `store::testkit::webchat`), the live
//!   streams ([`Store::log_wake_ups`](crate::Store::log_wake_ups): PostgreSQL `NOTIFY` at
//!   commit, so a stream on one instance sees another's append at once), the durable token
//!   key ([`Store::keep_secret`](crate::Store::keep_secret), unless `token_secret` is set), and
//!   uploads ([`Store::put_upload`](crate::Store::put_upload)). The routes are the server's
//!   (`src/server/webchat/`).
//!
//! **Transaction discipline.** A visitor's message is a webhook: its events are inserted in the
//! inbox (deduplicated on `{conversation}/{client_id}`) and its echo appended to the log (keyed
//! by the event id) before the 202, so a retry after a lost answer stores nothing twice and
//! still gets its echo. A reply is an outbox row like any other: the sender records the attempt,
//! the adapter's `send` appends the rendered records keyed `{outbox key}:{part}` (a send retried
//! after a crash finds its key and appends nothing), then the row is marked sent. Streams are
//! woken only after the append returned, i.e. after the commit, and they read the log, never the
//! wake-up: a lost wake-up delays a record (streams also re-read every 30 s), it never loses
//! one. `tests/webchat_crash.rs` kills the server with SIGKILL during a burst and checks that
//! the log and a stream followed across the kills hold each message and reply exactly once.
//!
//! ## Throughput: costs that do not grow with the backlog
//!
//! - **Claims read a ready queue of heads.** Each queue has one head per conversation with
//!   pending rows, indexed by when it is ready: a claim is an index range scan `LIMIT n` (heads
//!   whose retry or lease time came first, by time, then heads ready at once, by sequence), so
//!   its cost depends on `n`, not on the backlog behind the heads nor on the handled rows kept
//!   for the retention. Finishing a head moves it to its conversation's next row through a
//!   (conversation, sequence) index. `src/store/sqlite/plans.rs` runs `EXPLAIN QUERY PLAN` on
//!   every hot statement and fails on a scan of a queue table; the memory store has the same
//!   bounds (ordered sets, no walk over rows).
//! - **Group commit for every write.** All writes of the SQLite store (inserts, claims,
//!   completions with their outbox rows and state, attempts, sends marked sent, releases,
//!   renewals, receipts) go to one writer task, which commits everything waiting as one
//!   transaction, merged by kind into set-based statements (one JSON array per statement):
//!   one fsync carries every event of the batch. Callers get their answer after the commit:
//!   a webhook's 200 still waits for its insert, a send still waits for its attempt record.
//! - **One claim loop** (`src/claim_loop.rs`) for workers and the sender: it
//!   claims as many heads as it has free slots (after reaping every finished task), runs each
//!   in a task, renews all their leases in one call every `lease / 3`, and sleeps until woken
//!   (an insert, replies queued, a retry or deferral coming due through an alarm), polling
//!   every `engine.poll_interval` only as a safety net.
//! - **A bounded backlog (backpressure).** A burst must not become a backlog that outlives it:
//!   with `server.max_backlog` (10,000 by default) events acknowledged and not yet handled
//!   plus replies queued and not yet through a first send attempt, a verified webhook waits
//!   before it is stored (one admitted per event handled and per row sent or deferred by a
//!   rate limit, holding its connection but no CPU), and is answered 503 with `Retry-After: 1`
//!   if `server.request_timeout` passes first. On one core the connections' requests and the
//!   claim loops share the runtime: without the bound, 400 connections were acknowledged at
//!   14k/s while 3k/s were replied to, and the backlog took 12 s to drain after a 10 s burst
//!   (`load/README.md`, "Backpressure from the backlog"). The engine counts the backlog
//!   itself (from the store's pending events at start), which is exact only when this process
//!   is the store's one user ([`Store::exclusive`](crate::store::Store::exclusive): the memory
//!   store; SQLite, one engine per file). On a store shared by several instances (PostgreSQL)
//!   no instance can count the shared backlog alone, and the bound is off. The trade-off:
//!   what cannot make progress (a handler that keeps failing, replies behind a conversation
//!   waiting out a provider's pause) stays counted, so a long outage with customers still
//!   writing fills the bound and every channel's webhooks get 503 until it drains; raise
//!   `max_backlog`, or 0 for no bound, where absorbing a long outage matters more (see the
//!   `backlog` module's docs in `src/backlog.rs`).
//! - **The fsync bound.** With `synchronous = "full"` a batch commits once per fsync. A task
//!   frees its slot when only its final write is left (a completion, a send marked sent), so
//!   the claim that takes its place shares that commit: the drain rate is at most about
//!   `engine.workers / commit time` (256 by default; raise it to carry more per fsync).
//!
//! ## Performance
//!
//! `switchboard serve` as a user runs it (the `switchboard-load` crate; method and the
//! before/after table in `load/README.md`): release binaries, the server pinned to one core,
//! signed Messenger webhooks from the other, a no-op server in the same run. Measured on a
//! 2-vCPU machine shared with other builds (load average 9–14).
//!
//! | benchmark | figure | issue 11 target |
//! |---|---|---|
//! | ingest, SQLite full, acks/s, three 8 s rounds | 2,981 → 3,374 → 3,478 (0.13–0.15× the no-op; round 3 / round 1 1.17) | ≥ 0.3×; ≥ 0.8 |
//! | ingest, memory store | 8.0–8.7k/s (0.35–0.38× the no-op) | ≥ 0.4× |
//! | drain 1,000,000 queued events over 10,000 conversations, no handler | 6,619/s (200,000: 6,901/s) | ≥ 20,000/s |
//! | drain 100,000 beside 10,000 / 1,000,000 handled retained | 8,435/s and 7,779/s (7.8% apart) | < 20% apart |
//! | end to end, closed loop 60 s, replies at the provider | 1,798/s | ≥ 10,000/s |
//! | end to end, open loop 900/s, ack → provider call | p50 32.6 ms, p99 61.8 ms | p99 < 50 ms at 5,000/s |
//! | backlog after a 10 s full-speed load | last reply 0.01 s after the load | ≤ 3 s |
//!
//! ```sh
//! cargo build --release -p switchboard-cli -p switchboard-load
//! B=${CARGO_TARGET_DIR:-target}/release
//! $B/switchboard-load bench ingest --switchboard $B/switchboard --store both
//! $B/switchboard-load bench drain --switchboard $B/switchboard --events 1000000 --conversations 10000
//! $B/switchboard-load bench e2e --switchboard-app $B/switchboard-echo-app --duration 60s
//! $B/switchboard-load bench e2e --switchboard-app $B/switchboard-echo-app --rate 900 --duration 20s
//! $B/switchboard-load bench e2e --switchboard-app $B/switchboard-echo-app --backlog-check
//! ```
