//! Signed requests the emulator makes: status callbacks (queued → sent → delivered, or
//! failed with an error code) and inbound messages (SMS, MMS, WhatsApp).

use std::time::SystemTime;

use switchboard_core::WebhookRequest;

use super::Inner;
use super::state::DeliveredCallback;
use crate::address::is_whatsapp;
use crate::date::format_rfc2822;
use crate::signature;

/// An inbound message a user sends to one of the account's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inbound {
    /// The user's address: `+1…` or `whatsapp:+…`.
    pub from: String,
    /// The account's number it was sent to.
    pub to: String,
    /// The text.
    pub body: String,
    /// Media: `(url, content type)`.
    pub media: Vec<(String, String)>,
    /// WhatsApp: the sender's profile name.
    pub profile_name: Option<String>,
    /// WhatsApp: a tapped button, `(text, payload)`.
    pub button: Option<(String, String)>,
}

impl Inbound {
    /// A text message from `from` to `to`.
    pub fn text(from: &str, to: &str, body: &str) -> Self {
        Inbound {
            from: from.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
            ..Inbound::default()
        }
    }
}

/// The form parameters Twilio posts for `msg`, with message SID `sid`.
pub(crate) fn inbound_params(account_sid: &str, sid: &str, msg: &Inbound) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
    push("ToCountry", "US");
    push("SmsMessageSid", sid);
    push("NumMedia", &msg.media.len().to_string());
    push("SmsSid", sid);
    push("SmsStatus", "received");
    push("Body", &msg.body);
    push("To", &msg.to);
    push("NumSegments", "1");
    push("MessageSid", sid);
    push("AccountSid", account_sid);
    push("From", &msg.from);
    push("ApiVersion", "2010-04-01");
    for (i, (url, mime)) in msg.media.iter().enumerate() {
        push(&format!("MediaContentType{i}"), mime);
        push(&format!("MediaUrl{i}"), url);
    }
    if is_whatsapp(&msg.from) {
        let wa_id = msg.from.trim_start_matches("whatsapp:+");
        push("WaId", wa_id);
        if let Some(name) = &msg.profile_name {
            push("ProfileName", name);
        }
        let kind = if msg.button.is_some() {
            "button"
        } else if msg.media.is_empty() {
            "text"
        } else {
            "image"
        };
        push("MessageType", kind);
        if let Some((text, payload)) = &msg.button {
            push("ButtonText", text);
            push("ButtonPayload", payload);
        }
    }
    p
}

/// A signed form request of `params` to `url`, as a core `WebhookRequest`.
pub(crate) fn signed_request(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
) -> WebhookRequest {
    let body = serde_urlencoded::to_string(params).unwrap_or_default();
    let sig = signature::sign(auth_token, url, params);
    WebhookRequest::post(url, body)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("x-twilio-signature", &sig)
        .with_header(
            "i-twilio-idempotency-token",
            &format!(
                "{:x}",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
        )
}

/// The outcome of posting one signed webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The HTTP status answered (0 when the connection failed).
    pub status: u16,
    /// The body answered (TwiML, for an incoming message).
    pub answer: String,
}

impl Delivery {
    /// Whether the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// POSTs a form signed with `auth_token` to `url`, once.
pub(crate) async fn post_signed(
    inner: &Inner,
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
) -> Delivery {
    let req = signed_request(auth_token, url, params);
    let mut builder = inner.http.post(url).body(req.body.clone());
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    match builder.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let answer = resp.text().await.unwrap_or_default();
            Delivery { status, answer }
        }
        Err(_) => Delivery {
            status: 0,
            answer: String::new(),
        },
    }
}

/// How a created message goes on after its `201`.
#[derive(Debug)]
pub(crate) struct Progression {
    pub(crate) sid: String,
    /// `StatusCallback`, if the request had one.
    pub(crate) callback: Option<String>,
    /// End `failed` with this error code instead of `delivered`.
    pub(crate) fail_code: Option<u32>,
    /// A Messaging Service send (`accepted`): the sender the service picks from its pool, and
    /// the segments it then bills.
    pub(crate) assign: Option<(String, u32)>,
}

/// Advances the message: `queued` (after `accepted` only), `sent`, then `delivered` (or
/// `failed` with its code), posting a signed status callback at each step when the request
/// named a `StatusCallback`. No callback is sent for the initial status.
pub(crate) fn spawn_progression(inner: Inner, mut p: Progression) {
    tokio::spawn(async move {
        let last = match p.fail_code {
            Some(_) => "failed",
            None => "delivered",
        };
        let steps: &[&str] = match p.assign {
            Some(_) => &["queued", "sent", last],
            None => &["sent", last],
        };
        let (sid, fail_code) = (p.sid.as_str(), p.fail_code);
        for &status in steps {
            tokio::time::sleep(inner.options.status_delay).await;
            // Signed with the token of the account that owns the message.
            let mut token = inner.options.auth_token.clone();
            let params = {
                let mut state = inner.state.lock();
                let Some(m) = state.messages.get_mut(sid) else {
                    return;
                };
                if let Some((from, segments)) = p.assign.take() {
                    m.from = Some(from);
                    m.num_segments = Some(segments.to_string());
                }
                m.status = status.to_owned();
                // `date_sent` was set at creation (the emulator does not schedule).
                m.date_updated = Some(format_rfc2822(SystemTime::now()));
                if status == "failed" {
                    m.error_code = fail_code.map(i64::from);
                }
                if let Some(a) = inner.options.account(&m.account_sid) {
                    token = a.auth_token;
                }
                status_params(m, status, fail_code)
            };
            let Some(url) = p.callback.as_deref() else {
                continue;
            };
            let code = post_signed(&inner, &token, url, &params).await.status;
            inner.state.lock().callbacks.push(DeliveredCallback {
                url: url.to_owned(),
                params,
                status: code,
            });
        }
    });
}

fn status_params(
    m: &crate::wire::MessageResource,
    status: &str,
    fail_code: Option<u32>,
) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| p.push((k.to_owned(), v.to_owned()));
    let to = m.to.clone().unwrap_or_default();
    push("SmsSid", &m.sid);
    push("SmsStatus", status);
    push("MessageStatus", status);
    push("To", &to);
    push("MessageSid", &m.sid);
    push("AccountSid", &m.account_sid);
    if let Some(from) = &m.from {
        push("From", from);
    }
    push("ApiVersion", "2010-04-01");
    if let Some(s) = &m.messaging_service_sid {
        push("MessagingServiceSid", s);
    }
    if is_whatsapp(&to) {
        push("ChannelPrefix", "whatsapp");
        push("ChannelToAddress", to.trim_start_matches("whatsapp:"));
    }
    if status == "failed"
        && let Some(code) = fail_code
    {
        push("ErrorCode", &code.to_string());
    }
    p
}
