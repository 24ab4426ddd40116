//! The Graph API's JSON shapes: Send API responses, the error object, and webhook items.
//!
//! Request bodies are built in `render.rs` as `serde_json::Value`s (their shape varies by
//! message kind); everything read from Meta is typed here and parsed leniently: unknown fields
//! are ignored, numbers may arrive as strings (App Dashboard test payloads).

use serde::{Deserialize, Deserializer};

/// `200 {"recipient_id": "...", "message_id": "m_..."}` (`recipient_id` is absent for
/// `user_ref` and `phone_number` recipients; sender actions carry only `recipient_id`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SendResponse {
    #[serde(default)]
    pub(crate) message_id: Option<String>,
}

/// `200 {"attachment_id": "1601472827243653"}` from `/{page_id}/message_attachments`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UploadResponse {
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) attachment_id: String,
}

/// `200 {"id": "…"}` from `GET /me?fields=id`: the node the token belongs to (a Page token's
/// `/me` is the Page).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NodeResponse {
    #[serde(deserialize_with = "string_or_number")]
    pub(crate) id: String,
}

/// `{"error": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorObject,
}

/// The Graph error object.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorObject {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) code: i64,
    #[serde(default)]
    pub(crate) error_subcode: Option<i64>,
    #[serde(default)]
    pub(crate) error_user_msg: Option<String>,
    #[serde(default)]
    pub(crate) fbtrace_id: Option<String>,
    #[serde(default)]
    pub(crate) is_transient: Option<bool>,
}

/// `{"object": "page", "entry": [...]}`.
///
/// Decoding reads it as `Envelope<IgnoredAny>` from the parsed body (checking the shape without
/// copying anything) and then takes the entries out of that tree: deserialising a
/// `serde_json::Value` field from a `Value` rebuilds every node.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<E = serde_json::Value> {
    pub(crate) object: String,
    pub(crate) entry: Vec<E>,
}

/// One `entry[]` element: a Page and its batched items (read like [`Envelope`]).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Entry<E = serde_json::Value> {
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) messaging: Vec<E>,
    #[serde(default)]
    pub(crate) standby: Vec<E>,
    /// App Dashboard test deliveries and other Graph subscriptions: `{field, value}`.
    #[serde(default)]
    pub(crate) changes: Vec<E>,
}

/// The array under `key` of `object`, moved out (empty when absent).
pub(crate) fn take_array(object: &mut serde_json::Value, key: &str) -> Vec<serde_json::Value> {
    match object.get_mut(key).map(serde_json::Value::take) {
        Some(serde_json::Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// `{"field": "messaging_postbacks", "value": {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Change {
    pub(crate) field: String,
    #[serde(default)]
    pub(crate) value: serde_json::Value,
}

/// `sender` / `recipient`: a PSID (`id`) or, for some entry points, a `user_ref`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Party {
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) user_ref: Option<String>,
}

/// One `messaging[]` (or `standby[]`) item.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Item {
    #[serde(default)]
    pub(crate) sender: Option<Party>,
    #[serde(default)]
    pub(crate) recipient: Option<Party>,
    #[serde(default, deserialize_with = "opt_i64_or_string")]
    pub(crate) timestamp: Option<i64>,
    pub(crate) message: Option<MessageIn>,
    pub(crate) postback: Option<PostbackIn>,
    pub(crate) delivery: Option<Watermarked>,
    pub(crate) read: Option<Watermarked>,
    pub(crate) reaction: Option<ReactionIn>,
    pub(crate) message_edit: Option<EditIn>,
}

/// `message`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessageIn {
    pub(crate) mid: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) quick_reply: Option<QuickReplyIn>,
    pub(crate) reply_to: Option<ReplyToIn>,
    #[serde(default)]
    pub(crate) attachments: Vec<AttachmentIn>,
    #[serde(default)]
    pub(crate) is_echo: bool,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub(crate) app_id: Option<String>,
    pub(crate) metadata: Option<String>,
}

/// `message.quick_reply`.
#[derive(Debug, Deserialize)]
pub(crate) struct QuickReplyIn {
    pub(crate) payload: String,
}

/// `message.reply_to`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReplyToIn {
    pub(crate) mid: String,
    #[serde(default)]
    pub(crate) is_self_reply: Option<bool>,
}

/// `message.attachments[]`: `fallback` may have no payload; stickers carry `sticker_id`.
#[derive(Debug, Deserialize)]
pub(crate) struct AttachmentIn {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) payload: Option<AttachmentPayloadIn>,
}

