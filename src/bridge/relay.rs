//! The bridge's hooks: customer events into threads, agents' thread replies to customers,
//! and replies the engine gave up on back into their threads as notices.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchboard_core::model::{
    Attachment, DeliveryStatus, Extension, InboundAttachment, InboundMessage,
    OutboundMessageBuilder,
};
use switchboard_core::policy::HumanAgent;
use switchboard_core::{
    Adapter, ConversationRef, Error, ErrorKind, EventKind, InboundEvent, OutboundMessage, Result,
};

use super::Shared;
use super::text::{customer_text, extract_buttons, literal, to_commonmark};
use super::wrap::{ToAgents, ToCustomer, thread_key};
use crate::Switchboard;
use crate::plugin::{EventContext, FailedSend, state_key};
use crate::store::{Store, conversation_key};

/// The bridge's name as a plugin: it prefixes its outbox keys and its state keys.
pub(crate) const NAME: &str = "bridge";

/// What the bridge keeps for a customer conversation (its plugin state there).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Link {
    /// The outbox key of the thread's parent message.
    parent: String,
    /// How the customer is named in the thread.
    who: String,
}

/// The customer conversation's link: the bridge's plugin state, or where the bridge kept it
/// before it was a plugin.
async fn read_link(store: &dyn Store, customer: &ConversationRef) -> Result<Option<Link>> {
    match store.get_state(&state_key(NAME, customer)).await? {
        Some(v) => Ok(serde_json::from_value(v).ok()),
        None => legacy_link(store, customer).await,
    }
}

/// Where the bridge kept the link before it was a plugin: the conversation's own state (when it
/// reads as a link; the application's state in that conversation is its own business now).
async fn legacy_link(store: &dyn Store, customer: &ConversationRef) -> Result<Option<Link>> {
    Ok(store
        .get_state(&conversation_key(customer))
        .await?
        .and_then(|v| serde_json::from_value(v).ok()))
}

pub(crate) async fn on_event(shared: Arc<Shared>, ctx: &EventContext) -> Result<()> {
    let channel = &ctx.event().conversation.channel;
    if *channel == shared.config.agents {
        from_agents(&shared, ctx).await
    } else if shared.config.is_customer(channel) {
        from_customer(&shared, ctx).await
    } else {
        Ok(())
    }
}

/// The first line of a customer's thread: which channel the customer is on.
pub(crate) fn thread_header(customer: &ConversationRef) -> String {
    format!("**New conversation** on *{}*", customer.channel)
}

/// How the customer is named in the thread, as CommonMark: the profile name and the id are the
/// customer's own words, shown literally (a name `[Boss](!everyone)` is just that text).
fn who(event: &InboundEvent) -> String {
    match &event.sender.name {
        Some(name) => format!("{} ({})", literal(name), literal(event.sender.id.as_str())),
        None => literal(event.sender.id.as_str()),
    }
}

fn adapter(shared: &Shared, channel: &str) -> Option<Arc<dyn Adapter>> {
    let engine = shared.engine().ok()?;
    engine.channels.get(channel).map(|c| c.adapter.clone())
}

/// The agents' conversation.
fn agents(shared: &Shared) -> ConversationRef {
    ConversationRef::new(
        shared.config.agents.clone(),
        shared.config.agents_conversation.clone(),
    )
}

