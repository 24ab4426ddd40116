//! `MemoryAdapter`: an in-process adapter that records what it is asked to send and decodes
//! signed inbound events. The reference implementation of the contract and the test double
//! applications use.
//!
//! Inbound webhooks are JSON (one event object or an array) signed like this:
//! `X-Memory-Timestamp: <unix seconds>` and
//! `X-Memory-Signature: v1=<hex HMAC-SHA256(signing_secret, "<timestamp>.<body>")>`, accepted
//! within 300 s of the receive time. A `GET` with `?challenge=X` is answered with `X`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::adapter::{AdapterInfo, unsupported};
use crate::capabilities::{
    AttachmentCapabilities, Capabilities, LengthUnit, MarkdownDialect, TextLimit,
};
use crate::config::{ChannelTable, Secret};
use crate::error::{Error, Result};
use crate::model::{
    Action, Attachment, ChannelName, ConversationRef, MessageId, MessageRef, QuickReply,
};
use crate::render::{RenderPolicy, TextOption};

mod adapter;
pub mod faults;
mod inbound;
mod signature;

pub use inbound::MemoryInbound;
pub use signature::{SIGNATURE_HEADER, SIGNATURE_WINDOW, TIMESTAMP_HEADER, sign, verify};

/// One provider message the memory adapter "sent".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSend {
    /// The id it was given.
    pub id: MessageId,
    /// Where it went.
    pub to: ConversationRef,
    /// The rendered text of this part.
    pub text: String,
    /// Native buttons (on the last part).
    pub actions: Vec<Action>,
    /// Native quick replies (on the last part).
    pub quick_replies: Vec<QuickReply>,
    /// Native attachments (on the first part).
    pub attachments: Vec<Attachment>,
    /// Numbered text options the renderer produced.
    pub options: Vec<TextOption>,
    /// The message's idempotency key.
    pub idempotency_key: Option<String>,
}

/// Any other operation the memory adapter performed.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedOp {
    /// `edit` with the new text.
    Edit(MessageRef, String),
    /// `delete`.
    Delete(MessageRef),
    /// `react`.
    React(MessageRef, String, bool),
    /// `typing`.
    Typing(ConversationRef),
}

/// What the next request does.
#[derive(Debug)]
enum Staged {
    Pass,
    Fail(Error),
    /// The provider accepts the message but the answer is lost.
    DeliverThenFail(Error),
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<RecordedSend>,
    ops: Vec<RecordedOp>,
    staged: VecDeque<Staged>,
    requests: usize,
}

