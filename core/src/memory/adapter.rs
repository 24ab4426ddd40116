//! `Adapter` for `MemoryAdapter`.

use async_trait::async_trait;

use crate::adapter::{Adapter, AdapterInfo};
use crate::error::{Error, Result, Retry};
use crate::model::{
    ConversationRef, MessageRef, OutboundMessage, OutboxKey, SendReceipt, SentMessage,
};
use crate::reconcile::{PendingSend, Reconciled};
use crate::render::{self, RenderPolicy};
use crate::webhook::{RejectReason, WebhookOutcome, WebhookRequest, WebhookResponse};

use super::{MemoryAdapter, RecordedOp, RecordedSend, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};

#[async_trait]
impl Adapter for MemoryAdapter {
    fn info(&self) -> &AdapterInfo {
        &self.info
    }

    async fn send(&self, to: &ConversationRef, message: &OutboundMessage) -> Result<SendReceipt> {
        message.validate()?;
        let plan = render::render(message, &self.info.capabilities, self.policy)?;
        let mut to = to.clone();
        if let Some(thread) = &message.thread {
            to.thread = Some(thread.clone());
        }
        let count = plan.parts.len().max(1);
        let mut sent = Vec::with_capacity(count);
        for i in 0..count {
            let lost_answer = match self.request() {
                Ok(lost) => lost,
                Err(e) => return Err(e.with_partial(sent)),
            };
            let id = self.new_id()?;
            let last = i + 1 == count;
            let record = RecordedSend {
                id: id.clone(),
                to: to.clone(),
                text: plan
                    .parts
                    .get(i)
                    .map(|p| p.text.clone())
                    .unwrap_or_default(),
                actions: if last {
                    plan.actions.clone()
                } else {
                    Vec::new()
                },
                quick_replies: if last {
                    plan.quick_replies.clone()
                } else {
                    Vec::new()
                },
                attachments: if i == 0 {
                    plan.attachments.clone()
                } else {
                    Vec::new()
                },
                options: if last {
                    plan.options.clone()
                } else {
                    Vec::new()
                },
                idempotency_key: message.idempotency_key.clone(),
            };
            self.state().sent.push(record);
            if let Some(e) = lost_answer {
                return Err(e.with_retry(Retry::Ambiguous).with_partial(sent));
            }
            let mut m = SentMessage::new(id, to.clone());
            m.segments = plan.parts.get(i).and_then(|p| p.sms.map(|s| s.segments));
            sent.push(m);
        }
        Ok(SendReceipt::from_plan(sent, &plan))
    }

    async fn edit(&self, target: &MessageRef, message: &OutboundMessage) -> Result<SentMessage> {
        self.require(self.info.capabilities.edit, "edit")?;
        let plan = render::render(message, &self.info.capabilities, RenderPolicy::Strict)?;
        if plan.parts.len() > 1 {
            return Err(Error::invalid_message(
                "text",
                "too long for one message; an edit cannot be split",
            ));
        }
        self.op_request()?;
        let text = plan
            .parts
            .first()
            .map(|p| p.text.clone())
            .unwrap_or_default();
        self.state()
            .ops
            .push(RecordedOp::Edit(target.clone(), text));
        Ok(SentMessage::new(
            target.id.clone(),
            target.conversation.clone(),
        ))
    }

    async fn delete(&self, target: &MessageRef) -> Result<()> {
        self.require(self.info.capabilities.delete, "delete")?;
        self.op_request()?;
        self.state().ops.push(RecordedOp::Delete(target.clone()));
        Ok(())
    }

    async fn react(&self, target: &MessageRef, reaction: &str, add: bool) -> Result<()> {
        self.require(self.info.capabilities.reactions, "react")?;
        self.op_request()?;
        self.state()
            .ops
            .push(RecordedOp::React(target.clone(), reaction.to_owned(), add));
        Ok(())
    }

    async fn typing(&self, to: &ConversationRef) -> Result<()> {
        self.require(self.info.capabilities.typing, "typing")?;
        self.op_request()?;
        self.state().ops.push(RecordedOp::Typing(to.clone()));
        Ok(())
    }

    async fn verify_credentials(&self) -> Result<()> {
        self.op_request()
    }

    /// Zero: the memory provider is in this process, so a send is over when `send` returns and
    /// nothing is left in flight after a crash.
    fn send_timeout(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    async fn reconcile(&self, key: &OutboxKey, pending: &PendingSend) -> Result<Reconciled> {
        let parts = render::render(&pending.message, &self.info.capabilities, self.policy)?
            .parts
            .len()
            .max(1);
        let found: Vec<SentMessage> = self
            .sent()
            .into_iter()
            .filter(|s| {
                s.idempotency_key.as_deref() == Some(key.as_str())
                    && s.to.conversation == pending.to.conversation
            })
            .map(|s| SentMessage::new(s.id, s.to))
            .collect();
        Ok(match found.len() {
            0 => Reconciled::NotDelivered,
            n if n >= parts => Reconciled::Delivered(found),
            _ => Reconciled::Partial(found),
        })
    }

    fn handle_webhook(&self, request: &WebhookRequest) -> WebhookOutcome {
        if request.method == http::Method::GET {
            return match request.query_param("challenge") {
                Some(c) => WebhookOutcome::handshake(WebhookResponse::text(c)),
                None => WebhookOutcome::reject(RejectReason::Malformed, "GET without challenge"),
            };
        }
        if request.method != http::Method::POST {
            return WebhookOutcome::reject(RejectReason::MethodNotAllowed, "use POST");
        }
        let (Some(ts), Some(sig)) = (
            request.header(TIMESTAMP_HEADER),
            request.header(SIGNATURE_HEADER),
        ) else {
            return WebhookOutcome::reject(
                RejectReason::MissingSignature,
                "missing X-Memory-Timestamp or X-Memory-Signature",
            );
        };
        if let Err(reason) = verify(
            self.secret.expose(),
            ts,
            &request.body,
            sig,
            request.received_at,
        ) {
            return WebhookOutcome::reject(reason, "signature check failed");
        }
        match self.decode(&request.body, request.received_at) {
            Ok(events) => WebhookOutcome::events(events),
            Err(detail) => WebhookOutcome::reject(RejectReason::Malformed, detail),
        }
    }
}
