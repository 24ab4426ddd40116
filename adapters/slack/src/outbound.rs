//! Outbound operations: `chat.postMessage` (or `chat.postEphemeral`), the file upload flow,
//! `chat.update`, `chat.delete`, `reactions.add`/`reactions.remove`, and `conversations.open`
//! for conversations given as a user id (a DM).

use std::sync::PoisonError;
use std::time::SystemTime;

use serde_json::{Map, Value, json};
use switchboard_core::model::{Attachment, AttachmentSource};
use switchboard_core::{
    ConversationRef, Error, ErrorKind, MessageId, MessageRef, OutboundMessage, Result, SendReceipt,
    SentMessage,
};

use crate::PROVIDER;
use crate::adapter::SlackAdapter;
use crate::api::Api;
use crate::error_map;
use crate::extension::{SlackEphemeral, SlackPostOptions};
use crate::reconcile::outbox_metadata;
use crate::render;
use crate::tenancy::Target;
use crate::webhook::ts_time;
use crate::wire::id_of;

/// Whether a conversation id names a user (`U…`, `W…`): a DM opened with `conversations.open`.
pub(crate) fn is_user_id(id: &str) -> bool {
    (id.starts_with('U') || id.starts_with('W'))
        && id.len() > 1
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn sent_at(ts: &str) -> SystemTime {
    ts_time(Some(ts)).unwrap_or_else(SystemTime::now)
}

/// The Slack message `ts` posted to `where_to`, as a [`SentMessage`].
pub(crate) fn sent_message(ts: &str, where_to: &ConversationRef) -> Result<SentMessage> {
    Ok(SentMessage::new(MessageId::new(ts.to_owned())?, where_to.clone()).at(sent_at(ts)))
}

/// The thread a send goes to: the message's thread, else the conversation's, else the message
/// it replies to (Slack replies in a thread).
pub(crate) fn thread_of(to: &ConversationRef, message: &OutboundMessage) -> Option<String> {
    message
        .thread
        .clone()
        .or(to.thread.clone())
        .map(|t| t.into_string())
        .or(message.reply_to.as_ref().map(|m| m.as_str().to_owned()))
}

/// `to` with its thread set to `thread`: where the sent messages are.
pub(crate) fn located(to: &ConversationRef, thread: Option<&str>) -> Result<ConversationRef> {
    let mut where_to = to.clone();
    if let Some(t) = thread {
        where_to.thread = Some(switchboard_core::ThreadId::new(t.to_owned())?);
    }
    Ok(where_to)
}

/// Posts one message; returns its `ts` (`message_ts` for ephemeral messages).
async fn post_one(api: &Api, method: &str, body: Map<String, Value>) -> Result<String> {
    let r = api.call_json(method, &Value::Object(body)).await?;
    r.ts.or(r.message_ts)
        .ok_or_else(|| error_map::bad_response(method, "no ts in the answer"))
}

/// The three-step upload; returns the file id.
async fn upload(api: &Api, a: &Attachment, channel: &str, thread: Option<&str>) -> Result<String> {
    let AttachmentSource::Bytes(bytes) = &a.source else {
        return Err(Error::unsupported("uploading a URL attachment").with_provider(PROVIDER));
    };
    let filename = a
        .filename
        .clone()
        .unwrap_or_else(|| format!("{}.bin", a.kind.as_str()));
    let mut form = vec![
        ("filename", filename.clone()),
        ("length", bytes.len().to_string()),
    ];
    if let Some(alt) = &a.caption {
        form.push(("alt_txt", render::truncate(alt, 1000)));
    }
    let method = "files.getUploadURLExternal";
    let r = api.call_form(method, &form).await?;
    let (Some(upload_url), Some(file_id)) = (r.upload_url, r.file_id) else {
        return Err(error_map::bad_response(method, "no upload_url or file_id"));
    };
    api.upload(&upload_url, bytes.clone()).await?;
    let title = a.caption.clone().unwrap_or(filename);
    let mut body = json!({
        "files": [{"id": file_id, "title": title}],
        "channel_id": channel,
    });
    if let Some(t) = thread {
        body["thread_ts"] = Value::String(t.to_owned());
    }
    api.call_json("files.completeUploadExternal", &body).await?;
    Ok(file_id)
}

impl SlackAdapter {
    /// Where calls about `conversation` go: its workspace's client and the channel id to post
    /// to (the conversation itself, or the DM opened for a user id).
    pub(crate) async fn resolve_channel(&self, conversation: &str) -> Result<Target> {
        let mut target = self.target(conversation).await?;
        if !is_user_id(&target.native) {
            return Ok(target);
        }
        let cached = self
            .dm_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(conversation)
            .cloned();
        if let Some(c) = cached {
            target.native = c;
            return Ok(target);
        }
        let method = "conversations.open";
        let r = target
            .api
            .call_json(method, &json!({"users": target.native}))
            .await?;
        let channel = id_of(r.channel.as_ref())
            .ok_or_else(|| error_map::bad_response(method, "no channel.id"))?
            .to_owned();
        self.dm_channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(conversation.to_owned(), channel.clone());
        target.native = channel;
        Ok(target)
    }

    pub(crate) async fn send_message(
        &self,
        to: &ConversationRef,
        message: &OutboundMessage,
    ) -> Result<SendReceipt> {
        message.validate()?;
        let plan = render::plan(message, &self.info.capabilities, self.config.render)?;
        let ephemeral = message.extensions.get::<SlackEphemeral>().transpose()?;
        let options = message
            .extensions
            .get::<SlackPostOptions>()
            .transpose()?
            .unwrap_or_default();
        if plan.posts.is_empty() && plan.uploads.is_empty() {
            // Only extensions Slack does not show (another provider's, or post options).
            return Err(Error::invalid_message(
                "message",
                "has nothing Slack can show: give it text, an attachment or Slack blocks",
            )
            .with_provider(PROVIDER));
        }
        if ephemeral.is_some() && !plan.uploads.is_empty() {
            return Err(
                Error::unsupported("files in an ephemeral Slack message").with_provider(PROVIDER)
            );
        }
        self.learn_identity().await;
        let target = self.resolve_channel(to.conversation.as_str()).await?;
        let (api, channel) = (&target.api, target.native.clone());
        let thread = thread_of(to, message);
        let where_to = located(to, thread.as_deref())?;

        let mut sent: Vec<SentMessage> = Vec::new();
        let parts = plan.posts.len();
        for (part, post) in plan.posts.iter().enumerate() {
            let mut body = post.clone();
            body.insert("channel".into(), Value::String(channel.clone()));
            if ephemeral.is_none()
                && let Some(key) = &message.idempotency_key
            {
                // Every part carries the outbox key, so `reconcile` can find it later.
                body.insert("metadata".into(), outbox_metadata(key, part, parts));
            }
            if let Some(t) = &thread {
                body.insert("thread_ts".into(), Value::String(t.clone()));
            }
            let result = match &ephemeral {
                Some(e) => {
                    body.insert("user".into(), Value::String(e.user.clone()));
                    post_one(api, "chat.postEphemeral", body).await
                }
                None => {
                    // chat.postEphemeral takes none of these (Slack's method reference).
                    options.apply(&mut body, thread.is_some());
                    post_one(api, "chat.postMessage", body).await
                }
            };
            match result {
                Ok(ts) => sent.push(sent_message(&ts, &where_to)?),
                Err(e) => return Err(e.with_partial(sent)),
            }
        }
        for a in &plan.uploads {
            match upload(api, a, &channel, thread.as_deref()).await {
                Ok(file_id) => {
                    sent.push(SentMessage::new(MessageId::new(file_id)?, where_to.clone()))
                }
                Err(e) => return Err(e.with_partial(sent)),
            }
        }
        Ok(SendReceipt::new(sent, plan.degradations).with_options(plan.options))
    }

    pub(crate) async fn edit_message(
        &self,
        target: &MessageRef,
        message: &OutboundMessage,
    ) -> Result<SentMessage> {
        message.validate()?;
        let plan = render::plan(message, &self.info.capabilities, self.config.render)?;
        if !plan.uploads.is_empty() {
            return Err(
                Error::unsupported("adding files in an edit of a Slack message")
                    .with_provider(PROVIDER),
            );
        }
        let mut posts = plan.posts.into_iter();
        let (Some(mut body), None) = (posts.next(), posts.next()) else {
            return Err(Error::new(
                ErrorKind::InvalidMessage,
                format!(
                    "text: an edit must fit one Slack message ({} characters)",
                    crate::adapter::MAX_TEXT_CHARS
                ),
            )
            .with_provider(PROVIDER));
        };
        let to = self
            .resolve_channel(target.conversation.conversation.as_str())
            .await?;
        body.insert("channel".into(), Value::String(to.native));
        body.insert("ts".into(), Value::String(target.id.as_str().to_owned()));
        // Without `blocks`, chat.update keeps the old ones (and their buttons).
        body.entry("blocks")
            .or_insert_with(|| Value::Array(Vec::new()));
        to.api
            .call_json("chat.update", &Value::Object(body))
            .await?;
        Ok(SentMessage::new(
            target.id.clone(),
            target.conversation.clone(),
        ))
    }

    pub(crate) async fn delete_message(&self, target: &MessageRef) -> Result<()> {
        let to = self
            .resolve_channel(target.conversation.conversation.as_str())
            .await?;
        let body = json!({"channel": to.native, "ts": target.id.as_str()});
        to.api.call_json("chat.delete", &body).await.map(|_| ())
    }

    pub(crate) async fn react_to(
        &self,
        target: &MessageRef,
        reaction: &str,
        add: bool,
    ) -> Result<()> {
        let name = reaction.trim().trim_matches(':');
        if name.is_empty() {
            return Err(
                Error::invalid_message("reaction", "must name an emoji").with_provider(PROVIDER)
            );
        }
        let to = self
            .resolve_channel(target.conversation.conversation.as_str())
            .await?;
        let body = json!({"channel": to.native, "name": name, "timestamp": target.id.as_str()});
        let method = if add {
            "reactions.add"
        } else {
            "reactions.remove"
        };
        match to.api.call_json(method, &body).await {
            Ok(_) => Ok(()),
            // The reaction is already in the state asked for.
            Err(e) if matches!(e.provider_code(), Some("already_reacted" | "no_reaction")) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_open_dms() {
        assert!(is_user_id("U061F7AUR"));
        assert!(is_user_id("W123ABC456"));
        assert!(!is_user_id("C123ABC456"));
        assert!(!is_user_id("D069C7QFK"));
        assert!(!is_user_id("U"));
        assert!(!is_user_id("Uxyz"));
    }
}