/// The in-process adapter. Cheap to clone; clones share the recorded state.
#[derive(Clone)]
pub struct MemoryAdapter {
    info: AdapterInfo,
    secret: Secret,
    policy: RenderPolicy,
    state: Arc<Mutex<State>>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for MemoryAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryAdapter")
            .field("channel", &self.info.channel)
            .field("signing_secret", &self.secret)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The capabilities of a memory channel unless configured otherwise: 1,000 characters of Slack
/// mrkdwn, 3 buttons, 5 quick replies, every attachment, every operation.
pub fn default_capabilities() -> Capabilities {
    Capabilities {
        text: TextLimit {
            max: 1000,
            unit: LengthUnit::Chars,
        },
        markdown: MarkdownDialect::SlackMrkdwn,
        max_buttons: 3,
        link_buttons: true,
        max_quick_replies: 5,
        attachments: AttachmentCapabilities::all(10),
        threads: true,
        edit: true,
        delete: true,
        reactions: true,
        typing: true,
        receipts: false,
        messaging_window: None,
        reconcile: true,
        idempotent_sends: false,
    }
}

impl MemoryAdapter {
    /// A memory adapter for `channel` with [`default_capabilities`].
    pub fn new(channel: ChannelName, signing_secret: Secret) -> Self {
        MemoryAdapter {
            info: AdapterInfo::new("memory", channel, default_capabilities()),
            secret: signing_secret,
            policy: RenderPolicy::Fallback,
            state: Arc::new(Mutex::new(State::default())),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Replaces the capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.info.capabilities = caps;
        self
    }

    /// Sets the render policy.
    pub fn with_policy(mut self, policy: RenderPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Builds from a `[channels.NAME]` table with `provider = "memory"`. Keys: `signing_secret`
    /// (required), `text_limit`, `markdown` (`plain`, `slack_mrkdwn`, `whats_app`,
    /// `common_mark`), `max_buttons`, `max_quick_replies`, `render`, `api_base_url` (accepted,
    /// unused: nothing leaves the process).
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the key when a key is missing, malformed or unknown.
    pub fn from_table(mut t: ChannelTable) -> Result<Self> {
        let secret = t.secret("signing_secret")?;
        let mut caps = default_capabilities();
        if let Some(max) = t.optional::<usize>("text_limit")? {
            caps.text.max = max;
        }
        if let Some(d) = t.optional::<MarkdownDialect>("markdown")? {
            caps.markdown = d;
        }
        if let Some(n) = t.optional::<usize>("max_buttons")? {
            caps.max_buttons = n;
        }
        if let Some(n) = t.optional::<usize>("max_quick_replies")? {
            caps.max_quick_replies = n;
        }
        let policy = t.render_policy()?;
        t.api_base_url("http://127.0.0.1")?;
        let channel = t.channel().clone();
        t.finish()?;
        Ok(MemoryAdapter::new(channel, secret)
            .with_capabilities(caps)
            .with_policy(policy))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes the next operation that reaches the "provider" fail with `error`.
    pub fn fail_next(&self, error: Error) {
        self.state().staged.push_back(Staged::Fail(error));
    }

    /// Lets the next staged request succeed (to fail a later one with [`fail_next`](Self::fail_next)).
    pub fn pass_next(&self) {
        self.state().staged.push_back(Staged::Pass);
    }

    /// Makes the next send reach the "provider" (it is recorded) and then fail with `error`, as
    /// when the provider's answer is lost: the case reconciliation exists for.
    pub fn deliver_then_fail_next(&self, error: Error) {
        self.state()
            .staged
            .push_back(Staged::DeliverThenFail(error));
    }

    /// Everything sent so far, one entry per provider message.
    pub fn sent(&self) -> Vec<RecordedSend> {
        self.state().sent.clone()
    }

    /// Edits, deletes, reactions and typing indicators so far.
    pub fn ops(&self) -> Vec<RecordedOp> {
        self.state().ops.clone()
    }

    /// How many provider requests were made (including failed ones).
    pub fn requests(&self) -> usize {
        self.state().requests
    }

    /// Forgets everything recorded.
    pub fn clear(&self) {
        let mut s = self.state();
        s.sent.clear();
        s.ops.clear();
        s.requests = 0;
    }

    /// A request that counts: `Err` for a staged failure; `Ok(Some(e))` when the request goes
    /// through but its answer is to be lost with `e`.
    fn request(&self) -> Result<Option<Error>> {
        let mut s = self.state();
        s.requests += 1;
        match s.staged.pop_front() {
            Some(Staged::Fail(e)) => Err(e.with_provider("memory")),
            Some(Staged::DeliverThenFail(e)) => Ok(Some(e.with_provider("memory"))),
            Some(Staged::Pass) | None => Ok(None),
        }
    }

    /// A non-send request: a lost answer is reported as the failure it carries.
    fn op_request(&self) -> Result<()> {
        match self.request()? {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn new_id(&self) -> Result<MessageId> {
        MessageId::new(format!(
            "mem-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn require(&self, flag: bool, op: &str) -> Result<()> {
        if flag {
            Ok(())
        } else {
            Err(unsupported(&self.info, op))
        }
    }
}

#[cfg(test)]
mod tests;