/// `message.attachments[].payload`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AttachmentPayloadIn {
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) title: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub(crate) sticker_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub(crate) attachment_id: Option<String>,
}

/// `postback`.
#[derive(Debug, Deserialize)]
pub(crate) struct PostbackIn {
    pub(crate) mid: Option<String>,
    pub(crate) title: Option<String>,
    #[serde(default)]
    pub(crate) payload: String,
    pub(crate) referral: Option<ReferralIn>,
}

/// `postback.referral`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReferralIn {
    pub(crate) r#ref: Option<String>,
    pub(crate) source: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
}

/// `delivery` and `read`.
#[derive(Debug, Deserialize)]
pub(crate) struct Watermarked {
    #[serde(default)]
    pub(crate) mids: Vec<String>,
    #[serde(deserialize_with = "i64_or_string")]
    pub(crate) watermark: i64,
}

/// `reaction`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReactionIn {
    pub(crate) mid: String,
    pub(crate) action: String,
    pub(crate) reaction: Option<String>,
    pub(crate) emoji: Option<String>,
}

/// `message_edit`.
#[derive(Debug, Deserialize)]
pub(crate) struct EditIn {
    pub(crate) mid: String,
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) num_edit: Option<i64>,
}

/// A JSON number or string. Deserialised with a visitor rather than `#[serde(untagged)]`, which
/// buffers the value and builds an error for every variant that does not match (PSIDs are
/// strings, so every `id` used to fail the number variant first).
enum NumOrStr {
    Num(serde_json::Number),
    Str(String),
}

const NO_MATCH: &str = "data did not match any variant of untagged enum NumOrStr";

impl<'de> Deserialize<'de> for NumOrStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NumOrStr;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a string")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Num(v.into()))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Num(v.into()))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NumOrStr, E> {
                serde_json::Number::from_f64(v)
                    .map(NumOrStr::Num)
                    .ok_or_else(|| E::custom(NO_MATCH))
            }

            // Other types fail with the message the untagged enum gave.
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<NumOrStr, E> {
                Err(E::custom(NO_MATCH))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<NumOrStr, E> {
                Err(E::custom(NO_MATCH))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<NumOrStr, A::Error> {
                Err(serde::de::Error::custom(NO_MATCH))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<NumOrStr, A::Error> {
                Err(serde::de::Error::custom(NO_MATCH))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Str(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<NumOrStr, E> {
                Ok(NumOrStr::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => n.to_string(),
        NumOrStr::Str(s) => s,
    })
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<NumOrStr>::deserialize(d)?.map(|v| match v {
        NumOrStr::Num(n) => n.to_string(),
        NumOrStr::Str(s) => s,
    }))
}

fn to_i64<E: serde::de::Error>(v: NumOrStr) -> Result<i64, E> {
    match v {
        NumOrStr::Num(n) => n
            .as_i64()
            .ok_or_else(|| E::custom(format!("{n} is not an integer"))),
        NumOrStr::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| E::custom(format!("{s:?} is not an integer"))),
    }
}

fn i64_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    to_i64(NumOrStr::deserialize(d)?)
}

fn opt_i64_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<NumOrStr>::deserialize(d)?.map(to_i64).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_may_be_strings() {
        let item: Item = serde_json::from_str(
            r#"{"sender":{"user_ref":"U"},"recipient":{"id":1895382890692545},"timestamp":"1527459824"}"#,
        )
        .unwrap();
        assert_eq!(item.timestamp, Some(1_527_459_824));
        assert_eq!(
            item.recipient.unwrap().id.as_deref(),
            Some("1895382890692545")
        );
        assert_eq!(item.sender.unwrap().user_ref.as_deref(), Some("U"));
        let up: UploadResponse =
            serde_json::from_str(r#"{"attachment_id":1601472827243653}"#).unwrap();
        assert_eq!(up.attachment_id, "1601472827243653");
    }

    #[test]
    fn error_object_parses_the_documented_example() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"error_subcode":1234567,"fbtrace_id":"BLBz/WZt8dN"}}"#,
        )
        .unwrap();
        assert_eq!(body.error.code, 190);
        assert_eq!(body.error.error_subcode, Some(1_234_567));
        assert_eq!(body.error.fbtrace_id.as_deref(), Some("BLBz/WZt8dN"));
        assert_eq!(body.error.kind.as_deref(), Some("OAuthException"));
    }
}
