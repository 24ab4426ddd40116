//! Slack's JSON and form shapes: Events API envelopes, inner events, interactivity payloads and
//! Web API responses. Every field Slack may omit is optional; unknown fields are ignored (the raw
//! payload is kept on each event).

use serde::Deserialize;
use serde_json::Value;

/// The outer body of an Events API request. Decoding reads it as [`Head`] from the parsed body
/// and takes the inner event from that tree ([`inner_event`]), so nothing is copied.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<E = Value> {
    /// `url_verification`, `event_callback`, `app_rate_limited`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) challenge: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) event_time: Option<i64>,
    pub(crate) team_id: Option<String>,
    pub(crate) api_app_id: Option<String>,
    pub(crate) event: Option<E>,
}

/// The envelope without its inner event (skipped, not copied).
pub(crate) type Head = Envelope<serde::de::IgnoredAny>;

/// The inner `event` of a parsed body; `null` counts as absent, as for [`Envelope::event`].
pub(crate) fn inner_event(raw: &Value) -> Option<&Value> {
    raw.get("event").filter(|e| !e.is_null())
}

/// An inner event (`event` of an `event_callback`), or a message nested in `message_changed`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SlackEvent {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) subtype: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) bot_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) ts: Option<String>,
    pub(crate) thread_ts: Option<String>,
    pub(crate) event_ts: Option<String>,
    /// A channel id, or an object with an `id` in a few event types.
    pub(crate) channel: Option<Value>,
    pub(crate) channel_type: Option<String>,
    pub(crate) team: Option<Value>,
    pub(crate) files: Vec<SlackFile>,
    pub(crate) message: Option<Box<SlackEvent>>,
    pub(crate) previous_message: Option<Box<SlackEvent>>,
    pub(crate) deleted_ts: Option<String>,
    pub(crate) reaction: Option<String>,
    pub(crate) item: Option<ReactionItem>,
    pub(crate) client_msg_id: Option<String>,
    pub(crate) app_id: Option<String>,
    pub(crate) bot_profile: Option<Value>,
}

impl SlackEvent {
    /// The channel id, whether Slack sent a string or an object.
    pub(crate) fn channel_id(&self) -> Option<&str> {
        id_of(self.channel.as_ref())
    }

    /// The app that posted this message, if an app did.
    pub(crate) fn posting_app(&self) -> Option<&str> {
        self.app_id.as_deref().or_else(|| {
            self.bot_profile
                .as_ref()
                .and_then(|p| p.get("app_id"))
                .and_then(Value::as_str)
        })
    }
}

/// A string, or an object's `id`.
pub(crate) fn id_of(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

/// What a reaction was added to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ReactionItem {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) channel: Option<String>,
    pub(crate) ts: Option<String>,
}

/// A file shared in a message.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SlackFile {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) mimetype: Option<String>,
    pub(crate) url_private: Option<String>,
    pub(crate) url_private_download: Option<String>,
}

/// The JSON of an interactivity request's `payload` field.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Interaction {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) user: Option<InteractionUser>,
    pub(crate) team: Option<Value>,
    pub(crate) channel: Option<Value>,
    pub(crate) container: Option<Container>,
    pub(crate) message: Option<SlackEvent>,
    pub(crate) response_url: Option<String>,
    pub(crate) trigger_id: Option<String>,
    pub(crate) action_ts: Option<String>,
    pub(crate) callback_id: Option<String>,
    pub(crate) api_app_id: Option<String>,
    pub(crate) actions: Vec<BlockAction>,
    pub(crate) view: Option<Value>,
}

/// Who interacted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InteractionUser {
    pub(crate) id: String,
    pub(crate) username: Option<String>,
    pub(crate) name: Option<String>,
}

/// Where the interactive element was.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Container {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) channel_id: Option<String>,
    pub(crate) message_ts: Option<String>,
    pub(crate) thread_ts: Option<String>,
    /// For elements in a view (App Home, modal).
    pub(crate) view_id: Option<String>,
}

/// One element of `block_actions.actions`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct BlockAction {
    pub(crate) action_id: Option<String>,
    pub(crate) block_id: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) value: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) text: Option<Value>,
    pub(crate) action_ts: Option<String>,
}

/// The flat form fields of a slash command.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SlashCommand {
    pub(crate) command: String,
    pub(crate) text: String,
    pub(crate) team_id: Option<String>,
    pub(crate) channel_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) user_name: Option<String>,
    pub(crate) response_url: Option<String>,
    pub(crate) trigger_id: Option<String>,
    pub(crate) api_app_id: Option<String>,
}