/// Customer → agents.
async fn from_customer(shared: &Shared, ctx: &EventContext) -> Result<()> {
    let event = ctx.event();
    let customer = ConversationRef::new(
        event.conversation.channel.clone(),
        event.conversation.conversation.clone(),
    );
    let (link, moved) = match ctx.state::<Link>().await? {
        Some(link) => (Some(link), false),
        None => {
            let old = legacy_link(ctx.switchboard().store().as_ref(), &customer).await?;
            let moved = old.is_some();
            (old, moved)
        }
    };
    let customer_adapter = adapter(shared, customer.channel.as_str());
    let (body, attachments): (String, &[InboundAttachment]) = match &event.kind {
        EventKind::Message(m) => {
            if m.from_business || event.sender.is_bot {
                return Ok(());
            }
            let dialect = customer_adapter
                .as_ref()
                .map(|a| a.capabilities_for(&customer.conversation).markdown)
                .unwrap_or(switchboard_core::MarkdownDialect::Plain);
            let text = m
                .text
                .as_deref()
                .map(|t| customer_text(t, dialect))
                .unwrap_or_default();
            (text, &m.attachments)
        }
        EventKind::Action(a) => {
            let label = a.label.as_deref().unwrap_or(&a.payload);
            (
                format!("chose **{}** ({})", literal(label), literal(&a.payload)),
                &[],
            )
        }
        EventKind::Delivery(d) if d.status == DeliveryStatus::Failed => {
            let Some(link) = &link else { return Ok(()) };
            let (kind, detail) = match &d.error {
                Some(err) => (
                    err.kind.as_str().to_owned(),
                    [err.code.as_deref(), err.message.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                None => ("unknown".to_owned(), String::new()),
            };
            ctx.send(agents(shared), notice(link, &customer, &kind, &detail)?)?;
            return Ok(());
        }
        _ => return Ok(()),
    };
    let to = agents(shared);
    let agents_adapter = adapter(shared, shared.config.agents.as_str());
    let (files, links) = relay_attachments(
        customer_adapter.as_deref(),
        agents_adapter.as_deref(),
        &to,
        attachments,
    )
    .await;
    let who = who(event);
    let (text, ext) = match &link {
        None => (
            format!(
                "{} from **{who}**\n\n{body}{links}",
                thread_header(&customer)
            ),
            ToAgents {
                customer: customer.clone(),
                parent: None,
            },
        ),
        Some(link) => (
            format!("**{who}**: {body}{links}"),
            ToAgents {
                customer: customer.clone(),
                parent: Some(link.parent.clone()),
            },
        ),
    };
    let mut builder = OutboundMessage::builder().text(text).extension(&ext);
    for f in files {
        builder = builder.attachment(f);
    }
    let key = ctx.send(to, builder.build()?)?;
    match link {
        // The message just queued is the thread's parent.
        None => ctx.set_state(&Link { parent: key, who }),
        // A link from before the bridge was a plugin moves to its plugin state.
        Some(link) if moved => ctx.set_state(&link),
        Some(_) => Ok(()),
    }
}

/// A reply to a customer the engine gave up on: a notice in the customer's thread, queued
/// under a key of the failed row's, so it is queued once.
pub(crate) async fn dead_letter(
    shared: &Shared,
    switchboard: &Switchboard,
    failed: &FailedSend,
) -> Result<()> {
    if !failed.message.extensions.contains_key(ToCustomer::KEY)
        || !shared.config.is_customer(&failed.to.channel)
    {
        return Ok(());
    }
    let customer = ConversationRef::new(failed.to.channel.clone(), failed.to.conversation.clone());
    let Some(link) = read_link(switchboard.store().as_ref(), &customer).await? else {
        tracing::warn!(key = %failed.key, "bridge: a reply was not delivered, and its thread is unknown");
        return Ok(());
    };
    let mut message = if failed.before_request {
        refused_notice(&link, &customer, &failed.reason)?
    } else {
        notice(&link, &customer, failed.kind.as_str(), &failed.error)?
    };
    message.idempotency_key = Some(format!("{NAME}/failed/{}", failed.key));
    switchboard.send(agents(shared), message).await?;
    Ok(())
}

/// A message into the customer's thread.
fn into_thread(link: &Link, customer: &ConversationRef, text: String) -> Result<OutboundMessage> {
    OutboundMessage::builder()
        .text(text)
        .extension(&ToAgents {
            customer: customer.clone(),
            parent: Some(link.parent.clone()),
        })
        .build()
}

/// A short notice for the customer's thread: a reply was not delivered (`kind`, `detail`).
fn notice(
    link: &Link,
    customer: &ConversationRef,
    kind: &str,
    detail: &str,
) -> Result<OutboundMessage> {
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", literal(detail))
    };
    let text = format!(
        ":warning: Not delivered to {} on *{}*: `{kind}`{detail}",
        link.who, customer.channel
    );
    into_thread(link, customer, text)
}

/// The notice for a reply the engine refused before any request (a closed messaging window, an
/// opted-out customer): `Not sent to … : the customer's 24-hour window closed on …`.
fn refused_notice(
    link: &Link,
    customer: &ConversationRef,
    reason: &str,
) -> Result<OutboundMessage> {
    let text = format!(
        ":warning: Not sent to {} on *{}*: {}",
        link.who,
        customer.channel,
        literal(reason)
    );
    into_thread(link, customer, text)
}

/// Agents → customer: a person's reply in a bridge thread.
async fn from_agents(shared: &Shared, ctx: &EventContext) -> Result<()> {
    let event = ctx.event();
    if event.conversation.conversation != shared.config.agents_conversation {
        return Ok(());
    }
    let EventKind::Message(m) = &event.kind else {
        return Ok(());
    };
    let Some(thread) = &event.conversation.thread else {
        return Ok(());
    };
    if m.from_business || event.sender.is_bot || m.command.is_some() {
        return Ok(());
    }
    let Some(customer) = ctx
        .switchboard()
        .store()
        .get_state(&thread_key(shared, thread.as_str()))
        .await?
    else {
        tracing::debug!(thread = %thread, "bridge: not a bridge thread; ignored");
        return Ok(());
    };
    let customer: ConversationRef = serde_json::from_value(customer).map_err(|e| {
        Error::new(
            ErrorKind::InvalidMessage,
            format!("bridge: thread {thread}: {e}"),
        )
    })?;
    let agents_adapter = adapter(shared, shared.config.agents.as_str());
    let customer_adapter = adapter(shared, customer.channel.as_str());
    let message = agent_reply(
        m,
        agents_adapter.as_deref(),
        customer_adapter.as_deref(),
        &customer,
        thread.as_str(),
    )
    .await?;
    if let Some(message) = message {
        ctx.send(customer, message)?;
    }
    Ok(())
}

async fn agent_reply(
    m: &InboundMessage,
    agents: Option<&dyn Adapter>,
    customer_adapter: Option<&dyn Adapter>,
    customer: &ConversationRef,
    thread: &str,
) -> crate::Result<Option<OutboundMessage>> {
    let dialect = agents
        .map(|a| a.info().capabilities.markdown)
        .unwrap_or(switchboard_core::MarkdownDialect::Plain);
    let text = to_commonmark(m.text.as_deref().unwrap_or_default(), dialect);
    let (text, buttons) = extract_buttons(&text);
    let (files, links) =
        relay_attachments(agents, customer_adapter, customer, &m.attachments).await;
    let text = format!("{text}{links}");
    if text.trim().is_empty() && files.is_empty() {
        return Ok(None);
    }
    let mut b: OutboundMessageBuilder = OutboundMessage::builder();
    if !text.trim().is_empty() {
        b = b.text(text.trim().to_owned());
    }
    for button in buttons {
        b = b.button(button.label, button.payload);
    }
    for f in files {
        b = b.attachment(f);
    }
    // A web visitor's widget shows the reply as an agent's (other channels ignore it).
    #[cfg(feature = "webchat")]
    {
        b = b.extension(&switchboard_webchat::WebchatAuthor {
            role: switchboard_webchat::Role::Agent,
            name: None,
        });
    }
    // A person wrote it: channels with a longer window for human agents use it (Messenger's
    // HUMAN_AGENT tag, 7 days).
    b.extension(&ToCustomer {
        thread: thread.to_owned(),
    })
    .extension(&HumanAgent {})
    .build()
    .map(Some)
}

/// Attachments from `from`'s channel for `to`: uploaded again where `target` takes bytes of
/// that kind, else listed as links (returned as text to append).
async fn relay_attachments(
    from: Option<&dyn Adapter>,
    target: Option<&dyn Adapter>,
    to: &ConversationRef,
    attachments: &[InboundAttachment],
) -> (Vec<Attachment>, String) {
    let mut files = Vec::new();
    let mut links = Vec::new();
    let caps = target.map(|t| t.capabilities_for(&to.conversation));
    for a in attachments {
        let name = a
            .filename
            .clone()
            .or_else(|| a.title.clone())
            .unwrap_or_else(|| a.kind.as_str().to_owned());
        let takes_bytes = caps.as_ref().is_some_and(|c| {
            c.attachments.by_bytes
                && c.attachments.accepts(a.kind)
                && files.len() < c.attachments.max_per_message
        });
        if takes_bytes && let Some(from) = from {
            match from.fetch_attachment(a).await {
                Ok(fetched) => {
                    let mime = fetched
                        .mime_type
                        .clone()
                        .or_else(|| a.mime_type.clone())
                        .unwrap_or_else(|| "application/octet-stream".to_owned());
                    files.push(Attachment::bytes(fetched.bytes, mime, name.clone()));
                    continue;
                }
                Err(e) if e.kind() == switchboard_core::ErrorKind::UnsafeUrl => {
                    // Issue 15, item 7: the agent learns it was refused; no link to follow.
                    tracing::warn!(error = %e, "bridge: attachment refused");
                    links.push(format!("- {} {name}: refused ({e})", a.kind.as_str()));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bridge: attachment not fetched; relayed as a link")
                }
            }
        }
        // The name and URL come from the sender: literal text, the URL a link only when it is a
        // web address.
        let name = literal(&name);
        match &a.url {
            Some(url)
                if switchboard_core::render::markdown::is_web_url(url)
                    && !url.contains(['<', '>']) =>
            {
                links.push(format!("- {} {name}: <{url}>", a.kind.as_str()))
            }
            Some(url) => links.push(format!("- {} {name}: {}", a.kind.as_str(), literal(url))),
            None => links.push(format!("- {} {name} (no URL)", a.kind.as_str())),
        }
    }
    let links = if links.is_empty() {
        String::new()
    } else {
        format!("\n\nAttachments:\n{}", links.join("\n"))
    };
    (files, links)
}

#[cfg(test)]
mod tests {
    use switchboard_core::model::AttachmentKind;
    use switchboard_core::{
        AdapterInfo, ChannelName, ConversationId, Error, ErrorKind, FetchedAttachment,
        MemoryAdapter, Result, Secret, SendReceipt, WebhookOutcome, WebhookRequest,
    };

    use super::*;

    /// A customer channel whose every download is refused as unsafe.
    #[derive(Debug)]
    struct Refusing(MemoryAdapter);

    #[async_trait::async_trait]
    impl Adapter for Refusing {
        fn info(&self) -> &AdapterInfo {
            self.0.info()
        }
        async fn send(&self, to: &ConversationRef, m: &OutboundMessage) -> Result<SendReceipt> {
            self.0.send(to, m).await
        }
        async fn fetch_attachment(&self, _: &InboundAttachment) -> Result<FetchedAttachment> {
            Err(Error::new(
                ErrorKind::UnsafeUrl,
                "attachment URL refused: host 169.254.169.254 is a link-local address",
            ))
        }
        fn handle_webhook(&self, r: &WebhookRequest) -> WebhookOutcome {
            self.0.handle_webhook(r)
        }
    }

    #[tokio::test]
    async fn a_refused_attachment_is_reported_to_the_agent_not_linked() {
        let memory =
            |name: &str| MemoryAdapter::new(ChannelName::new(name).unwrap(), Secret::new("s"));
        let from = Refusing(memory("sms"));
        let agents = memory("agents");
        let to = ConversationRef::new(
            ChannelName::new("agents").unwrap(),
            ConversationId::new("C1").unwrap(),
        );
        let url = "http://169.254.169.254/latest/meta-data/".to_owned();
        let attachment = InboundAttachment::new(AttachmentKind::Image, Some(url.clone()));
        let (files, text) = relay_attachments(Some(&from), Some(&agents), &to, &[attachment]).await;
        assert!(files.is_empty());
        assert!(
            text.contains("- image image: refused (unsafe_url: attachment URL refused"),
            "{text}"
        );
        assert!(!text.contains(&url), "{text}");
    }
}