/// A Web API response: `ok`, the error code, and the fields of the methods the adapter calls.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ApiResponse {
    pub(crate) ok: bool,
    pub(crate) error: Option<String>,
    /// `chat.postMessage`/`chat.update`: the message ts.
    pub(crate) ts: Option<String>,
    /// `chat.postEphemeral`.
    pub(crate) message_ts: Option<String>,
    /// A channel id, or (`conversations.open`) an object with an id.
    pub(crate) channel: Option<Value>,
    /// `files.getUploadURLExternal`.
    pub(crate) upload_url: Option<String>,
    pub(crate) file_id: Option<String>,
    /// `auth.test`.
    pub(crate) user_id: Option<String>,
    pub(crate) bot_id: Option<String>,
    /// `conversations.history` / `conversations.replies`: one page of messages.
    pub(crate) messages: Vec<HistoryMessage>,
    /// Whether more pages follow.
    pub(crate) has_more: bool,
    /// `next_cursor` for the next page (and warnings, ignored).
    pub(crate) response_metadata: Option<ResponseMetadata>,
    /// `oauth.v2.access`: the bot token (redacted in `Debug`).
    pub(crate) access_token: Option<switchboard_core::Secret>,
    /// `oauth.v2.access` with token rotation: the refresh token and the access token's life.
    pub(crate) refresh_token: Option<switchboard_core::Secret>,
    pub(crate) expires_in: Option<u64>,
    /// `oauth.v2.access`: the granted scopes, comma separated.
    pub(crate) scope: Option<String>,
    /// `oauth.v2.access`: the bot user (`auth.test` answers `user_id`).
    pub(crate) bot_user_id: Option<String>,
    pub(crate) app_id: Option<String>,
    /// `oauth.v2.access`: `{"id": "T…"}`, or null for an org-wide install.
    pub(crate) team: Option<Value>,
    /// `oauth.v2.access`: `{"id": "E…"}` in an Enterprise Grid, else null.
    pub(crate) enterprise: Option<Value>,
    pub(crate) is_enterprise_install: bool,
}

/// A message as `conversations.history` / `conversations.replies` return it (the fields
/// reconciliation reads).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HistoryMessage {
    pub(crate) ts: Option<String>,
    pub(crate) thread_ts: Option<String>,
    pub(crate) bot_id: Option<String>,
    /// `{"event_type": …, "event_payload": {…}}` (the payload only with `include_all_metadata`).
    pub(crate) metadata: Option<Value>,
}

/// `response_metadata` of a paginated answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ResponseMetadata {
    /// Empty or absent on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// Text of a `plain_text` object, or a plain string.
pub(crate) fn text_of(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("text").and_then(Value::as_str),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_decode_channel_as_string_or_object() {
        let r: ApiResponse =
            serde_json::from_str(r#"{"ok":true,"channel":{"id":"D069C7QFK"}}"#).unwrap();
        assert!(r.ok);
        assert_eq!(id_of(r.channel.as_ref()), Some("D069C7QFK"));
        let r: ApiResponse = serde_json::from_str(r#"{"ok":false,"error":"ratelimited"}"#).unwrap();
        assert_eq!(r.error.as_deref(), Some("ratelimited"));
        assert_eq!(text_of(Some(&serde_json::json!({"text":"Hi"}))), Some("Hi"));
    }

    /// Slack's all-fields samples (java-slack-sdk) deserialize: no field has a type we reject.
    #[test]
    fn union_samples_deserialize() {
        let events = [
            include_str!("../tests/fixtures/schema_union_samples/MessagePayload.json"),
            include_str!("../tests/fixtures/schema_union_samples/AppMentionPayload.json"),
            include_str!("../tests/fixtures/schema_union_samples/MessageBotPayload.json"),
            include_str!("../tests/fixtures/schema_union_samples/MessageChangedPayload.json"),
            include_str!("../tests/fixtures/schema_union_samples/MessageDeletedPayload.json"),
            include_str!("../tests/fixtures/schema_union_samples/ReactionAddedPayload.json"),
        ];
        for text in events {
            let v: Value = serde_json::from_str(text).unwrap();
            let env: Envelope = serde_json::from_value(v["payload"].clone()).unwrap();
            let ev: SlackEvent = serde_json::from_value(env.event.unwrap()).unwrap();
            assert!(!ev.kind.is_empty());
        }
        let v: Value = serde_json::from_str(include_str!(
            "../tests/fixtures/schema_union_samples/BlockActionPayload.json"
        ))
        .unwrap();
        let it: Interaction = serde_json::from_value(v["payload"].clone()).unwrap();
        assert_eq!(it.kind, "block_actions");
        assert!(!it.actions.is_empty());
        for name in [
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
            "chat.delete",
            "reactions.add",
        ] {
            let text = match name {
                "files.getUploadURLExternal" => include_str!(
                    "../tests/fixtures/schema_union_samples/files.getUploadURLExternal.json"
                ),
                "files.completeUploadExternal" => include_str!(
                    "../tests/fixtures/schema_union_samples/files.completeUploadExternal.json"
                ),
                "chat.delete" => {
                    include_str!("../tests/fixtures/schema_union_samples/chat.delete.json")
                }
                _ => include_str!("../tests/fixtures/schema_union_samples/reactions.add.json"),
            };
            let v: Value = serde_json::from_str(text).unwrap();
            let r: Result<ApiResponse, _> = serde_json::from_value(v["payload"].clone());
            assert!(r.is_ok(), "{name}: {r:?}");
        }
    }
}
